//! Web chat visitor API and widget (`/webchat/...`, API Gateway HTTP API, payload 2.0).
//!
//! | route | auth | body / query | answer |
//! |---|---|---|---|
//! | `GET /webchat/widget.js` | – | – | the widget script (`static/widget.js`) |
//! | `POST /webchat/{channelId}/sessions` | site key + `Origin` | `{"site_key", "visitor_id"?, "lang"?, "name"?}` | 201 `{session_token, visitor_id, expires_in, agent}` |
//! | `POST /webchat/{channelId}/messages` | session | `{"client_id", "text"}` | 202 `{id, client_id}` once the message is on the inbound queue |
//! | `GET /webchat/{channelId}/messages` | session | `?after=<cursor>&wait=<0–20 s>` | 200 `{messages, cursor, agent}`: messages after the cursor, waiting up to `wait` s for one |
//! | `GET /webchat/{channelId}/history` | session | – | 200 `{messages, cursor, agent}`: the whole open conversation |
//! | `OPTIONS /webchat/{channelId}/{proxy+}` | `Origin` | – | CORS preflight: 204 for an allowed origin, else 403 |
//!
//! - **Channel keys** are in the channel's SSM parameter ([`ChannelSecrets`]): `site_key` (the widget tag's
//!   `data-site-key`, compared in constant time), `allowed_origins` (browser origins allowed to call; a
//!   request whose `Origin` is not among them gets 403 and no CORS headers) and `session_secret` (the HMAC
//!   key of session tokens). A channel that lacks the key or the secret answers 503.
//! - **Sessions** are stateless tokens signed with the channel's `session_secret`
//!   ([`kefu_domain::channels::webchat`]), valid 24 hours; `Authorization: Bearer <token>`. Missing, bad,
//!   expired or another channel's token → 401 (the widget then opens a new session for the same visitor).
//! - **Visitors** keep their id (`v_` + 32 hex digits) in `localStorage`; a session request without one, or
//!   with one kefu did not make, gets a new id.
//! - **Messages** become [`InboundEvent`]s with `event_id` `web:{visitor}:{client_id}`, so a resent message
//!   is deduplicated by the inbound FIFO queue; texts are 1–2000 characters.
//! - **Long polls** read the visitor's open conversation from the data table every 500 ms until something
//!   new is there (a message, or another agent) or `wait` runs out (at most 20 s: API Gateway ends requests
//!   after 30 s, the function after 25 s). Outbound messages are there because the channel sender records
//!   every message it sends on the conversation ([`kefu_aws::webchat::WebChatSender`]).
//! - **Rate limits** (fixed one-minute windows in the runtime table, [`RateLimiter`]): 5 sessions per client
//!   IP and channel, 20 messages per visitor → 429 with `Retry-After` (seconds).
//! - **Agent identity**: answers carry `agent`: `{"name", "line2"}` of the agent the visitor's conversation
//!   is assigned to, or `null`.
//!
//! Other answers: unknown or disabled channel, or not a web chat channel → 404; malformed JSON, bad
//! `client_id`, bad cursor or `wait` → 400; storage, queue or secrets unavailable → 503.

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::sqs::SqsQueue;
use kefu_aws::ssm::SsmSecrets;
use kefu_aws::webchat::{RateDecision, RateLimiter};
use kefu_aws::{Clients, Env};
use kefu_domain::channels::inbound;
use kefu_domain::channels::webchat::{self as wc, Cursor, SessionClaims};
use kefu_domain::messages::{Content, InboundEvent};
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets, Direction, StoredMessage};
use kefu_domain::ports::{Conversations, Directory, Queue, Secrets, StoreError};
use lambda_http::http::{HeaderValue, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing::{info, warn, Instrument};

/// The widget, served at `GET /webchat/widget.js`.
pub const WIDGET_JS: &str = include_str!("../static/widget.js");

/// Sessions a client IP may open per channel and minute.
pub const SESSIONS_PER_MINUTE: u32 = 5;
/// Messages a visitor may send per minute.
pub const MESSAGES_PER_MINUTE: u32 = 20;
/// The longest long poll, in seconds.
pub const MAX_WAIT_S: u64 = 20;
/// How often a long poll reads the conversation.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

pub struct State {
    pub store: DynamoStore,
    pub secrets: SsmSecrets,
    pub inbound: SqsQueue<InboundEvent>,
    pub limiter: RateLimiter,
}

impl State {
    pub fn new(clients: &Clients, env: &Env) -> State {
        State {
            store: DynamoStore::new(clients.dynamo.clone(), &env.data_table),
            secrets: SsmSecrets::new(clients.ssm.clone()),
            inbound: SqsQueue::new(clients.sqs.clone(), &env.inbound_queue_url),
            limiter: RateLimiter::new(clients.dynamo.clone(), &env.runtime_table),
        }
    }

    pub async fn from_env() -> Result<State, Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

// ---- Wire formats ----

#[derive(Debug, Deserialize)]
struct SessionRequest {
    site_key: String,
    #[serde(default)]
    visitor_id: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MessageRequest {
    client_id: String,
    text: String,
}

/// The agent a visitor talks to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub name: String,
    pub line2: Option<String>,
}

/// A message as the visitor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// The stored message key (unique in the conversation).
    pub id: String,
    /// `inbound`: the visitor wrote it; `outbound`: an agent or an automatic greeting.
    pub direction: String,
    /// `visitor`, `agent` or `auto` (greetings).
    pub from: String,
    pub at_ms: i64,
    /// The content kind (`text`, `image`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of text messages (also link and card titles); `null` otherwise.
    pub text: Option<String>,
    /// A URL for images, files, links and cards, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For the visitor's own messages: the `client_id` the widget sent it with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl MessageView {
    fn of(m: &StoredMessage, visitor_id: &str) -> MessageView {
        let (text, url) = match &m.content {
            Content::Text { text } => (Some(text.clone()), None),
            Content::Image { url, .. } | Content::Video { url, .. } | Content::File { url, .. } => {
                (None, url.clone())
            }
            Content::Link { url, title, .. } => (title.clone(), Some(url.clone())),
            Content::Card { title, url, .. } => (Some(title.clone()), url.clone()),
            _ => (None, None),
        };
        let (direction, from) = match m.direction {
            Direction::Inbound => ("inbound", "visitor"),
            Direction::Outbound if m.agent_id.is_some() => ("outbound", "agent"),
            Direction::Outbound => ("outbound", "auto"),
        };
        MessageView {
            id: m.message_key.clone(),
            direction: direction.into(),
            from: from.into(),
            at_ms: m.at_ms,
            kind: m.content.kind().into(),
            text,
            url,
            client_id: match m.direction {
                Direction::Inbound => {
                    wc::client_id_of(&m.message_key, visitor_id).map(str::to_string)
                }
                Direction::Outbound => None,
            },
        }
    }
}

// ---- Responses ----

fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Body::from(serde_json::to_string(value).unwrap_or_default()))
        .expect("static response")
}

