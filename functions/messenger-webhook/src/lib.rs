//! Facebook Messenger webhook (`GET|POST /messenger/{channelId}`), deployed in the international stack only.
//!
//! - GET: Meta's verification request. `hub.mode=subscribe` with the channel's verify token (`token`
//!   secret) → `hub.challenge` as is; anything else → 403.
//! - POST: event notifications. The `X-Hub-Signature-256` header must be the HMAC-SHA256 of the body bytes
//!   exactly as received under the app secret (`app_secret`). A body may batch several entries, each with
//!   several events: every event the customer caused (messages, postbacks, referrals, opt-ins; see
//!   [`inbound::from_messenger_event_parts`]) is put on the inbound FIFO queue **before** the answer, and
//!   `EVENT_RECEIVED` is answered only once all of them are durable. Echoes of the page's own messages,
//!   reads, deliveries, reactions, standby events and events of other pages than the channel's
//!   (`external_id`) are skipped.
//!
//! Answers: unknown or disabled channel, or not a Messenger channel → 404; no signature → 401; wrong or
//! malformed signature → 403; malformed body → 400, oversized → 413; storage, secrets or queue unavailable,
//! or no app secret configured → 503. A batch is all or nothing: if one event cannot be queued the answer is
//! 503 and Meta delivers the whole body again; the events queued the first time are then deduplicated by
//! their `mid` (the queue within 5 minutes, the conversation router's idempotent writes after that).

use futures_util::future::join_all;
use kefu_aws::edge::now_ms;
use kefu_aws::edge::text as reply;
use kefu_aws::edge::WebhookState;
use kefu_domain::channels::{inbound, messenger};
use kefu_domain::messages::InboundEvent;
use kefu_domain::model::ChannelKind;
use kefu_domain::ports::{Directory, Queue, Secrets};
use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use tracing::{info, warn, Instrument};

/// The answer Meta expects to a notification.
pub const EVENT_RECEIVED: &str = "EVENT_RECEIVED";

/// The webhook's state: channels, their credentials and the inbound queue (see [`WebhookState`]).
pub type State = WebhookState;

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let channel_id = req
        .path_parameters()
        .first("channelId")
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!(
        "messenger_webhook",
        channel = %channel_id,
        account = tracing::field::Empty,
        events = tracing::field::Empty
    );
    Ok(handle_inner(state, req, &channel_id).instrument(span).await)
}

