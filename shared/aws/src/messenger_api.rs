//! Facebook Messenger Send API client (outbound), for channels of kind `messenger`.
//!
//! - Messages go to `POST {MESSENGER_API_BASE}/me/messages?access_token=<Page access token>` (the channel's
//!   `access_token` secret) with the bodies of [`request_bodies`]: a text longer than Meta's 2000
//!   characters goes out as several messages, in order (if a later part fails after earlier ones were
//!   accepted, a retry of the outbound message sends the earlier parts again); images and voice by URL
//!   (Meta fetches them; a WeChat-style media id alone is refused); a card as a one-element generic
//!   template with an "Open" button to its URL; typing as the `typing_on` sender action (within 24 hours
//!   only: later it is dropped, as it would not be a message anyway).
//! - Meta lets a page answer for a while after the customer's last message: [`window_for`] decides from the
//!   customer's `last_inbound_ms` (kept by the conversation router, read from the data table): under 24
//!   hours `messaging_type: RESPONSE`; up to 7 days `MESSAGE_TAG` with `tag: HUMAN_AGENT` (the Meta app
//!   needs the Human Agent permission); later, or with no message from the customer at all, nothing is sent
//!   and the message is refused for good ([`SendError::Rejected`]).
//! - Failed calls are classified from Meta's Graph error by [`messenger::classify_send_error`]: rate limits
//!   and temporary faults are retried, token and permission errors need an operator, the rest is refused.
//! - The page token travels in the query string, so errors are reported without the request URL.
//! - The base URL is configurable (`MESSENGER_API_BASE`, with the Graph API version): the local fake in
//!   development and tests.

use crate::dynamo::DynamoStore;
use crate::edge::now_ms;
use async_trait::async_trait;
use kefu_domain::channels::messenger::{
    self, Card, SendContent, SendErrorClass, UrlButton, Window,
};
use kefu_domain::messages::{OutboundBody, OutboundMessage};
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{ChannelApi, SendError};
use serde_json::{json, Value};
use std::time::Duration;

/// What a send outside the window is refused with.
pub const WINDOW_CLOSED: &str = "outside the 7-day human agent window";

#[derive(Debug)]
pub struct MessengerClient {
    http: reqwest::Client,
    base: String,
    store: DynamoStore,
}

fn http_error(e: reqwest::Error) -> SendError {
    // Without the URL: it carries the page access token.
    SendError::Retryable(format!("Graph API unreachable: {}", e.without_url()))
}

/// The window a reply sent at `now_ms` falls in, from the customer's last inbound event.
pub fn window_for(last_inbound_ms: Option<i64>, now_ms: i64) -> Result<Window, SendError> {
    let last = last_inbound_ms.ok_or_else(|| {
        SendError::Rejected(format!("{WINDOW_CLOSED}: no message from the customer"))
    })?;
    messenger::window(last, now_ms).map_err(|_| SendError::Rejected(WINDOW_CLOSED.into()))
}

/// The label of a card's button.
pub const CARD_BUTTON_TITLE: &str = "Open";

/// The Send API bodies for an outbound message to `psid` in `window`, in sending order. Empty for a typing
/// indicator outside the 24-hour window; refused ([`SendError::Rejected`]) for what Messenger cannot send.
pub fn request_bodies(
    psid: &str,
    body: &OutboundBody,
    window: Window,
) -> Result<Vec<Value>, SendError> {
    let by_url = |what: &str, url: &Option<String>| {
        url.clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| SendError::Rejected(format!("Messenger sends a {what} by URL only")))
    };
    let content = match body {
        OutboundBody::Text { text } if text.is_empty() => {
            return Err(SendError::Rejected("empty message".into()))
        }
        OutboundBody::Text { text } => SendContent::Text(text.clone()),
        OutboundBody::Image { url, .. } => SendContent::Image {
            url: by_url("image", url)?,
        },
        OutboundBody::Voice { url, .. } => SendContent::Audio {
            url: by_url("voice message", url)?,
        },
        OutboundBody::Card {
            title,
            description,
            url,
            image_url,
        } => SendContent::Template(Card {
            title: title.clone(),
            subtitle: description.clone().filter(|d| !d.is_empty()),
            image_url: image_url.clone().filter(|u| !u.is_empty()),
            buttons: vec![UrlButton {
                url: url.clone(),
                title: CARD_BUTTON_TITLE.into(),
            }],
        }),
        OutboundBody::Typing => {
            return Ok(match window {
                Window::Response => {
                    vec![json!({"recipient": {"id": psid}, "sender_action": "typing_on"})]
                }
                Window::HumanAgent => Vec::new(),
            })
        }
    };
    Ok(messenger::send_bodies(psid, &content, window))
}

/// The [`SendError`] for a failed Send API call (HTTP status and body, `Value::Null` if not JSON).
pub fn graph_failure(status: u16, body: &Value) -> SendError {
    let detail = match messenger::graph_error(body) {
        Some(e) => {
            let mut d = format!("Graph API {status}");
            if let Some(code) = e.code {
                d.push_str(&format!(" code {code}"));
            }
            if let Some(sub) = e.subcode {
                d.push_str(&format!(" subcode {sub}"));
            }
            if let Some(message) = &e.message {
                d.push_str(": ");
                d.extend(message.chars().take(300));
            }
            if let Some(trace) = &e.fbtrace_id {
                d.push_str(&format!(" (fbtrace_id {trace})"));
            }
            d
        }
        None => format!("Graph API {status} without a Graph error"),
    };
    match messenger::classify_send_error(status, body) {
        SendErrorClass::Retryable => SendError::Retryable(detail),
        SendErrorClass::Misconfigured => SendError::Misconfigured(detail),
        SendErrorClass::Rejected => SendError::Rejected(detail),
    }
}

