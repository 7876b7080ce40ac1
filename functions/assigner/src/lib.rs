//! Assigner (scheduled, every minute): gives waiting conversations to agents who have become free since the
//! conversation arrived (an agent logged in, finished a chat, or an assignment lost a race). Longest waiting
//! first; see [`kefu_domain::service::assign_waiting`].

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::{Clients, Env};
use kefu_domain::service::assign_waiting;
use serde::Serialize;
use tracing::{info, warn};

pub struct State {
    pub store: DynamoStore,
}

impl State {
    pub fn new(clients: &Clients, env: &Env) -> State {
        State {
            store: DynamoStore::new(clients.dynamo.clone(), &env.data_table),
        }
    }

    pub async fn from_env() -> Result<State, lambda_runtime::Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct SweepReport {
    pub accounts: usize,
    pub assigned: usize,
    pub failed_accounts: usize,
}

pub async fn handle(
    state: &State,
    _event: CloudWatchEvent,
) -> Result<SweepReport, lambda_runtime::Error> {
    let accounts = state.store.accounts_with_waiting().await?;
    let mut report = SweepReport {
        accounts: accounts.len(),
        ..Default::default()
    };
    for account in accounts {
        match assign_waiting(&state.store, &account, now_ms()).await {
            Ok(made) => {
                if !made.is_empty() {
                    info!(account = %account, assigned = made.len(), "assigned waiting conversations");
                }
                report.assigned += made.len();
            }
            Err(e) => {
                // One account's trouble must not stop the others.
                warn!(account = %account, error = %e, "assignment sweep failed");
                report.failed_accounts += 1;
            }
        }
    }
    Ok(report)
}
