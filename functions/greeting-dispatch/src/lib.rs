//! Greeting dispatch (greeting queue → outbound queue).
//!
//! Decides which automatic greeting applies (new follower, online, offline, busy), picks it in the
//! customer's language with fallback to the account default, fills in `$username` / `$agentname` and queues
//! it for the channel sender, at most once per greeting key. See
//! [`kefu_domain::service::dispatch_greeting`].

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::runtime::RuntimeStore;
use kefu_aws::sqs::{parse_body, process_batch, SqsQueue};
use kefu_aws::{Clients, Env};
use kefu_domain::messages::{GreetingRequest, OutboundMessage};
use kefu_domain::service::{dispatch_greeting, GreetingOutcome};
use tracing::{info, Instrument};

pub struct State {
    pub store: DynamoStore,
    pub runtime: RuntimeStore,
    pub outbound: SqsQueue<OutboundMessage>,
}

impl State {
    pub fn new(clients: &Clients, env: &Env) -> State {
        State {
            store: DynamoStore::new(clients.dynamo.clone(), &env.data_table),
            runtime: RuntimeStore::new(clients.dynamo.clone(), &env.runtime_table),
            outbound: SqsQueue::new(clients.sqs.clone(), &env.outbound_queue_url),
        }
    }

    pub async fn from_env() -> Result<State, lambda_runtime::Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

pub async fn handle(state: &State, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |msg| async move {
        let req: GreetingRequest = parse_body(&msg)?;
        let span = tracing::info_span!("greeting", account = %req.account_id, channel = %req.channel_id, key = %req.key);
        async {
            let out = dispatch_greeting(&state.store, &state.runtime, &state.outbound, &req, now_ms())
                .await
                .map_err(|e| e.to_string())?;
            match out {
                GreetingOutcome::Sent { kind, .. } => info!(greeting = kind.as_str(), "greeting queued"),
                GreetingOutcome::NoneConfigured => info!("no greeting configured"),
                GreetingOutcome::Duplicate => info!("duplicate greeting request ignored"),
            }
            Ok::<(), String>(())
        }
        .instrument(span)
        .await
    })
    .await
}
