//! DLQ redrive, invoked by hand (`aws lambda invoke --payload '{"dlq": "<DLQ URL>"}'`): moves messages from a
//! dead-letter queue back to its source queue once the cause is fixed. The SQS console's redrive does not
//! exist in AWS China, so both stacks use this.
//!
//! Pairs come from `REDRIVE_PAIRS` (JSON object: DLQ URL → source queue URL, set by the template). FIFO
//! messages keep their message group; they get a new deduplication id (the DLQ message id) so SQS does not
//! drop them as duplicates of their first delivery. A message is deleted from the DLQ only after it was
//! sent to the source queue.

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub struct State {
    pub sqs: aws_sdk_sqs::Client,
    pub pairs: HashMap<String, String>,
}

impl State {
    pub async fn from_env() -> Result<State, lambda_runtime::Error> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let pairs =
            serde_json::from_str(&std::env::var("REDRIVE_PAIRS").unwrap_or_else(|_| "{}".into()))?;
        Ok(State {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            pairs,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct RedriveRequest {
    /// The DLQ to drain; one of the configured pairs.
    pub dlq: String,
    /// At most this many messages (default 1000).
    #[serde(default)]
    pub max: Option<usize>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RedriveReport {
    pub moved: usize,
    pub source: String,
}

pub async fn handle(
    state: &State,
    req: RedriveRequest,
) -> Result<RedriveReport, lambda_runtime::Error> {
    let source = state
        .pairs
        .get(&req.dlq)
        .ok_or_else(|| {
            format!(
                "{} is not a configured DLQ; known: {:?}",
                req.dlq,
                state.pairs.keys().collect::<Vec<_>>()
            )
        })?
        .clone();
    let fifo = source.ends_with(".fifo");
    let max = req.max.unwrap_or(1000);
    let mut moved = 0;
    while moved < max {
        let out = state
            .sqs
            .receive_message()
            .queue_url(&req.dlq)
            .max_number_of_messages(10.min((max - moved) as i32))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let mut send = state
                .sqs
                .send_message()
                .queue_url(&source)
                .message_body(m.body.clone().unwrap_or_default());
            if fifo {
                let group = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "redrive".into());
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(m.message_id.clone().unwrap_or_default());
            }
            send.set_message_attributes(m.message_attributes.clone())
                .send()
                .await?;
            state
                .sqs
                .delete_message()
                .queue_url(&req.dlq)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await?;
            moved += 1;
        }
    }
    tracing::info!(moved, source = %source, "redrive done");
    Ok(RedriveReport { moved, source })
}
