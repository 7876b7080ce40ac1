//! WeCom (企业微信) self-built app callback (`GET|POST /wecom/{channelId}`), deployed in the mainland stack.
//!
//! - GET: WeCom's URL verification. `msg_signature` over (token, timestamp, nonce, echostr) must match; the
//!   answer is the decrypted `echostr`, which WeCom expects within one second, so this path does nothing but
//!   the channel lookup (bounded by [`VERIFY_BUDGET`]) and the decryption. No queue is involved.
//! - POST: a message or event callback. `msg_signature` is checked over the body's `Encrypt`, which is
//!   decrypted with the current or previous EncodingAESKey and the corp id (the channel's `external_id`),
//!   parsed ([`wecom::open_callback`]), normalised ([`inbound::from_wecom_callback`]) and put on the inbound
//!   FIFO queue **before** the answer: an empty 200 (no passive reply) once the event is durable.
//!
//! Answers: unknown or disabled channel, or not a WeCom channel → 404; missing, wrong or stale signature →
//! 401; oversized, malformed, unsafe or undecryptable body, or another corp's payload → 400; storage,
//! secrets or queue unavailable, or the channel lacks its token or EncodingAESKey → 503 (WeCom retries,
//! nothing was written). WeCom retries a callback it got no answer to; the retries are deduplicated by the
//! queue on `MsgId` (events: `FromUserName` + `CreateTime`) and everything after it is idempotent.

use kefu_aws::edge::now_ms;
use kefu_aws::edge::text as reply;
use kefu_aws::edge::WebhookState;
use kefu_domain::channels::wechat::{self, Cipher, WechatError};
use kefu_domain::channels::{inbound, wecom};
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{Directory, Queue, Secrets};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use std::time::Duration;
use tracing::{info, warn, Instrument};

/// How far a request's `timestamp` may be from now before it is refused as stale (seconds).
pub const MAX_SKEW_S: i64 = 300;

/// The most the URL verification may spend looking up the channel and its credentials: WeCom gives the
/// whole answer one second.
pub const VERIFY_BUDGET: Duration = Duration::from_millis(800);

/// The webhook's state: channels, their credentials and the inbound queue (see [`WebhookState`]).
pub type State = WebhookState;

/// Whether a WeCom `timestamp` (seconds) is within [`MAX_SKEW_S`] of `now_ms`.
pub fn fresh(timestamp: &str, now_ms: i64) -> bool {
    kefu_aws::edge::fresh(timestamp, now_ms, MAX_SKEW_S)
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let channel_id = req
        .path_parameters()
        .first("channelId")
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!(
        "wecom_webhook",
        channel = %channel_id,
        account = tracing::field::Empty,
        event = tracing::field::Empty
    );
    Ok(handle_inner(state, req, &channel_id).instrument(span).await)
}

/// Why a request is answered before its signature is even looked at.
enum Refusal {
    NotFound,
    Unavailable(&'static str),
}

impl Refusal {
    fn response(&self) -> Response<Body> {
        match self {
            Refusal::NotFound => reply(404, "unknown channel"),
            Refusal::Unavailable(why) => reply(503, why),
        }
    }
}

/// The enabled WeCom channel and its token and ciphers.
async fn channel_and_keys(
    state: &State,
    channel_id: &str,
) -> Result<(Channel, String, Vec<Cipher>), Refusal> {
    let channel = match state.store.channel(channel_id).await {
        Ok(Some(c)) if c.enabled && c.kind == ChannelKind::Wecom => c,
        Ok(_) => return Err(Refusal::NotFound),
        Err(e) => {
            warn!(error = %e, "channel lookup failed");
            return Err(Refusal::Unavailable("temporarily unavailable"));
        }
    };
    tracing::Span::current().record("account", channel.account_id.as_str());
    let secrets = match state.secrets.channel_secrets(&channel.secret_ref).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "channel credentials unavailable");
            return Err(Refusal::Unavailable("temporarily unavailable"));
        }
    };
    let Some(token) = secrets.token.clone().filter(|t| !t.is_empty()) else {
        warn!("WeCom channel has no token configured");
        return Err(Refusal::Unavailable("channel not configured"));
    };
    let ciphers = match ciphers(&secrets, &channel.external_id) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "WeCom channel has no usable EncodingAESKey");
            return Err(Refusal::Unavailable("channel not configured"));
        }
    };
    Ok((channel, token, ciphers))
}