fn error(status: u16, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn too_many(retry_after_s: i64) -> Response<Body> {
    let mut resp = error(429, "too many requests");
    resp.headers_mut().insert(
        "retry-after",
        HeaderValue::from_str(&retry_after_s.to_string()).expect("digits"),
    );
    resp
}

fn widget() -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "application/javascript; charset=utf-8")
        .header("cache-control", "public, max-age=300")
        .header("x-content-type-options", "nosniff")
        .body(Body::from(WIDGET_JS))
        .expect("static response")
}

/// Lets the page at `origin` read the answer.
fn with_cors(mut resp: Response<Body>, origin: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(origin) {
        let h = resp.headers_mut();
        h.insert("access-control-allow-origin", v);
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("retry-after"),
        );
        h.append("vary", HeaderValue::from_static("Origin"));
    }
    resp
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: &str) -> Response<Body> {
    let resp = Response::builder()
        .status(204)
        .header("access-control-allow-methods", "GET, POST, OPTIONS")
        .header(
            "access-control-allow-headers",
            "authorization, content-type",
        )
        .header("access-control-max-age", "600")
        .body(Body::Empty)
        .expect("static response");
    with_cors(resp, origin)
}

/// The client's IP as API Gateway saw it.
fn source_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .filter(|ip| !ip.is_empty())
    .unwrap_or_else(|| "unknown".into())
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The `wait` query parameter: seconds, at most [`MAX_WAIT_S`] (larger values are cut down); `None` when it
/// is not a number.
pub fn parse_wait(raw: Option<&str>) -> Option<Duration> {
    match raw {
        None | Some("") => Some(Duration::ZERO),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .map(|w| Duration::from_secs_f64(w.min(MAX_WAIT_S as f64))),
    }
}

