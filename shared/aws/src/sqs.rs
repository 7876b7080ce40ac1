//! SQS: a typed producer ([`SqsQueue`]) and the consumer side shared by every queue-triggered function
//! ([`process_batch`]: partial batch failures, FIFO group order).

use crate::dynamo::unavailable;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use kefu_domain::messages::dedupe_id;
use kefu_domain::ports::{Queue, QueueMessage, StoreError};
use std::future::Future;
use std::marker::PhantomData;

/// Sends `M` as JSON. On a FIFO queue (URL ending in `.fifo`) the message's group id and a hashed
/// deduplication id are set.
#[derive(Debug)]
pub struct SqsQueue<M> {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
    _m: PhantomData<fn(M)>,
}

impl<M> Clone for SqsQueue<M> {
    fn clone(&self) -> Self {
        SqsQueue {
            client: self.client.clone(),
            url: self.url.clone(),
            fifo: self.fifo,
            _m: PhantomData,
        }
    }
}

impl<M> SqsQueue<M> {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let fifo = url.ends_with(".fifo");
        SqsQueue {
            client,
            url,
            fifo,
            _m: PhantomData,
        }
    }
}

#[async_trait]
impl<M: QueueMessage> Queue<M> for SqsQueue<M> {
    async fn send(&self, msg: &M) -> Result<(), StoreError> {
        let body = serde_json::to_string(msg).map_err(unavailable)?;
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        if self.fifo {
            let group = msg.group_id().unwrap_or_else(|| "default".into());
            // Group ids allow 128 characters: hash longer ones (the order within a hash collision is
            // still a valid order).
            let group = if group.len() > 128 || !group.is_ascii() {
                dedupe_id(&group)
            } else {
                group
            };
            req = req.message_group_id(group);
            if let Some(key) = msg.dedupe_key() {
                req = req.message_deduplication_id(dedupe_id(&key));
            }
        }
        req.send().await.map_err(unavailable)?;
        Ok(())
    }
}

/// Processes an SQS batch and reports partial failures (the event source mapping must have
/// `ReportBatchItemFailures`).
///
/// Messages of one FIFO message group are handled in order, and after the first failure in a group the rest
/// of that group is reported failed without being processed, so the group's order survives the retry.
/// Different groups (and all messages of a standard queue) run concurrently.
pub async fn process_batch<F, Fut, E>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // Group messages, keeping arrival order; standard-queue messages each get a group of their own.
    let mut groups: Vec<(Option<String>, Vec<SqsMessage>)> = Vec::new();
    for msg in event.records {
        let group = msg.attributes.get("MessageGroupId").cloned();
        match groups.iter_mut().find(|(g, _)| g.is_some() && *g == group) {
            Some((_, list)) => list.push(msg),
            None => groups.push((group, vec![msg])),
        }
    }
    let handler = &handler;
    let runs = groups.into_iter().map(|(_, msgs)| async move {
        let mut failed: Vec<String> = Vec::new();
        for msg in msgs {
            let id = msg.message_id.clone().unwrap_or_default();
            if !failed.is_empty() {
                failed.push(id);
                continue;
            }
            if let Err(e) = handler(msg).await {
                tracing::warn!(message_id = %id, error = %e, "message failed; will be retried");
                failed.push(id);
            }
        }
        failed
    });
    let failed: Vec<String> = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    resp
}

/// Parses a queue message body, refusing unknown format versions.
pub fn parse_body<T: serde::de::DeserializeOwned>(msg: &SqsMessage) -> Result<T, String> {
    let body = msg.body.as_deref().ok_or("empty message body")?;
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let v = value.get("v").and_then(|v| v.as_u64()).unwrap_or(1);
    if v != u64::from(kefu_domain::messages::FORMAT_VERSION) {
        return Err(format!("unsupported message format version {v}"));
    }
    serde_json::from_value(value).map_err(|e| format!("bad message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn msg(id: &str, group: Option<&str>) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(id.into());
        if let Some(g) = group {
            m.attributes.insert("MessageGroupId".into(), g.into());
        }
        m
    }

    #[tokio::test]
    async fn fifo_group_stops_at_first_failure_other_groups_go_on() {
        let mut ev = SqsEvent::default();
        ev.records = vec![
            msg("a1", Some("A")),
            msg("b1", Some("B")),
            msg("a2", Some("A")),
            msg("a3", Some("A")),
            msg("b2", Some("B")),
        ];
        let seen = Mutex::new(Vec::new());
        let resp = process_batch(ev, |m| {
            let id = m.message_id.clone().unwrap();
            seen.lock().unwrap().push(id.clone());
            async move {
                if id == "a2" {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["a2", "a3"]);
        let seen = seen.into_inner().unwrap();
        assert!(
            !seen.contains(&"a3".to_string()),
            "a3 must not run after a2 failed"
        );
        assert!(seen.contains(&"b2".to_string()));
    }

    #[tokio::test]
    async fn standard_queue_failures_are_independent() {
        let mut ev = SqsEvent::default();
        ev.records = vec![msg("1", None), msg("2", None), msg("3", None)];
        let resp = process_batch(ev, |m| async move {
            if m.message_id.as_deref() == Some("2") {
                Err("x")
            } else {
                Ok(())
            }
        })
        .await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["2"]);
    }

    #[test]
    fn parse_body_refuses_unknown_versions() {
        let mut m = SqsMessage::default();
        m.body = Some(r#"{"v":2,"x":1}"#.into());
        assert!(parse_body::<serde_json::Value>(&m)
            .unwrap_err()
            .contains("version 2"));
        m.body = Some("nope".into());
        assert!(parse_body::<serde_json::Value>(&m).is_err());
    }
}
