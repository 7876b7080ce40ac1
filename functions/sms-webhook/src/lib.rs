//! SMS webhook: inbound SMS / MMS from Twilio (international) and replies from Aliyun SMS and Tencent
//! Cloud SMS (mainland), by route:
//!
//! | route | provider | authentication | body | answer |
//! |---|---|---|---|---|
//! | `POST /sms/twilio/{channelId}` | Twilio incoming message webhook | `X-Twilio-Signature` over the channel's `public_url` + the form parameters | form (API Gateway hands it over base64-encoded; decoded here) | empty TwiML `<Response></Response>`, `text/xml` |
//! | `POST /sms/aliyun/{channelId}?token=…` | Aliyun SmsUp push (上行短信), a batch | the URL token, compared in constant time | JSON array | `{"code":0,"msg":"接收成功"}` |
//! | `POST /sms/tencent/{channelId}?token=…` | Tencent Cloud SMS reply callback (回复回调) | the URL token, compared in constant time | JSON object | `{"result":0,"errmsg":"OK"}` |
//!
//! One binary serves every provider; each stack exposes only its own routes (the international stack the
//! Twilio route, the mainland stack the Aliyun and Tencent routes; see `infra/template.yaml`).
//!
//! Every message is normalised ([`inbound::from_sms_parts`]) and put on the inbound FIFO queue **before** the
//! answer, deduplicated by the provider's message id (`twilio:<MessageSid>`, `aliyun:<sequence_id>`,
//! `tencent:…`), so a provider's retry is harmless. An Aliyun batch is all or nothing: the acknowledgement
//! is sent only once every message of the batch is queued; otherwise Aliyun retries the whole batch and the
//! messages already queued are deduplicated.
//!
//! Answers: unknown or disabled channel, or a channel of another provider → 404; a forged signature, a
//! missing or wrong URL token → 403; an oversized or malformed body → 400; channel credentials, storage or
//! queue unavailable → 503 (never the acknowledgement, so the provider retries and nothing is lost).
//! Aliyun and Tencent retry a callback that was not acknowledged. Twilio does not retry an incoming-message
//! webhook by default: give its URL a connection override asking for retries on 5xx (a fragment such as
//! `#rc=3&rp=all`, which never reaches the server and is left out of the signature check) or set the same URL
//! as the number's fallback URL.

use kefu_aws::edge::now_ms;
use kefu_aws::edge::WebhookState;
use kefu_aws::edge::{response as reply, text};
use kefu_domain::channels::inbound;
use kefu_domain::channels::sms::{
    aliyun, check_url_token, tencent, twilio, InboundSms, SmsError, SmsProvider,
};
use kefu_domain::messages::InboundEvent;
use kefu_domain::model::{Channel, ChannelSecrets};
use kefu_domain::ports::{Directory, Queue, Secrets};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use tracing::{info, warn, Instrument};

/// The webhook's state: channels, their credentials and the inbound queue (see [`WebhookState`]).
pub type State = WebhookState;

/// The provider a route serves: the path segment before `{channelId}` (`/sms/twilio/{channelId}`). The
/// route key is used when API Gateway gives one (it is unaffected by custom-domain base paths), else the
/// request path.
pub fn provider_of(route_key: Option<&str>, path: &str) -> Option<SmsProvider> {
    let route = route_key
        .and_then(|k| k.split_once(' ').map(|(_, p)| p))
        .unwrap_or(path);
    let mut segments = route.trim_end_matches('/').rsplit('/');
    segments.next()?;
    match segments.next()? {
        "twilio" => Some(SmsProvider::Twilio),
        "aliyun" => Some(SmsProvider::Aliyun),
        "tencent" => Some(SmsProvider::Tencent),
        _ => None,
    }
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let channel_id = req
        .path_parameters()
        .first("channelId")
        .unwrap_or_default()
        .to_string();
    let route_key = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    };
    let provider = provider_of(route_key.as_deref(), req.uri().path());
    let span = tracing::info_span!(
        "sms_webhook",
        provider = provider.map(SmsProvider::as_str).unwrap_or("unknown"),
        channel = %channel_id,
        account = tracing::field::Empty,
        events = tracing::field::Empty,
    );
    Ok(handle_inner(state, req, provider, &channel_id)
        .instrument(span)
        .await)
}