// ---- Routing ----

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    // Routes are matched from the end of the path, so a custom domain's base path changes nothing.
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if req.method() == Method::GET && segments.ends_with(&["webchat", "widget.js"]) {
        return Ok(widget());
    }
    let n = segments.len();
    let channel_id = req
        .path_parameters()
        .first("channelId")
        .map(str::to_string)
        .or_else(|| (n >= 2).then(|| segments[n - 2].to_string()))
        .unwrap_or_default();
    let action = segments.last().copied().unwrap_or_default().to_string();
    let span = tracing::info_span!("webchat", channel = %channel_id, account = tracing::field::Empty, visitor = tracing::field::Empty);
    Ok(route(state, req, &channel_id, &action)
        .instrument(span)
        .await)
}

/// A web chat channel and its keys; the error is the answer to give.
async fn load_channel(
    state: &State,
    channel_id: &str,
) -> Result<(Channel, ChannelSecrets, Vec<u8>), Response<Body>> {
    let channel = match state.store.channel(channel_id).await {
        Ok(Some(c)) if c.enabled && c.kind == ChannelKind::WebChat => c,
        Ok(_) => return Err(error(404, "unknown channel")),
        Err(e) => {
            warn!(error = %e, "channel lookup failed");
            return Err(error(503, "temporarily unavailable"));
        }
    };
    tracing::Span::current().record("account", channel.account_id.as_str());
    let secrets = match state.secrets.channel_secrets(&channel.secret_ref).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "channel keys unavailable");
            return Err(error(503, "temporarily unavailable"));
        }
    };
    let session_secret = match (&secrets.site_key, &secrets.session_secret) {
        (Some(k), Some(s)) if !k.is_empty() && !s.is_empty() => s.as_bytes().to_vec(),
        _ => {
            warn!("web chat channel has no site_key or session_secret");
            return Err(error(503, "channel not configured"));
        }
    };
    Ok((channel, secrets, session_secret))
}

async fn route(state: &State, req: Request, channel_id: &str, action: &str) -> Response<Body> {
    let (channel, secrets, session_secret) = match load_channel(state, channel_id).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let origin = header(&req, "origin").map(str::to_string);
    let origin_ok = origin
        .as_deref()
        .map(|o| wc::origin_allowed(&secrets.allowed_origins, o));
    if req.method() == Method::OPTIONS {
        return match (origin.as_deref(), origin_ok) {
            (Some(o), Some(true)) => preflight(o),
            _ => error(403, "origin not allowed"),
        };
    }
    // Sessions need a browser origin of the site; other calls carry a session token, and a browser that
    // names a foreign origin is refused all the same.
    let resp = match (origin_ok, req.method().clone(), action) {
        (Some(false), _, _) | (None, Method::POST, "sessions") => error(403, "origin not allowed"),
        (_, Method::POST, "sessions") => {
            open_session(state, &req, &channel, &secrets, &session_secret).await
        }
        (_, Method::POST, "messages") => match authenticate(&req, &channel, &session_secret) {
            Ok(claims) => send_message(state, &req, &channel, &claims).await,
            Err(why) => error(401, &why),
        },
        (_, Method::GET, "messages") | (_, Method::GET, "history") => {
            match authenticate(&req, &channel, &session_secret) {
                Ok(claims) => poll(state, &req, &channel, &claims, action == "history").await,
                Err(why) => error(401, &why),
            }
        }
        (_, _, "sessions" | "messages" | "history") => error(405, "method not allowed"),
        _ => error(404, "not found"),
    };
    match (origin.as_deref(), origin_ok) {
        (Some(o), Some(true)) => with_cors(resp, o),
        _ => resp,
    }
}

