//! Domain types. Storage layout (DynamoDB keys) is documented in `kefu-aws::dynamo`, next to the code that
//! writes it; these types are what the rules and use cases see.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised language tag. kefu speaks `en`, `zh-Hans` (Simplified Chinese) and `zh-Hant`
/// (Traditional Chinese); any other BCP 47 primary tag is kept as given (lower case) so greetings can be
/// added for it. Channel spellings such as WeChat's `zh_CN` / `zh_TW` are folded by [`Lang::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct Lang(String);

impl Lang {
    pub fn en() -> Self {
        Lang("en".into())
    }
    pub fn zh_hans() -> Self {
        Lang("zh-Hans".into())
    }
    pub fn zh_hant() -> Self {
        Lang("zh-Hant".into())
    }

    /// Folds the spellings channels use into kefu's tags. Returns `None` for an empty or unusable tag.
    ///
    /// `zh_CN`, `zh-CN`, `zh-SG`, `zh-Hans-*`, `zh` → `zh-Hans`; `zh_TW`, `zh-HK`, `zh-MO`, `zh-Hant-*` →
    /// `zh-Hant`; otherwise the primary subtag in lower case (`en_US` → `en`).
    pub fn parse(raw: &str) -> Option<Lang> {
        let tag = raw.trim().replace('_', "-");
        if tag.is_empty() {
            return None;
        }
        let lower = tag.to_ascii_lowercase();
        let mut parts = lower.split('-');
        let primary = parts.next()?;
        if primary.is_empty()
            || !primary.chars().all(|c| c.is_ascii_alphabetic())
            || primary.len() > 8
        {
            return None;
        }
        if primary == "zh" {
            let rest: Vec<&str> = parts.collect();
            let traditional = rest
                .iter()
                .any(|p| matches!(*p, "hant" | "tw" | "hk" | "mo"));
            return Some(if traditional {
                Lang::zh_hant()
            } else {
                Lang::zh_hans()
            });
        }
        Some(Lang(primary.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Tags tried after this one before the account default: `zh-Hant` falls back to `zh-Hans` (a reader of
    /// Traditional Chinese reads Simplified better than a foreign language).
    pub fn fallbacks(&self) -> &'static [&'static str] {
        match self.0.as_str() {
            "zh-Hant" => &["zh-Hans"],
            "zh-Hans" => &["zh-Hant"],
            _ => &[],
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a channel connection. The string forms are stored and appear in routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    WechatOa,
    WechatMiniProgram,
    Wecom,
    WebChat,
    SmsTwilio,
    SmsAliyun,
    SmsTencent,
    Messenger,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::WechatOa => "wechat_oa",
            ChannelKind::WechatMiniProgram => "wechat_mini_program",
            ChannelKind::Wecom => "wecom",
            ChannelKind::WebChat => "web_chat",
            ChannelKind::SmsTwilio => "sms_twilio",
            ChannelKind::SmsAliyun => "sms_aliyun",
            ChannelKind::SmsTencent => "sms_tencent",
            ChannelKind::Messenger => "messenger",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// Whether agent presence decides online/offline greetings on this channel. WeCom has no presence
    /// for kefu's agents, so business hours decide there.
    pub fn uses_agent_presence(self) -> bool {
        !matches!(self, ChannelKind::Wecom)
    }
}

/// A tenant: a hotel group, a retailer, a brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    /// Language used when the customer's language is unknown or has no greeting.
    pub default_lang: Lang,
    /// Number of waiting chats at or above which new customers get the busy greeting. `None`: never busy.
    pub busy_threshold: Option<u32>,
}

/// A channel connection of an account. Credentials are never stored here: `secret_ref` names the
/// parameter (SSM Parameter Store, SecureString, JSON) that holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub channel_id: String,
    pub account_id: String,
    pub kind: ChannelKind,
    /// The channel's own id for the connection: the WeChat app id (`wx…`), a page id, a phone number.
    pub external_id: String,
    pub name: String,
    pub secret_ref: String,
    /// `false` once an admin disconnects the channel: its webhook answers 404.
    pub enabled: bool,
}

/// Channel credentials, read through [`crate::ports::Secrets`] and cached per container.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelSecrets {
    /// WeChat / WeCom callback token (signature), Messenger verify token.
    #[serde(default)]
    pub token: Option<String>,
    /// WeChat app secret, Messenger app secret, Twilio auth token.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// WeChat / WeCom EncodingAESKey (43 characters), current one.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The previous EncodingAESKey, still accepted while a key change settles.
    #[serde(default)]
    pub previous_encoding_aes_key: Option<String>,
}

impl fmt::Debug for ChannelSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print credentials, even in debug logs.
        f.debug_struct("ChannelSecrets").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub account_id: String,
    pub channel_id: String,
    /// The customer's id on the channel: WeChat openid, PSID, phone number, visitor id.
    pub external_id: String,
    pub display_name: Option<String>,
    pub lang: Option<Lang>,
    pub following: bool,
    /// The conversation currently open with this customer, if any.
    pub open_conversation_id: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// In the account's waiting queue: no agent yet.
    Waiting,
    /// Assigned to an agent.
    Assigned,
    Closed,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Waiting => "waiting",
            ConversationStatus::Assigned => "assigned",
            ConversationStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "waiting" => Some(Self::Waiting),
            "assigned" => Some(Self::Assigned),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: String,
    pub account_id: String,
    pub channel_id: String,
    pub customer_id: String,
    pub status: ConversationStatus,
    pub created_ms: i64,
    /// When the customer started waiting: the wait-time KPI runs from here to `assigned_ms`.
    pub waiting_since_ms: i64,
    pub agent_id: Option<String>,
    pub assigned_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(Self::Online),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub account_id: String,
    pub agent_id: String,
    /// Name shown to customers (`$agentname`).
    pub display_name: String,
    pub presence: Presence,
    /// Chats this agent can hold at once.
    pub capacity: u32,
    /// Chats assigned and not yet closed.
    pub active_chats: u32,
    /// When the agent last received a chat (ms since epoch); spreads work among equally loaded agents.
    pub last_assigned_ms: i64,
    /// WeChat customer-service account (`kf_account`) the agent answers as, if any.
    pub kf_account: Option<String>,
    /// Disabled users (leavers) keep their history but can neither log in nor take chats.
    pub enabled: bool,
}

impl Agent {
    pub fn has_free_capacity(&self) -> bool {
        self.enabled && self.presence == Presence::Online && self.active_chats < self.capacity
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GreetingKind {
    /// Sent when a customer follows / subscribes.
    NewFollower,
    /// A new conversation while agents are present (or inside business hours).
    Online,
    /// A new conversation while nobody is present (or outside business hours).
    Offline,
    /// Agents are present but the waiting queue is at or above the busy threshold.
    Busy,
}

impl GreetingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GreetingKind::NewFollower => "new_follower",
            GreetingKind::Online => "online",
            GreetingKind::Offline => "offline",
            GreetingKind::Busy => "busy",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "new_follower" => Some(Self::NewFollower),
            "online" => Some(Self::Online),
            "offline" => Some(Self::Offline),
            "busy" => Some(Self::Busy),
            _ => None,
        }
    }
}

/// One greeting text for one kind and language, either for one channel or for every channel of the
/// account (`channel_id == None`). A channel-specific greeting wins over the account-wide one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Greeting {
    pub account_id: String,
    pub channel_id: Option<String>,
    pub kind: GreetingKind,
    pub lang: Lang,
    /// Text with optional shortcodes `$username` and `$agentname`.
    pub text: String,
    pub enabled: bool,
}

/// Who wrote a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From an agent or an automatic greeting.
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub conversation_id: String,
    /// Idempotency key of the message (the inbound event id, or the outbound message id).
    pub message_key: String,
    pub direction: Direction,
    pub at_ms: i64,
    pub content: crate::messages::Content,
    /// Set for outbound messages: the agent who wrote it, or `None` for automatic ones.
    pub agent_id: Option<String>,
}
