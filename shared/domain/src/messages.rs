//! Queue messages. Every message is JSON with a `"v": 1` version field so a consumer can refuse a format it
//! does not know (the message then goes to the DLQ instead of being misread).
//!
//! | queue | type | producer → consumer | FIFO group | dedupe id |
//! |---|---|---|---|---|
//! | inbound (FIFO) | [`InboundEvent`] | channel webhooks → conversation-router | `{channel_id}:{customer}` | `event_id` (hashed) |
//! | greeting (standard) | [`GreetingRequest`] | conversation-router → greeting-dispatch | – | – (idempotency record) |
//! | outbound (FIFO) | [`OutboundMessage`] | greeting-dispatch, agents → channel-sender | `{channel_id}:{customer}` | `message_id` (hashed) |
//!
//! The inbound queue is FIFO grouped by channel and customer: one customer's messages are routed in the
//! order the channel delivered them, while different customers are processed in parallel. SQS FIFO
//! deduplicates within 5 minutes (WeChat retries within ~15 s); everything after the queue is idempotent
//! on its own keys for duplicates that arrive later.

use crate::model::{ChannelKind, GreetingKind, Lang};
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

fn v1() -> u32 {
    FORMAT_VERSION
}

/// What a customer sent or did, the same for every channel. Attachments are references (channel media
/// ids or URLs) to be fetched later, never bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        text: String,
    },
    Image {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        media_id: Option<String>,
    },
    Voice {
        media_id: String,
        #[serde(default)]
        format: Option<String>,
        /// Speech recognition provided by the channel, if enabled.
        #[serde(default)]
        recognition: Option<String>,
    },
    Video {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        media_id: Option<String>,
        #[serde(default)]
        thumb_media_id: Option<String>,
    },
    File {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        media_id: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        label: Option<String>,
    },
    Link {
        url: String,
        #[serde(default)]
        title: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    /// A card (Mini Program page, news article, Messenger template).
    Card {
        title: String,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        thumb_url: Option<String>,
    },
    /// The customer followed / subscribed (`scene` carries a QR-code scene such as `qrscene_123`).
    Follow {
        #[serde(default)]
        scene: Option<String>,
    },
    Unfollow,
    /// The customer opened a customer-service session (Mini Program `user_enter_tempsession`).
    EnterSession {
        #[serde(default)]
        source: Option<String>,
    },
    /// Anything else the channel sent (menu clicks, location reports…): kept for history, no routing.
    Other {
        kind: String,
    },
}

impl Content {
    /// Whether this is something the customer said (as opposed to an event such as follow).
    pub fn is_message(&self) -> bool {
        !matches!(
            self,
            Content::Follow { .. }
                | Content::Unfollow
                | Content::EnterSession { .. }
                | Content::Other { .. }
        )
    }

    /// A short label for logs: the kind only, never the customer's text.
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Text { .. } => "text",
            Content::Image { .. } => "image",
            Content::Voice { .. } => "voice",
            Content::Video { .. } => "video",
            Content::File { .. } => "file",
            Content::Location { .. } => "location",
            Content::Link { .. } => "link",
            Content::Card { .. } => "card",
            Content::Follow { .. } => "follow",
            Content::Unfollow => "unfollow",
            Content::EnterSession { .. } => "enter_session",
            Content::Other { .. } => "other",
        }
    }
}

/// The normalised inbound event (inbound queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    #[serde(default = "v1")]
    pub v: u32,
    /// Unique per channel: the channel's own message id, or its documented dedupe rule for events
    /// (WeChat: `FromUserName + CreateTime`). Duplicates of one delivery carry the same id.
    pub event_id: String,
    pub account_id: String,
    pub channel_id: String,
    pub channel_kind: ChannelKind,
    /// The customer's id on the channel (openid, PSID, phone number, visitor id).
    pub customer: String,
    /// When the channel says the event happened (ms since epoch).
    pub occurred_ms: i64,
    /// When kefu accepted it (ms since epoch).
    pub received_ms: i64,
    /// The customer's language if the channel tells it.
    #[serde(default)]
    pub lang: Option<Lang>,
    pub content: Content,
}

impl InboundEvent {
    /// FIFO message group: one customer on one channel.
    pub fn group_id(&self) -> String {
        format!("{}:{}", self.channel_id, self.customer)
    }
}

/// Why a greeting may be due (greeting queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GreetingTrigger {
    Follow,
    ConversationStarted,
}