/// The session of a request; the error is the reason for a 401.
fn authenticate(
    req: &Request,
    channel: &Channel,
    session_secret: &[u8],
) -> Result<SessionClaims, String> {
    let token = header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Err("missing session token".into());
    }
    match wc::verify_session(session_secret, token, now_ms() / 1000) {
        Ok(c) if c.channel_id == channel.channel_id => {
            tracing::Span::current().record("visitor", c.visitor_id.as_str());
            Ok(c)
        }
        Ok(_) => Err("session of another channel".into()),
        Err(e) => Err(e.to_string()),
    }
}

async fn open_session(
    state: &State,
    req: &Request,
    channel: &Channel,
    secrets: &ChannelSecrets,
    session_secret: &[u8],
) -> Response<Body> {
    let body: SessionRequest = match serde_json::from_slice(req.body().as_ref()) {
        Ok(b) => b,
        Err(e) => return error(400, &format!("expected {{\"site_key\": \"…\"}}: {e}")),
    };
    let site_key = secrets.site_key.as_deref().unwrap_or_default();
    if !wc::constant_time_eq(body.site_key.as_bytes(), site_key.as_bytes()) {
        return error(403, "bad site key");
    }
    let now = now_ms();
    let scope = format!("websess#{}#{}", channel.channel_id, source_ip(req));
    match state
        .limiter
        .hit(&scope, SESSIONS_PER_MINUTE, 60, now)
        .await
    {
        Ok(RateDecision::Allowed) => {}
        Ok(RateDecision::Limited { retry_after_s }) => {
            info!("session rate limit reached");
            return too_many(retry_after_s);
        }
        Err(e) => {
            warn!(error = %e, "rate limiter unavailable");
            return error(503, "temporarily unavailable");
        }
    }
    let visitor_id = body
        .visitor_id
        .filter(|v| wc::is_visitor_id(v))
        .unwrap_or_else(wc::new_visitor_id);
    tracing::Span::current().record("visitor", visitor_id.as_str());
    let claims = SessionClaims {
        channel_id: channel.channel_id.clone(),
        visitor_id: visitor_id.clone(),
        lang: wc::parse_lang(body.lang.as_deref()),
        name: wc::clean_name(body.name.as_deref()),
        exp: now / 1000 + wc::SESSION_TTL_S,
    };
    let token = wc::sign_session(session_secret, &claims);
    let agent = match current(state, channel, &visitor_id).await {
        Ok(conv) => {
            let agent_id = conv.and_then(|(_, a)| a);
            agent_view(state, channel, agent_id.as_deref())
                .await
                .unwrap_or_else(|e| {
                    warn!(error = %e, "agent lookup failed; answering without it");
                    None
                })
        }
        Err(e) => {
            warn!(error = %e, "agent lookup failed; answering without it");
            None
        }
    };
    info!("session opened");
    json(
        201,
        &serde_json::json!({
            "session_token": token,
            "visitor_id": visitor_id,
            "expires_in": wc::SESSION_TTL_S,
            "agent": agent,
        }),
    )
}

