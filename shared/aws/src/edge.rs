//! What every function at the edge shares: the clock, the webhook state (channel lookup, credentials, the
//! inbound queue), plain and JSON answers, timestamp freshness and constant-time comparison.

use crate::dynamo::DynamoStore;
use crate::sqs::SqsQueue;
use crate::ssm::SsmSecrets;
use crate::{Clients, Env};
use aws_lambda_events::encodings::Body;
use kefu_domain::messages::InboundEvent;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a channel webhook needs: channels (data table), their credentials (SSM) and the inbound queue,
/// where every accepted event is made durable before the webhook answers.
pub struct WebhookState {
    pub store: DynamoStore,
    pub secrets: SsmSecrets,
    pub inbound: SqsQueue<InboundEvent>,
}

impl WebhookState {
    pub fn new(clients: &Clients, env: &Env) -> WebhookState {
        WebhookState {
            store: DynamoStore::new(clients.dynamo.clone(), &env.data_table),
            secrets: SsmSecrets::new(clients.ssm.clone()),
            inbound: SqsQueue::new(clients.sqs.clone(), &env.inbound_queue_url),
        }
    }

    /// From the Lambda environment (the standard AWS configuration chain and the template's variables).
    pub async fn from_env() -> Result<WebhookState, crate::config::ConfigError> {
        let env = Env::from_env()?;
        Ok(WebhookState::new(&Clients::from_env().await, &env))
    }
}

/// A response with a body of the given content type.
pub fn response(status: u16, content_type: &str, body: impl Into<String>) -> http::Response<Body> {
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body.into()))
        .expect("a valid status and header")
}

/// A plain-text response (`text/plain; charset=utf-8`).
pub fn text(status: u16, body: &str) -> http::Response<Body> {
    response(status, "text/plain; charset=utf-8", body)
}

/// A JSON response.
pub fn json<T: serde::Serialize>(status: u16, value: &T) -> http::Response<Body> {
    response(
        status,
        "application/json",
        serde_json::to_string(value).unwrap_or_default(),
    )
}

/// Whether a channel's `timestamp` (seconds) is within `max_skew_s` of `now_ms`: older requests are replays.
pub fn fresh(timestamp: &str, now_ms: i64, max_skew_s: i64) -> bool {
    timestamp
        .trim()
        .parse::<i64>()
        .is_ok_and(|t| (now_ms / 1000 - t).abs() <= max_skew_s)
}

/// Compares secrets without revealing where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_the_skew_are_stale() {
        let now = 1_700_000_000_000;
        assert!(fresh("1700000000", now, 300));
        assert!(fresh("1699999700", now, 300));
        assert!(!fresh("1699999699", now, 300));
        assert!(!fresh("1700000301", now, 300));
        assert!(!fresh("", now, 300));
        assert!(!fresh("abc", now, 300));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn responses_carry_status_type_and_body() {
        let r = text(401, "bad signature");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(r.body().as_ref(), b"bad signature");
        let j = json(200, &serde_json::json!({"a": 1}));
        assert_eq!(j.body().as_ref(), br#"{"a":1}"#);
    }
}
