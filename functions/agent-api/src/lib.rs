//! Agent API (first cut of the console API): presence.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /accounts/{accountId}/agents/{agentId}` | – | 200 agent JSON |
//! | `PUT /accounts/{accountId}/agents/{agentId}/presence` | `{"presence": "online" \| "offline"}` | 200 agent JSON, with `assigned`: conversations given to the agent right away |
//!
//! Every call carries `Authorization: Bearer <agent token>`; the token's SHA-256 is compared with the one
//! stored on the agent (constant time). Missing or wrong token → 401 (whether or not the agent exists);
//! malformed body → 400. Setting a presence is idempotent.

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::{Clients, Env};
use kefu_domain::model::{Agent, Presence};
use kefu_domain::ports::{Conversations, Directory};
use kefu_domain::service::assign_waiting;
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
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

    pub async fn from_env() -> Result<State, Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct AgentView {
    pub account_id: String,
    pub agent_id: String,
    pub display_name: String,
    pub presence: Presence,
    pub capacity: u32,
    pub active_chats: u32,
    #[serde(default)]
    pub assigned: Vec<String>,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        AgentView {
            account_id: a.account_id,
            agent_id: a.agent_id,
            display_name: a.display_name,
            presence: a.presence,
            capacity: a.capacity,
            active_chats: a.active_chats,
            assigned: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceBody {
    presence: Presence,
}

fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_string(value).unwrap_or_default()))
        .expect("static response")
}

fn error(status: u16, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

/// The hex SHA-256 of an API token, as stored on the agent.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let params = req.path_parameters();
    let (Some(account_id), Some(agent_id)) = (params.first("accountId"), params.first("agentId"))
    else {
        return Ok(error(404, "not found"));
    };
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Ok(error(401, "missing bearer token"));
    }
    let stored = match state.store.agent_token_hash(account_id, agent_id).await {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "agent lookup failed");
            return Ok(error(503, "temporarily unavailable"));
        }
    };
    let ok = stored.is_some_and(|h| constant_time_eq(h.as_bytes(), token_hash(token).as_bytes()));
    if !ok {
        return Ok(error(401, "invalid token"));
    }

    let is_presence = req.uri().path().ends_with("/presence");
    match (req.method().clone(), is_presence) {
        (Method::GET, false) => match state.store.agent(account_id, agent_id).await {
            Ok(Some(a)) => Ok(json(200, &AgentView::from(a))),
            Ok(None) => Ok(error(404, "no such agent")),
            Err(e) => {
                warn!(error = %e, "agent read failed");
                Ok(error(503, "temporarily unavailable"))
            }
        },
        (Method::PUT, true) => {
            let body: PresenceBody = match serde_json::from_slice(req.body().as_ref()) {
                Ok(b) => b,
                Err(e) => {
                    return Ok(error(
                        400,
                        &format!("expected {{\"presence\": \"online\"|\"offline\"}}: {e}"),
                    ))
                }
            };
            let agent = match state
                .store
                .set_presence(account_id, agent_id, body.presence, now_ms())
                .await
            {
                Ok(Some(a)) => a,
                Ok(None) => return Ok(error(404, "no such agent")),
                Err(e) => {
                    warn!(error = %e, "presence update failed");
                    return Ok(error(503, "temporarily unavailable"));
                }
            };
            info!(account = %account_id, agent = %agent_id, presence = body.presence.as_str(), "presence set");
            let mut assigned = Vec::new();
            if body.presence == Presence::Online {
                // Take waiting chats now rather than at the next assigner sweep; a failure here is not the
                // caller's problem (the sweep catches up).
                match assign_waiting(&state.store, account_id, now_ms()).await {
                    Ok(made) => {
                        assigned = made
                            .into_iter()
                            .filter(|a| a.agent_id == agent_id)
                            .map(|a| a.conversation_id)
                            .collect()
                    }
                    Err(e) => {
                        warn!(error = %e, "assignment after login failed; the sweep will retry")
                    }
                }
            }
            let agent = match state.store.agent(account_id, agent_id).await {
                Ok(Some(a)) => a,
                _ => agent,
            };
            let mut view = AgentView::from(agent);
            view.assigned = assigned;
            Ok(json(200, &view))
        }
        _ => Ok(error(405, "method not allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