async fn handle_inner(state: &State, req: Request, channel_id: &str) -> Response<Body> {
    let q = req.query_string_parameters();
    let (timestamp, nonce, msg_signature) = (
        q.first("timestamp").unwrap_or_default(),
        q.first("nonce").unwrap_or_default(),
        q.first("msg_signature").unwrap_or_default(),
    );
    let now = now_ms();

    match *req.method() {
        Method::GET => {
            let looked_up = match tokio::time::timeout(
                VERIFY_BUDGET,
                channel_and_keys(state, channel_id),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => {
                    warn!("URL verification: lookups exceeded their budget");
                    return reply(503, "temporarily unavailable");
                }
            };
            let (_, token, ciphers) = match looked_up {
                Ok(k) => k,
                Err(r) => return r.response(),
            };
            if !fresh(timestamp, now) {
                return reply(401, "missing or stale timestamp");
            }
            let echostr = q.first("echostr").unwrap_or_default();
            match wecom::verify_url(&ciphers, &token, timestamp, nonce, msg_signature, echostr) {
                Ok((index, plain)) => {
                    if index > 0 {
                        info!("URL verified with the previous EncodingAESKey");
                    }
                    info!("URL verified");
                    reply(200, &plain)
                }
                Err(e) => refused(&e),
            }
        }
        Method::POST => {
            let (channel, token, ciphers) = match channel_and_keys(state, channel_id).await {
                Ok(k) => k,
                Err(r) => return r.response(),
            };
            if !fresh(timestamp, now) {
                return reply(401, "missing or stale timestamp");
            }
            let body = req.body().as_ref();
            let callback =
                match wecom::open_callback(&ciphers, &token, timestamp, nonce, msg_signature, body)
                {
                    Ok(c) => c,
                    Err(e) => return refused(&e),
                };
            if callback.key_index > 0 {
                info!("callback decrypted with the previous EncodingAESKey");
            }
            let event = inbound::from_wecom_callback(&callback, &channel, now);
            tracing::Span::current().record("event", event.event_id.as_str());
            match state.inbound.send(&event).await {
                Ok(()) => {
                    info!(
                        kind = event.content.kind(),
                        agent = callback.agent_id.as_deref().unwrap_or("-"),
                        "callback accepted"
                    );
                    // An empty answer: accepted, no passive reply.
                    reply(200, "")
                }
                Err(e) => {
                    warn!(error = %e, "could not queue the callback; WeCom will retry");
                    reply(503, "temporarily unavailable")
                }
            }
        }
        _ => reply(405, "method not allowed"),
    }
}

fn refused(e: &WechatError) -> Response<Body> {
    info!(error = %e, "refused WeCom request");
    reply(e.http_status(), &e.to_string())
}

/// The current EncodingAESKey first, then the previous one (accepted while a key change settles), each with
/// the corp id as the receive id.
fn ciphers(secrets: &ChannelSecrets, corp_id: &str) -> Result<Vec<Cipher>, WechatError> {
    let mut out = Vec::new();
    for key in [
        &secrets.encoding_aes_key,
        &secrets.previous_encoding_aes_key,
    ]
    .into_iter()
    .flatten()
    {
        out.push(wechat::Cipher::new(key, corp_id)?);
    }
    if out.is_empty() {
        return Err(WechatError::Crypto("no EncodingAESKey".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_five_minutes_are_stale() {
        let now = 1_700_000_000_000;
        assert!(fresh("1700000000", now));
        assert!(fresh("1700000300", now));
        assert!(!fresh("1699999699", now));
        assert!(!fresh("", now));
        assert!(!fresh("x", now));
    }

    #[test]
    fn ciphers_need_a_key_and_keep_the_current_one_first() {
        let none = ChannelSecrets::default();
        assert!(ciphers(&none, "ww1").is_err());
        let both = ChannelSecrets {
            encoding_aes_key: Some("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into()),
            previous_encoding_aes_key: Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()),
            ..ChannelSecrets::default()
        };
        let c = ciphers(&both, "ww1").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.app_id() == "ww1"));
        let bad = ChannelSecrets {
            encoding_aes_key: Some("short".into()),
            ..ChannelSecrets::default()
        };
        assert!(ciphers(&bad, "ww1").is_err());
    }
}