async fn handle_inner(state: &State, req: Request, channel_id: &str) -> Response<Body> {
    let channel = match state.store.channel(channel_id).await {
        Ok(Some(c)) if c.enabled && c.kind == ChannelKind::Messenger => c,
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

    match *req.method() {
        Method::GET => {
            let q = req.query_string_parameters();
            let expected = secrets.token.as_deref().unwrap_or_default();
            if expected.is_empty() {
                warn!("channel has no verify token configured");
            }
            match messenger::verify_challenge(
                q.first("hub.mode"),
                q.first("hub.verify_token"),
                q.first("hub.challenge"),
                expected,
            ) {
                Ok(challenge) => {
                    info!("webhook verified");
                    reply(200, challenge)
                }
                Err(e) => {
                    info!(error = %e, "verification refused");
                    reply(e.http_status(), &e.to_string())
                }
            }
        }
        Method::POST => {
            let Some(app_secret) = secrets.app_secret.as_deref().filter(|s| !s.is_empty()) else {
                warn!("channel has no app secret configured");
                return reply(503, "channel not configured");
            };
            // The exact bytes received: text bodies as passed by API Gateway, binary ones base64-decoded.
            let body: &[u8] = req.body().as_ref();
            let header = req
                .headers()
                .get(messenger::SIGNATURE_HEADER)
                .map(|v| v.to_str().unwrap_or("not text"));
            if let Err(e) = messenger::verify_signature(app_secret.as_bytes(), body, header) {
                info!(error = %e, "refused notification");
                return reply(e.http_status(), &e.to_string());
            }
            let events = match messenger::parse_webhook(body) {
                Ok(events) => events,
                Err(e) => {
                    info!(error = %e, "refused notification");
                    return reply(e.http_status(), &e.to_string());
                }
            };
            tracing::Span::current().record("events", events.len());
            let now = now_ms();
            let (mut foreign, mut skipped) = (0usize, 0usize);
            let mut accepted: Vec<InboundEvent> = Vec::new();
            for ev in &events {
                if ev.page_id != channel.external_id {
                    foreign += 1;
                    continue;
                }
                let parts = inbound::from_messenger_event_parts(ev, &channel, now);
                if parts.is_empty() {
                    skipped += 1;
                }
                accepted.extend(parts);
            }
            if foreign > 0 {
                warn!(
                    foreign,
                    "events for another page than the channel's were ignored"
                );
            }
            if let Err(e) = enqueue(&state.inbound, accepted.clone()).await {
                warn!(error = %e, "could not queue the notification; Meta will retry");
                return reply(503, "temporarily unavailable");
            }
            info!(
                queued = accepted.len(),
                skipped,
                kinds = ?accepted.iter().map(|e| e.content.kind()).collect::<Vec<_>>(),
                "notification accepted"
            );
            reply(200, EVENT_RECEIVED)
        }
        _ => reply(405, "method not allowed"),
    }
}

/// Queues every event, in order per customer (the FIFO group), different customers concurrently. Fails if
/// any event could not be queued.
async fn enqueue<Q: Queue<InboundEvent>>(
    queue: &Q,
    events: Vec<InboundEvent>,
) -> Result<(), kefu_domain::ports::StoreError> {
    let mut groups: Vec<(String, Vec<InboundEvent>)> = Vec::new();
    for ev in events {
        let group = ev.group_id();
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, list)) => list.push(ev),
            None => groups.push((group, vec![ev])),
        }
    }
    let runs = groups.into_iter().map(|(_, list)| async move {
        for ev in &list {
            queue.send(ev).await?;
        }
        Ok(())
    });
    join_all(runs).await.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_domain::messages::{Content, FORMAT_VERSION};
    use kefu_domain::ports::StoreError;
    use std::sync::Mutex;

    struct Recorder {
        sent: Mutex<Vec<String>>,
        fail_on: Option<&'static str>,
    }

    #[async_trait::async_trait]
    impl Queue<InboundEvent> for Recorder {
        async fn send(&self, msg: &InboundEvent) -> Result<(), StoreError> {
            if self.fail_on == Some(msg.event_id.as_str()) {
                return Err(StoreError::Unavailable("down".into()));
            }
            self.sent.lock().unwrap().push(msg.event_id.clone());
            Ok(())
        }
    }

    fn ev(customer: &str, id: &str) -> InboundEvent {
        InboundEvent {
            v: FORMAT_VERSION,
            event_id: id.into(),
            account_id: "a".into(),
            channel_id: "c".into(),
            channel_kind: ChannelKind::Messenger,
            customer: customer.into(),
            occurred_ms: 1,
            received_ms: 2,
            lang: None,
            content: Content::Text { text: "x".into() },
        }
    }

    #[tokio::test]
    async fn each_customers_events_are_queued_in_order_and_a_failure_fails_the_batch() {
        let q = Recorder {
            sent: Mutex::new(Vec::new()),
            fail_on: None,
        };
        let events = vec![ev("p1", "1"), ev("p2", "2"), ev("p1", "3"), ev("p2", "4")];
        enqueue(&q, events.clone()).await.unwrap();
        let sent = q.sent.into_inner().unwrap();
        assert_eq!(sent.len(), 4);
        let pos = |id: &str| sent.iter().position(|s| s == id).unwrap();
        assert!(pos("1") < pos("3") && pos("2") < pos("4"));

        let q = Recorder {
            sent: Mutex::new(Vec::new()),
            fail_on: Some("3"),
        };
        assert!(enqueue(&q, events).await.is_err());
    }
}