/// The state of the account when the trigger happened, captured by the router so the greeting reflects
/// the moment the customer arrived, not the moment the greeting is processed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreetingRequest {
    #[serde(default = "v1")]
    pub v: u32,
    /// Idempotency key: at most one greeting per key (`conv:{conversation_id}` or `follow:{event_id}`).
    pub key: String,
    pub account_id: String,
    pub channel_id: String,
    pub customer: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    pub trigger: GreetingTrigger,
    /// Agents online with the account when the conversation started.
    pub agents_online: u32,
    /// Conversations waiting (including this one if it was not assigned) when it started.
    pub waiting: u32,
    /// The agent the conversation was assigned to right away, if any.
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub agent_name: Option<String>,
    #[serde(default)]
    pub customer_name: Option<String>,
    #[serde(default)]
    pub customer_lang: Option<Lang>,
    /// Inside business hours, when the channel decides by business hours rather than presence.
    #[serde(default)]
    pub within_business_hours: Option<bool>,
}

/// What to send (outbound queue). Media are references: a channel media id (WeChat needs media uploaded
/// to it first) or a URL the channel fetches (Messenger, MMS, web chat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundBody {
    Text {
        text: String,
    },
    Image {
        #[serde(default)]
        media_id: Option<String>,
        #[serde(default)]
        url: Option<String>,
    },
    Voice {
        #[serde(default)]
        media_id: Option<String>,
        #[serde(default)]
        url: Option<String>,
    },
    /// A link card (WeChat 图文 "news" message, Messenger generic template).
    Card {
        title: String,
        #[serde(default)]
        description: Option<String>,
        url: String,
        #[serde(default)]
        image_url: Option<String>,
    },
    /// The agent is typing (WeChat `custom/typing`, Messenger `typing_on`). Not stored.
    Typing,
}

impl OutboundBody {
    /// The stored form of what was sent; `None` for indicators that are not messages.
    pub fn to_content(&self) -> Option<Content> {
        Some(match self {
            OutboundBody::Text { text } => Content::Text { text: text.clone() },
            OutboundBody::Image { media_id, url } => Content::Image {
                url: url.clone(),
                media_id: media_id.clone(),
            },
            OutboundBody::Voice { media_id, url } => Content::Voice {
                media_id: media_id.clone().or_else(|| url.clone()).unwrap_or_default(),
                format: None,
                recognition: None,
            },
            OutboundBody::Card {
                title,
                url,
                image_url,
                ..
            } => Content::Card {
                title: title.clone(),
                url: Some(url.clone()),
                thumb_url: image_url.clone(),
            },
            OutboundBody::Typing => return None,
        })
    }
}

/// Who caused an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Origin {
    Greeting { kind: GreetingKind },
    Agent { agent_id: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    #[serde(default = "v1")]
    pub v: u32,
    /// Idempotency key: the sender sends each id at most once after success.
    pub message_id: String,
    pub account_id: String,
    pub channel_id: String,
    pub customer: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    pub body: OutboundBody,
    pub origin: Origin,
    /// WeChat customer-service account to answer as (agent identity), if any.
    #[serde(default)]
    pub kf_account: Option<String>,
    pub created_ms: i64,
}

impl OutboundMessage {
    pub fn group_id(&self) -> String {
        format!("{}:{}", self.channel_id, self.customer)
    }
}

/// SQS FIFO deduplication ids are at most 128 characters of a limited alphabet: hash longer or unusual
/// keys (hex SHA-256, 64 characters).
pub fn dedupe_id(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_event_round_trips_and_tags_content() {
        let ev = InboundEvent {
            v: 1,
            event_id: "msg:1".into(),
            account_id: "a".into(),
            channel_id: "c".into(),
            channel_kind: ChannelKind::WechatOa,
            customer: "o1".into(),
            occurred_ms: 1,
            received_ms: 2,
            lang: Some(Lang::zh_hans()),
            content: Content::Text {
                text: "你好".into(),
            },
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["content"]["type"], "text");
        assert_eq!(json["channel_kind"], "wechat_oa");
        assert_eq!(json["lang"], "zh-Hans");
        let back: InboundEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn events_are_not_messages() {
        assert!(!Content::Follow { scene: None }.is_message());
        assert!(!Content::Unfollow.is_message());
        assert!(Content::Text { text: "x".into() }.is_message());
        assert!(Content::Voice {
            media_id: "m".into(),
            format: None,
            recognition: None
        }
        .is_message());
    }

    #[test]
    fn dedupe_id_is_stable_and_short() {
        assert_eq!(dedupe_id("msg:1"), dedupe_id("msg:1"));
        assert_ne!(dedupe_id("msg:1"), dedupe_id("msg:2"));
        assert_eq!(dedupe_id(&"x".repeat(500)).len(), 64);
    }
}