async fn handle_inner(
    state: &State,
    req: Request,
    provider: Option<SmsProvider>,
    channel_id: &str,
) -> Response<Body> {
    let Some(provider) = provider else {
        return text(404, "unknown SMS provider");
    };
    if req.method() != lambda_http::http::Method::POST {
        return text(405, "method not allowed");
    }
    let channel = match state.store.channel(channel_id).await {
        Ok(Some(c)) if c.enabled && c.kind == provider.channel_kind() => c,
        Ok(_) => return text(404, "unknown channel"),
        Err(e) => {
            warn!(error = %e, "channel lookup failed");
            return text(503, "temporarily unavailable");
        }
    };
    tracing::Span::current().record("account", channel.account_id.as_str());
    let secrets = match state.secrets.channel_secrets(&channel.secret_ref).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "channel credentials unavailable");
            return text(503, "temporarily unavailable");
        }
    };
    let now = now_ms();
    let accepted = match provider {
        SmsProvider::Twilio => twilio_messages(&req, &secrets),
        SmsProvider::Aliyun | SmsProvider::Tencent => mainland_messages(&req, &secrets, provider),
    };
    let messages = match accepted {
        Ok(m) => m,
        Err(Refusal::Sms(e)) => {
            info!(error = %e, "refused callback");
            return text(e.http_status(), &e.to_string());
        }
        Err(Refusal::NotConfigured(what)) => {
            warn!(missing = what, "channel is not configured for Twilio");
            return text(503, "channel not configured");
        }
    };
    let events = events_of(&messages, &channel, now);
    tracing::Span::current().record("events", events.len());
    for ev in &events {
        if let Err(e) = state.inbound.send(ev).await {
            warn!(error = %e, "could not queue an inbound SMS; the provider will retry");
            return text(503, "temporarily unavailable");
        }
    }
    info!(messages = messages.len(), "SMS callback accepted");
    match provider {
        SmsProvider::Twilio => reply(200, twilio::TWIML_CONTENT_TYPE, twilio::twiml_empty()),
        SmsProvider::Aliyun => reply(200, aliyun::ACK_CONTENT_TYPE, aliyun::ACK_BODY),
        SmsProvider::Tencent => reply(200, tencent::ACK_CONTENT_TYPE, tencent::ACK_BODY),
    }
}

/// Why a callback is not accepted.
enum Refusal {
    Sms(SmsError),
    /// A credential the check needs is missing from the channel's secrets.
    NotConfigured(&'static str),
}

impl From<SmsError> for Refusal {
    fn from(e: SmsError) -> Self {
        Refusal::Sms(e)
    }
}

/// A Twilio webhook: the form, its signature over the configured public URL, then the message.
fn twilio_messages(req: &Request, secrets: &ChannelSecrets) -> Result<Vec<InboundSms>, Refusal> {
    let token = secrets
        .app_secret
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::NotConfigured("app_secret (auth token)"))?;
    let url = secrets
        .public_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or(Refusal::NotConfigured("public_url"))?;
    // lambda_http has already undone API Gateway's base64 encoding of the form body.
    let params = twilio::parse_form(req.body().as_ref())?;
    let header = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|h| h.to_str().ok());
    // A connection override (`#rc=…&rp=…`) configured in Twilio is a fragment no server ever receives:
    // the signature is checked over the URL without it (and, to be safe, with it).
    let without_fragment = url.split('#').next().unwrap_or(url);
    twilio::check_signature(token, without_fragment, &params, header).or_else(|e| {
        if without_fragment.len() == url.len() {
            Err(e)
        } else {
            twilio::check_signature(token, url, &params, header)
        }
    })?;
    Ok(vec![InboundSms::from_twilio(&params)?])
}

/// An Aliyun or Tencent callback: the URL token, then the body.
fn mainland_messages(
    req: &Request,
    secrets: &ChannelSecrets,
    provider: SmsProvider,
) -> Result<Vec<InboundSms>, Refusal> {
    let expected = secrets.url_token.as_deref().unwrap_or_default();
    if expected.is_empty() {
        warn!("channel has no url_token configured: every callback is refused");
    }
    let given = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("token").map(str::to_owned));
    check_url_token(expected, given.as_deref())?;
    let body = req.body().as_ref();
    Ok(match provider {
        SmsProvider::Aliyun => aliyun::parse_sms_up(body)?,
        _ => vec![tencent::parse_reply(body)?],
    })
}

/// Every inbound event of the accepted messages, in order.
fn events_of(messages: &[InboundSms], channel: &Channel, now: i64) -> Vec<InboundEvent> {
    messages
        .iter()
        .flat_map(|m| inbound::from_sms_parts(m, channel, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_is_the_segment_before_the_channel_id() {
        assert_eq!(
            provider_of(Some("POST /sms/twilio/{channelId}"), "/x"),
            Some(SmsProvider::Twilio)
        );
        assert_eq!(
            provider_of(None, "/sms/aliyun/ch-1"),
            Some(SmsProvider::Aliyun)
        );
        assert_eq!(
            provider_of(None, "/prod/sms/tencent/ch-1/"),
            Some(SmsProvider::Tencent)
        );
        assert_eq!(provider_of(None, "/sms/other/ch-1"), None);
        assert_eq!(provider_of(None, "/"), None);
        assert_eq!(
            provider_of(Some("$default"), "/sms/twilio/c"),
            Some(SmsProvider::Twilio)
        );
    }
}
