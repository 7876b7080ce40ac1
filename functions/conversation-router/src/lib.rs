//! Conversation router (inbound FIFO queue → greeting queue).
//!
//! For each normalised inbound event: find or create the customer and their open conversation, store the
//! message once, put a new conversation in the account's waiting queue and assign it to an online agent
//! with free capacity, then ask greeting dispatch for the greeting. See
//! [`kefu_domain::service::route_inbound`]. Before routing, every event but an unfollow moves the customer's
//! `last_inbound_ms` forward to the event's time (never past now): channels with a reply window decide from
//! it when they send ([`DynamoStore::note_inbound`]). Failures are reported per message (partial batch
//! failure); a customer's later messages wait for their earlier one.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::sqs::{parse_body, process_batch, SqsQueue};
use kefu_aws::{Clients, Env};
use kefu_domain::messages::{Content, GreetingRequest, InboundEvent};
use kefu_domain::service::route_inbound;
use tracing::{info, Instrument};

pub struct State {
    pub store: DynamoStore,
    pub greetings: SqsQueue<GreetingRequest>,
}

impl State {
    pub fn new(clients: &Clients, env: &Env) -> State {
        State {
            store: DynamoStore::new(clients.dynamo.clone(), &env.data_table),
            greetings: SqsQueue::new(clients.sqs.clone(), &env.greeting_queue_url),
        }
    }

    pub async fn from_env() -> Result<State, lambda_runtime::Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

pub async fn handle(state: &State, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |msg| async move {
        let ev: InboundEvent = parse_body(&msg)?;
        let span = tracing::info_span!("route", account = %ev.account_id, channel = %ev.channel_id, event = %ev.event_id);
        async {
            let now = now_ms();
            if !matches!(ev.content, Content::Unfollow) {
                state
                    .store
                    .note_inbound(&ev.account_id, &ev.channel_id, &ev.customer, ev.occurred_ms.min(now), now)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let out = route_inbound(&state.store, &state.greetings, &ev, now).await.map_err(|e| e.to_string())?;
            info!(
                kind = ev.content.kind(),
                conversation = out.conversation_id.as_deref().unwrap_or("-"),
                new_message = out.stored,
                opened = out.opened,
                assigned = out.assigned_to.as_deref().unwrap_or("-"),
                "routed"
            );
            Ok::<(), String>(())
        }
        .instrument(span)
        .await
    })
    .await
}