async fn send_message(
    state: &State,
    req: &Request,
    channel: &Channel,
    claims: &SessionClaims,
) -> Response<Body> {
    let body: MessageRequest = match serde_json::from_slice(req.body().as_ref()) {
        Ok(b) => b,
        Err(e) => {
            return error(
                400,
                &format!("expected {{\"client_id\": \"…\", \"text\": \"…\"}}: {e}"),
            )
        }
    };
    if !wc::is_client_id(&body.client_id) {
        return error(
            400,
            "client_id must be 1-64 characters of A-Z a-z 0-9 - _ .",
        );
    }
    if let Err(e) = wc::check_text(&body.text) {
        return error(400, &e.to_string());
    }
    let now = now_ms();
    let scope = format!("webmsg#{}#{}", channel.channel_id, claims.visitor_id);
    match state
        .limiter
        .hit(&scope, MESSAGES_PER_MINUTE, 60, now)
        .await
    {
        Ok(RateDecision::Allowed) => {}
        Ok(RateDecision::Limited { retry_after_s }) => {
            info!("message rate limit reached");
            return too_many(retry_after_s);
        }
        Err(e) => {
            warn!(error = %e, "rate limiter unavailable");
            return error(503, "temporarily unavailable");
        }
    }
    let event = inbound::from_web_chat(
        channel,
        &claims.visitor_id,
        &body.client_id,
        &body.text,
        claims.lang.clone(),
        now,
    );
    match state.inbound.send(&event).await {
        Ok(()) => {
            info!(kind = event.content.kind(), "message accepted");
            json(
                202,
                &serde_json::json!({ "id": event.event_id, "client_id": body.client_id }),
            )
        }
        Err(e) => {
            warn!(error = %e, "could not queue the message");
            error(503, "temporarily unavailable")
        }
    }
}

/// The visitor's open conversation (its id and the agent it is assigned to), if any.
async fn current(
    state: &State,
    channel: &Channel,
    visitor_id: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    let Some(customer) = state
        .store
        .customer(&channel.channel_id, visitor_id)
        .await?
    else {
        return Ok(None);
    };
    let Some(conv_id) = customer.open_conversation_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .conversation(&conv_id)
        .await?
        .map(|conv| (conv_id, conv.agent_id)))
}

/// How the visitor sees an agent: name and second line.
async fn agent_view(
    state: &State,
    channel: &Channel,
    agent_id: Option<&str>,
) -> Result<Option<AgentView>, StoreError> {
    let Some(agent_id) = agent_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .agent(&channel.account_id, agent_id)
        .await?
        .map(|a| AgentView {
            name: a.display_name,
            line2: a.line2,
        }))
}

