//! WeChat Official Account / Mini Program webhook (`GET|POST /wechat/{channelId}`).
//!
//! - GET: WeChat's URL check. A valid `signature` over (token, timestamp, nonce) → `echostr` as is.
//! - POST: a push, XML (Official Account, Mini Program) or JSON (Mini Program). Plain mode is signed with `signature`; safe mode (`encrypt_type=aes`) with
//!   `msg_signature` over the encrypted body, decrypted with the current or previous EncodingAESKey.
//!   The push is parsed, normalised and put on the inbound FIFO queue **before** the answer; `success` is
//!   answered only once the event is durable.
//!
//! Answers: unknown or disabled channel → 404; missing, wrong or stale signature → 401; oversized,
//! malformed or unsafe XML (DOCTYPE, entities) → 400; storage or queue unavailable → 503 (WeChat retries,
//! nothing was written). Duplicate deliveries are harmless: the queue deduplicates by the push's `MsgId`
//! (events: `FromUserName` + `CreateTime`) and everything after it is idempotent.

use kefu_aws::edge::now_ms;
use kefu_aws::edge::text as reply;
use kefu_aws::edge::WebhookState;
use kefu_domain::channels::{inbound, wechat};
use kefu_domain::model::{ChannelKind, ChannelSecrets};
use kefu_domain::ports::{Directory, Queue, Secrets};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use tracing::{info, warn, Instrument};

/// How far a request's `timestamp` may be from now before it is refused as stale (seconds).
pub const MAX_SKEW_S: i64 = 300;

/// The webhook's state: channels, their credentials and the inbound queue (see [`WebhookState`]).
pub type State = WebhookState;

/// Whether a WeChat `timestamp` (seconds) is within [`MAX_SKEW_S`] of `now_ms`.
pub fn fresh(timestamp: &str, now_ms: i64) -> bool {
    kefu_aws::edge::fresh(timestamp, now_ms, MAX_SKEW_S)
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let channel_id = req
        .path_parameters()
        .first("channelId")
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!("wechat_webhook", channel = %channel_id, account = tracing::field::Empty, event = tracing::field::Empty);
    Ok(handle_inner(state, req, &channel_id).instrument(span).await)
}

async fn handle_inner(state: &State, req: Request, channel_id: &str) -> Response<Body> {
    let channel = match state.store.channel(channel_id).await {
        Ok(Some(c))
            if c.enabled
                && matches!(
                    c.kind,
                    ChannelKind::WechatOa | ChannelKind::WechatMiniProgram
                ) =>
        {
            c
        }
        Ok(_) => return reply(404, "unknown channel"),
        Err(e) => {
            warn!(error = %e, "channel lookup failed");
            return reply(503, "temporarily unavailable");
        }
    };
    tracing::Span::current().record("account", channel.account_id.as_str());
    let secrets = match state.secrets.channel_secrets(&channel.secret_ref).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "channel credentials unavailable");
            return reply(503, "temporarily unavailable");
        }
    };
    let Some(token) = secrets.token.clone() else {
        warn!("channel has no token configured");
        return reply(503, "channel not configured");
    };

    let q = req.query_string_parameters();
    let (timestamp, nonce) = (
        q.first("timestamp").unwrap_or_default(),
        q.first("nonce").unwrap_or_default(),
    );
    let now = now_ms();
    if !fresh(timestamp, now) {
        return reply(401, "missing or stale timestamp");
    }

    match *req.method() {
        lambda_http::http::Method::GET => {
            let signature = q.first("signature").unwrap_or_default();
            if !wechat::verify_signature(&token, timestamp, nonce, signature) {
                return reply(401, "bad signature");
            }
            reply(200, q.first("echostr").unwrap_or_default())
        }
        lambda_http::http::Method::POST => {
            let body = req.body().as_ref();
            let push = if q.first("encrypt_type") == Some("aes") {
                let ciphers = match ciphers(&secrets, &channel.external_id) {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "safe mode push but no usable EncodingAESKey");
                        return reply(503, "channel not configured for safe mode");
                    }
                };
                if body.len() > wechat::MAX_PUSH_BYTES {
                    return reply(400, "body too large");
                }
                let msg_signature = q.first("msg_signature").unwrap_or_default();
                wechat::open_encrypted_push(&ciphers, &token, timestamp, nonce, msg_signature, body)
                    .map(|(i, p)| {
                        if i > 0 {
                            info!("push decrypted with the previous EncodingAESKey");
                        }
                        p
                    })
            } else {
                let signature = q.first("signature").unwrap_or_default();
                if !wechat::verify_signature(&token, timestamp, nonce, signature) {
                    return reply(401, "bad signature");
                }
                if wechat::is_json(body) {
                    // Mini Program pushes may be JSON (a setting of the Mini Program's message push).
                    wechat::parse_push_json(body)
                } else {
                    wechat::parse_push(body)
                }
            };
            let push = match push {
                Ok(p) => p,
                Err(e) => {
                    info!(error = %e, "refused push");
                    return reply(e.http_status(), &e.to_string());
                }
            };
            let event = inbound::from_wechat_push(&push, &channel, now);
            tracing::Span::current().record("event", event.event_id.as_str());
            match state.inbound.send(&event).await {
                Ok(()) => {
                    info!(kind = event.content.kind(), "push accepted");
                    reply(200, "success")
                }
                Err(e) => {
                    warn!(error = %e, "could not queue the push; WeChat will retry");
                    reply(503, "temporarily unavailable")
                }
            }
        }
        _ => reply(405, "method not allowed"),
    }
}

/// The current EncodingAESKey first, then the previous one (accepted while a key change settles).
fn ciphers(
    secrets: &ChannelSecrets,
    app_id: &str,
) -> Result<Vec<wechat::Cipher>, wechat::WechatError> {
    let mut out = Vec::new();
    for key in [
        &secrets.encoding_aes_key,
        &secrets.previous_encoding_aes_key,
    ]
    .into_iter()
    .flatten()
    {
        out.push(wechat::Cipher::new(key, app_id)?);
    }
    if out.is_empty() {
        return Err(wechat::WechatError::Crypto("no EncodingAESKey".into()));
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
        assert!(fresh("1699999700", now));
        assert!(!fresh("1699999699", now));
        assert!(!fresh("1700000301", now));
        assert!(!fresh("", now));
        assert!(!fresh("abc", now));
    }
}
