//! A local fake of Meta's Graph API (`graph.facebook.com`) for the Messenger Send API, for development and
//! tests. It answers the way the Send API does and records every call it receives.
//!
//! - `POST /{version}/me/messages?access_token=…`: the token must be a Page access token registered with
//!   `POST /_tokens` (else Graph error 190, as for an invalid or expired token). The body must name
//!   `recipient.id`, a `messaging_type` of `RESPONSE`, `UPDATE` or `MESSAGE_TAG` (then with a `tag` Meta
//!   knows: `HUMAN_AGENT`, `CONFIRMED_EVENT_UPDATE`, `POST_PURCHASE_UPDATE`, `ACCOUNT_UPDATE`) and a
//!   `message` with a `text` of at most 2000 characters or an `attachment` (else Graph error 100). Success:
//!   `{"recipient_id", "message_id"}`. A sender action (`{"recipient", "sender_action": "typing_on"}`) needs
//!   no `messaging_type`. Any version path segment is accepted (`MESSENGER_API_BASE` carries it).
//! - `POST /_tokens` with `{"access_token": "EAA…", "page_id": "1234"}`: registers a page's token. Tokens
//!   are registered rather than guessed so that a wrong or missing token in a channel's secrets shows as the
//!   error Meta would give.
//! - `GET /_sent`: every recorded call as JSON (`[{id, path, page_id, query, body, status, at_ms}]`, `page_id`
//!   being the page the token belongs to); `DELETE /_sent` clears the record.
//! - `POST /_fail` with `{"status": 400, "error": {"code": 613, "message": "…"}, "count": 1,
//!   "recipient": "<PSID>"}`: the next `count` sends (to that recipient only, if given) answer that status and
//!   Graph error body, to exercise retries and refusals.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kefu_aws::edge::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The message tags the Send API accepts with `messaging_type: MESSAGE_TAG`.
pub const TAGS: &[&str] = &[
    "HUMAN_AGENT",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "ACCOUNT_UPDATE",
];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub id: u64,
    pub path: String,
    /// The page the call's access token belongs to (`None`: unknown token).
    pub page_id: Option<String>,
    pub query: HashMap<String, String>,
    pub body: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    error: Value,
    remaining: u32,
    recipient: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// access token → page id
    tokens: HashMap<String, String>,
    sent: Vec<Recorded>,
    failures: Vec<Failure>,
    issued: u64,
}

#[derive(Clone, Default)]
pub struct FakeMeta {
    inner: Arc<Mutex<Inner>>,
}

/// A Graph API error body.
fn graph_error(code: i64, kind: &str, message: &str) -> Value {
    json!({"error": {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": format!("Fake{:08x}", rand::random::<u32>()),
    }})
}

fn invalid_parameter(message: &str) -> (u16, Value) {
    (
        400,
        graph_error(100, "OAuthException", &format!("(#100) {message}")),
    )
}

/// Checks a Send API body as Meta does; `Err((status, error body))` when it would be refused.
pub fn validate(body: &Value) -> Result<(), (u16, Value)> {
    let recipient = body
        .pointer("/recipient/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if recipient.is_empty() {
        return Err(invalid_parameter("The parameter recipient is required"));
    }
    if let Some(action) = body.get("sender_action") {
        return match action.as_str() {
            Some("typing_on" | "typing_off" | "mark_seen") => Ok(()),
            _ => Err(invalid_parameter(
                "Param sender_action must be one of {typing_on, typing_off, mark_seen}",
            )),
        };
    }
    match body.get("messaging_type").and_then(Value::as_str) {
        Some("RESPONSE" | "UPDATE") => {}
        Some("MESSAGE_TAG") => {
            let tag = body.get("tag").and_then(Value::as_str).unwrap_or_default();
            if !TAGS.contains(&tag) {
                return Err(invalid_parameter(
                    "Param tag must be a valid message tag for messaging_type MESSAGE_TAG",
                ));
            }
        }
        _ => {
            return Err(invalid_parameter(
                "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}",
            ))
        }
    }
    let message = body.get("message").and_then(Value::as_object);
    let text = message.and_then(|m| m.get("text")).and_then(Value::as_str);
    let attachment = message.and_then(|m| m.get("attachment"));
    match (text, attachment) {
        (Some(t), None) if t.encode_utf16().count() > 2000 => Err(invalid_parameter(
            "Length of param message[text] must be less than or equal to 2000",
        )),
        (Some(t), None) if !t.is_empty() => Ok(()),
        (None, Some(Value::Object(_))) => Ok(()),
        _ => Err(invalid_parameter(
            "param message must be non-empty with exactly one of text or attachment",
        )),
    }
}

impl FakeMeta {
    /// Registers a page access token.
    pub fn register_token(&self, access_token: &str, page_id: &str) {
        self.inner
            .lock()
            .expect("fake lock")
            .tokens
            .insert(access_token.to_string(), page_id.to_string());
    }

    /// Everything recorded so far.
    pub fn sent(&self) -> Vec<Recorded> {
        self.inner.lock().expect("fake lock").sent.clone()
    }