async fn poll(
    state: &State,
    req: &Request,
    channel: &Channel,
    claims: &SessionClaims,
    history: bool,
) -> Response<Body> {
    let q = req.query_string_parameters();
    let (cursor, wait) = if history {
        (Cursor::default(), Duration::ZERO)
    } else {
        let Some(cursor) = Cursor::decode(q.first("after").unwrap_or_default()) else {
            return error(400, "bad cursor");
        };
        let Some(wait) = parse_wait(q.first("wait")) else {
            return error(400, "wait must be a number of seconds (at most 20)");
        };
        (cursor, wait)
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let conv = match current(state, channel, &claims.visitor_id).await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "conversation read failed");
                return error(503, "temporarily unavailable");
            }
        };
        let mut next = cursor.clone();
        let mut fresh: Vec<MessageView> = Vec::new();
        let mut agent_changed = false;
        if let Some((conv_id, agent_id)) = &conv {
            let stored = match state
                .store
                .messages_from(conv_id, cursor.read_from_ms(conv_id))
                .await
            {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, "message read failed");
                    return error(503, "temporarily unavailable");
                }
            };
            let (new, mut after) = wc::after_cursor(conv_id, &stored, &cursor);
            fresh = new
                .into_iter()
                // Outbound messages the channel refused never reached the visitor.
                .filter(|m| m.error.is_none())
                .map(|m| MessageView::of(m, &claims.visitor_id))
                .collect();
            agent_changed = after.agent_id != *agent_id;
            after.agent_id = agent_id.clone();
            next = after;
        }
        if !fresh.is_empty() || agent_changed || tokio::time::Instant::now() >= deadline {
            let agent_id = conv.and_then(|(_, a)| a);
            let agent = match agent_view(state, channel, agent_id.as_deref()).await {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "agent read failed");
                    return error(503, "temporarily unavailable");
                }
            };
            return json(
                200,
                &serde_json::json!({
                    "messages": fresh,
                    "cursor": next.encode(),
                    "agent": agent,
                }),
            );
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(left.min(POLL_INTERVAL)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_seconds_capped_at_twenty() {
        assert_eq!(parse_wait(None), Some(Duration::ZERO));
        assert_eq!(parse_wait(Some("")), Some(Duration::ZERO));
        assert_eq!(parse_wait(Some("3")), Some(Duration::from_secs(3)));
        assert_eq!(parse_wait(Some("1.5")), Some(Duration::from_millis(1500)));
        assert_eq!(parse_wait(Some("600")), Some(Duration::from_secs(20)));
        assert_eq!(parse_wait(Some("-1")), None);
        assert_eq!(parse_wait(Some("soon")), None);
        assert_eq!(parse_wait(Some("NaN")), None);
    }

    #[test]
    fn the_widget_is_served_as_cacheable_javascript() {
        let resp = widget();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "application/javascript; charset=utf-8"
        );
        assert!(resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age"));
        assert!(WIDGET_JS.contains("kefu-launcher"));
        // Message text never goes through innerHTML.
        assert!(!WIDGET_JS.contains("innerHTML"));
    }

    #[test]
    fn preflight_allows_the_origin_methods_and_headers() {
        let resp = preflight("https://www.example.com");
        assert_eq!(resp.status(), 204);
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "https://www.example.com");
        assert!(h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization"));
        assert_eq!(h["vary"], "Origin");
        let limited = with_cors(too_many(7), "https://www.example.com");
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "7");
        assert_eq!(
            limited.headers()["access-control-expose-headers"],
            "retry-after"
        );
    }

    #[test]
    fn messages_show_who_wrote_them_and_the_visitors_client_ids() {
        let v = wc::visitor_id_from([3; 16]);
        let inbound = StoredMessage {
            conversation_id: "cv".into(),
            message_key: wc::event_id(&v, "c-9"),
            direction: Direction::Inbound,
            at_ms: 5,
            content: Content::Text { text: "hi".into() },
            agent_id: None,
            error: None,
        };
        let view = MessageView::of(&inbound, &v);
        assert_eq!(
            (
                view.direction.as_str(),
                view.from.as_str(),
                view.client_id.as_deref()
            ),
            ("inbound", "visitor", Some("c-9"))
        );
        assert_eq!(view.text.as_deref(), Some("hi"));
        let greeting = StoredMessage {
            message_key: "greet:conv:cv".into(),
            direction: Direction::Outbound,
            ..inbound.clone()
        };
        assert_eq!(MessageView::of(&greeting, &v).from, "auto");
        let agent = StoredMessage {
            agent_id: Some("amy".into()),
            content: Content::Image {
                url: Some("https://x/1.jpg".into()),
                media_id: None,
            },
            ..greeting
        };
        let view = MessageView::of(&agent, &v);
        assert_eq!((view.from.as_str(), view.kind.as_str()), ("agent", "image"));
        assert_eq!(view.url.as_deref(), Some("https://x/1.jpg"));
        assert_eq!(view.client_id, None);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["type"], "image");
        assert!(json["text"].is_null());
    }
}