impl MessengerClient {
    /// `store` is the data table, where the customer's last inbound time is read.
    pub fn new(base: impl Into<String>, store: DynamoStore) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(8))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("HTTP client");
        MessengerClient {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            store,
        }
    }

    /// [`ChannelApi::send`] at a given time.
    pub async fn send_at(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
        now_ms: i64,
    ) -> Result<(), SendError> {
        if channel.kind != ChannelKind::Messenger {
            return Err(SendError::Misconfigured(format!(
                "{} is not a Messenger channel",
                channel.kind.as_str()
            )));
        }
        let token = secrets
            .access_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SendError::Misconfigured("no page access token".into()))?;
        let customer = self
            .store
            .customer(&channel.channel_id, &msg.customer)
            .await
            .map_err(|e| SendError::Retryable(format!("customer lookup: {e}")))?;
        let window = window_for(customer.and_then(|c| c.last_inbound_ms), now_ms)?;
        for body in &request_bodies(&msg.customer, &msg.body, window)? {
            self.post(token, body).await?;
        }
        Ok(())
    }

    async fn post(&self, token: &str, body: &Value) -> Result<(), SendError> {
        let resp = self
            .http
            .post(format!("{}/me/messages", self.base))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .map_err(http_error)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(http_error)?;
        if status.is_success() {
            return Ok(());
        }
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Err(graph_failure(status.as_u16(), &json))
    }
}

#[async_trait]
impl ChannelApi for MessengerClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        self.send_at(channel, secrets, msg, now_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn window_from_the_last_inbound_message() {
        let now = 1_700_000_000_000;
        assert_eq!(window_for(Some(now - HOUR), now).unwrap(), Window::Response);
        assert_eq!(
            window_for(Some(now - 48 * HOUR), now).unwrap(),
            Window::HumanAgent
        );
        assert_eq!(
            window_for(Some(now - 7 * 24 * HOUR), now).unwrap(),
            Window::HumanAgent
        );
        match window_for(Some(now - 8 * 24 * HOUR), now) {
            Err(SendError::Rejected(why)) => assert_eq!(why, WINDOW_CLOSED),
            other => panic!("{other:?}"),
        }
        match window_for(None, now) {
            Err(SendError::Rejected(why)) => assert!(why.starts_with(WINDOW_CLOSED)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_of_every_outbound_kind() {
        let text = OutboundBody::Text { text: "hi".into() };
        assert_eq!(
            request_bodies("P", &text, Window::Response).unwrap(),
            [
                json!({"recipient": {"id": "P"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}})
            ]
        );
        assert_eq!(
            request_bodies("P", &text, Window::HumanAgent).unwrap(),
            [
                json!({"recipient": {"id": "P"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                    "message": {"text": "hi"}})
            ]
        );
        let long = OutboundBody::Text {
            text: "word ".repeat(900),
        };
        assert_eq!(
            request_bodies("P", &long, Window::Response).unwrap().len(),
            3
        );
        assert!(matches!(
            request_bodies(
                "P",
                &OutboundBody::Text { text: "".into() },
                Window::Response
            ),
            Err(SendError::Rejected(_))
        ));
        let image = OutboundBody::Image {
            media_id: None,
            url: Some("https://x/y.jpg".into()),
        };
        assert_eq!(
            request_bodies("P", &image, Window::Response).unwrap()[0]["message"],
            json!({"attachment": {"type": "image", "payload": {"url": "https://x/y.jpg"}}})
        );
        let voice = OutboundBody::Voice {
            media_id: Some("wechat-media".into()),
            url: None,
        };
        assert!(matches!(
            request_bodies("P", &voice, Window::Response),
            Err(SendError::Rejected(_))
        ));
        let card = OutboundBody::Card {
            title: "Sea view room".into(),
            description: Some("Breakfast included".into()),
            url: "https://hotel.example/r/1".into(),
            image_url: None,
        };
        assert_eq!(
            request_bodies("P", &card, Window::Response).unwrap()[0]["message"]["attachment"]
                ["payload"]["elements"],
            json!([{"title": "Sea view room", "subtitle": "Breakfast included",
                    "buttons": [{"type": "web_url", "url": "https://hotel.example/r/1", "title": "Open"}]}])
        );
        assert_eq!(
            request_bodies("P", &OutboundBody::Typing, Window::Response).unwrap(),
            [json!({"recipient": {"id": "P"}, "sender_action": "typing_on"})]
        );
        assert!(
            request_bodies("P", &OutboundBody::Typing, Window::HumanAgent)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn graph_errors_map_to_send_errors() {
        let err = |code: i64, sub: Option<i64>| {
            json!({"error": {"message": "m", "type": "OAuthException", "code": code,
                             "error_subcode": sub, "fbtrace_id": "Ftrace"}})
        };
        assert!(matches!(
            graph_failure(400, &err(613, None)),
            SendError::Retryable(_)
        ));
        assert!(matches!(
            graph_failure(400, &err(190, None)),
            SendError::Misconfigured(_)
        ));
        match graph_failure(400, &err(10, Some(2018278))) {
            SendError::Rejected(d) => {
                assert_eq!(
                    d,
                    "Graph API 400 code 10 subcode 2018278: m (fbtrace_id Ftrace)"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            graph_failure(503, &Value::Null),
            SendError::Retryable(_)
        ));
        assert!(matches!(
            graph_failure(400, &Value::Null),
            SendError::Rejected(_)
        ));
    }
}