    /// Makes the next `count` sends (to `recipient` only, if given) answer `status` with `error` as the
    /// Graph error object.
    pub fn fail_next(&self, status: u16, error: Value, count: u32, recipient: Option<String>) {
        self.inner
            .lock()
            .expect("fake lock")
            .failures
            .push(Failure {
                status,
                error,
                remaining: count.max(1),
                recipient,
            });
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{version}/me/messages", post(send))
            .route("/_tokens", post(register))
            .route("/_sent", get(list).delete(clear))
            .route("/_fail", post(fail))
            .with_state(self.clone())
    }

    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        crate::fakes::serve(self.router(), addr).await
    }

    /// The answer to a send, recorded.
    fn answer(
        &self,
        path: &str,
        query: HashMap<String, String>,
        raw: &[u8],
    ) -> (StatusCode, Json<Value>) {
        let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let mut g = self.inner.lock().expect("fake lock");
        let page_id = query
            .get("access_token")
            .and_then(|t| g.tokens.get(t))
            .cloned();
        let recipient = body
            .pointer("/recipient/id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let outcome: Result<Value, (u16, Value)> =
            if page_id.is_none() {
                Err((
                    400,
                    graph_error(
                        190,
                        "OAuthException",
                        "Invalid OAuth access token - Cannot parse access token",
                    ),
                ))
            } else if !body.is_object() {
                Err(invalid_parameter("Invalid JSON body"))
            } else if let Some(i) = g.failures.iter().position(|f| {
                f.recipient.is_none() || f.recipient.as_deref() == recipient.as_deref()
            }) {
                let f = &mut g.failures[i];
                f.remaining -= 1;
                let out = (f.status, json!({ "error": f.error }));
                if f.remaining == 0 {
                    g.failures.remove(i);
                }
                Err(out)
            } else {
                validate(&body).map(|()| {
                    g.issued += 1;
                    json!({
                        "recipient_id": recipient,
                        "message_id": format!("m_fake{:012}", g.issued),
                    })
                })
            };
        let (status, reply) = match outcome {
            Ok(v) => (200, v),
            Err((s, v)) => (s, v),
        };
        let id = g.sent.len() as u64 + 1;
        g.sent.push(Recorded {
            id,
            path: path.to_string(),
            page_id,
            query,
            body,
            status,
            at_ms: now_ms(),
        });
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(reply),
        )
    }
}

async fn send(
    State(f): State<FakeMeta>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    f.answer(uri.path(), q, &body)
}

#[derive(Deserialize)]
struct TokenReq {
    access_token: String,
    page_id: String,
}

async fn register(
    State(f): State<FakeMeta>,
    Json(req): Json<TokenReq>,
) -> (StatusCode, Json<Value>) {
    if req.access_token.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "empty access_token"})),
        );
    }
    f.register_token(&req.access_token, &req.page_id);
    (StatusCode::OK, Json(json!({"registered": true})))
}

async fn list(State(f): State<FakeMeta>) -> Json<Vec<Recorded>> {
    Json(f.sent())
}

async fn clear(State(f): State<FakeMeta>) -> Json<Value> {
    f.inner.lock().expect("fake lock").sent.clear();
    Json(json!({"cleared": true}))
}

#[derive(Deserialize)]
struct FailReq {
    #[serde(default = "bad_request")]
    status: u16,
    error: Value,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    recipient: Option<String>,
}

fn bad_request() -> u16 {
    400
}

fn one() -> u32 {
    1
}

async fn fail(State(f): State<FakeMeta>, Json(req): Json<FailReq>) -> Json<Value> {
    f.fail_next(req.status, req.error, req.count, req.recipient);
    Json(json!({"armed": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_the_send_api() {
        let ok = json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}});
        assert!(validate(&ok).is_ok());
        let tagged = json!({"recipient": {"id": "1"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                            "message": {"attachment": {"type": "image", "payload": {"url": "u"}}}});
        assert!(validate(&tagged).is_ok());
        for bad in [
            json!({"messaging_type": "RESPONSE", "message": {"text": "hi"}}),
            json!({"recipient": {"id": "1"}, "message": {"text": "hi"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "MESSAGE_TAG", "message": {"text": "hi"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "MESSAGE_TAG", "tag": "SHIPPING_UPDATE",
                   "message": {"text": "hi"}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {}}),
            json!({"recipient": {"id": "1"}, "messaging_type": "RESPONSE", "message": {"text": "x".repeat(2001)}}),
        ] {
            let (status, err) = validate(&bad).unwrap_err();
            assert_eq!(
                (status, err["error"]["code"].as_i64()),
                (400, Some(100)),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_tokens_and_injected_failures_answer_graph_errors() {
        let f = FakeMeta::default();
        let body =
            br#"{"recipient":{"id":"P1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}"#;
        let q = |t: &str| HashMap::from([("access_token".to_string(), t.to_string())]);
        let (status, Json(v)) = f.answer("/v21.0/me/messages", q("EAAnope"), body);
        assert_eq!(
            (status.as_u16(), v["error"]["code"].as_i64()),
            (400, Some(190))
        );
        f.register_token("EAAgood", "page1");
        f.fail_next(
            500,
            json!({"code": 2, "is_transient": true}),
            1,
            Some("P2".into()),
        );
        let (status, Json(v)) = f.answer("/v21.0/me/messages", q("EAAgood"), body);
        assert_eq!(status, 200, "the failure is armed for another recipient");
        assert_eq!(v["recipient_id"], "P1");
        let other = body.to_vec();
        let other = String::from_utf8(other).unwrap().replace("P1", "P2");
        let (status, Json(v)) = f.answer("/v21.0/me/messages", q("EAAgood"), other.as_bytes());
        assert_eq!(
            (status.as_u16(), v["error"]["code"].as_i64()),
            (500, Some(2))
        );
        let sent = f.sent();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[1].page_id.as_deref(), Some("page1"));
        assert_eq!(sent[2].status, 500);
    }
}
