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
    /// When the account is open, for channels without agent presence (WeCom): inside them a new
    /// conversation gets the online greeting, outside the offline one. `None`: always open. See
    /// [`crate::rules::business_hours`].
    #[serde(default)]
    pub business_hours: Option<crate::rules::BusinessHours>,
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

/// Channel credentials, read through [`crate::ports::Secrets`] and cached per container. Stored as the JSON of
/// this struct (one SSM SecureString per channel); a channel uses only the fields of its kind and leaves the
/// others out.
///
/// | field | WeChat OA / Mini Program | WeCom | Messenger | Twilio SMS |
/// |---|---|---|---|---|
/// | `token` | server-configuration Token (signature of URL checks and pushes) | callback Token | verify token (`hub.verify_token` of the webhook check) | – |
/// | `app_secret` | AppSecret (fetches access tokens) | the app's Secret (`corpsecret` of `gettoken`) | app secret (`X-Hub-Signature-256` of every webhook POST) | auth token |
/// | `encoding_aes_key` | EncodingAESKey (safe mode) | EncodingAESKey | – | – |
/// | `previous_encoding_aes_key` | the key before the last change | idem | – | – |
/// | `access_token` | – (fetched with the AppSecret, cached in the runtime table) | – | Page access token (Send API) | – |
/// | `agent_id` | – | the self-built app's AgentId (`agentid` of `message/send`) | – | – |
///
/// Web chat channels use none of these: they keep `site_key`, `allowed_origins` and `session_secret`.
///
/// SMS channels (the channel item's `external_id`: Twilio, the sending number in E.164 or a Messaging
/// Service SID `MG…`; Aliyun, a label such as the signature's extension code; Tencent, the SMS
/// application's `SmsSdkAppId`) use these:
///
/// | field | Twilio (international) | Aliyun SMS (mainland) | Tencent Cloud SMS (mainland) |
/// |---|---|---|---|
/// | `app_secret` | auth token (checks `X-Twilio-Signature`, basic auth of the Messages API) | – | – |
/// | `account_sid` | Account SID (`AC…`) | – | – |
/// | `public_url` | the webhook URL exactly as configured in Twilio (what Twilio signs) | – | – |
/// | `access_key_id` / `access_key_secret` | – | AccessKey ID / secret (a RAM user allowed `dysms:SendSms`) | SecretId / SecretKey |
/// | `sign_name` | – | approved SMS signature (签名) | approved SMS signature (签名) |
/// | `template_id` | – | approved template code (`SMS_…`) whose one variable is `${content}` | approved template id whose one variable is `{1}` |
/// | `url_token` | – | secret of the SmsUp push URL (`?token=`) | secret of the reply-callback URL (`?token=`) |
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelSecrets {
    /// WeChat / WeCom callback token (signatures); Messenger verify token (webhook check).
    #[serde(default)]
    pub token: Option<String>,
    /// WeChat AppSecret (access tokens); Messenger app secret (webhook signatures); Twilio auth token.
    #[serde(default)]
    pub app_secret: Option<String>,
    /// WeChat / WeCom EncodingAESKey (43 characters), current one.
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// The previous EncodingAESKey, still accepted while a key change settles.
    #[serde(default)]
    pub previous_encoding_aes_key: Option<String>,
    /// Messenger Page access token (`access_token` of the Send API; a long-lived token of the page). Unused by
    /// WeChat, whose short-lived access tokens are fetched with `app_secret`.
    #[serde(default)]
    pub access_token: Option<String>,
    // ---- Web chat (`web_chat` channels; see `kefu_domain::channels::webchat`) ----
    /// Web chat site key: the public key of the widget tag (`data-site-key`), compared in constant time
    /// when a visitor opens a session. Not a credential (it is in every page that embeds the widget):
    /// `allowed_origins` and the rate limits protect the channel.
    #[serde(default)]
    pub site_key: Option<String>,
    /// Web chat: the browser origins (`https://www.example.com`, scheme + host + port, no path) whose
    /// pages may use the visitor API; anything else gets 403 and no CORS headers.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Web chat: the HMAC-SHA256 key of visitor session tokens (at least 32 random bytes, e.g. 64 hex
    /// digits). Changing it ends every session of the channel.
    #[serde(default)]
    pub session_secret: Option<String>,
    // ---- SMS (`sms_twilio`, `sms_aliyun`, `sms_tencent` channels; see the table above) ----
    /// Twilio Account SID (`AC…`): the account of the Messages API and the user of its basic auth.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio: the public webhook URL exactly as configured in the Twilio console (scheme, host, path and
    /// query string). `X-Twilio-Signature` signs this URL, never the internal one the function sees.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Aliyun AccessKey ID; Tencent Cloud SecretId.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Aliyun AccessKey secret; Tencent Cloud SecretKey.
    #[serde(default)]
    pub access_key_secret: Option<String>,
    /// Aliyun / Tencent approved SMS signature (签名), without the brackets 【】.
    #[serde(default)]
    pub sign_name: Option<String>,
    /// Aliyun template code (`SMS_…`) / Tencent template id: the approved template whose single variable
    /// carries the agent's text (mainland SMS is sent only through approved templates).
    #[serde(default)]
    pub template_id: Option<String>,
    /// Aliyun / Tencent: the secret token of the callback URL (`?token=…`, at least 128 random bits), as
    /// neither provider signs its callbacks.
    #[serde(default)]
    pub url_token: Option<String>,
    // ---- WeCom (`wecom` channels; the channel item's `external_id` is the corp id) ----
    /// WeCom: the AgentId of the self-built app (自建应用) that receives the callbacks and sends the
    /// replies. Written as a string or a number (`"1000002"` or `1000002`).
    #[serde(default, deserialize_with = "string_or_number")]
    pub agent_id: Option<String>,
}

/// An optional string that may also be written as a JSON number.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(i64),
    }
    Ok(Option::<Raw>::deserialize(d)?.map(|r| match r {
        Raw::S(s) => s,
        Raw::N(n) => n.to_string(),
    }))
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
    /// Any event from the customer (messages, follows, unfollows…).
    pub last_seen_ms: i64,
    /// When the customer last spoke or acted (the channel's time of their latest inbound event other than an
    /// unfollow), kept by the conversation router. Channels that limit replies to a window after the
    /// customer's last message (Messenger: 24 hours, 7 days for a human agent) decide from it. `None` for
    /// customers not heard from since it was introduced.
    #[serde(default)]
    pub last_inbound_ms: Option<i64>,
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
    /// The second line of the agent's identity under the name (a team or a location, "Reservations ·
    /// Shanghai"), shown by web chat. `None`: the name alone.
    #[serde(default)]
    pub line2: Option<String>,
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
    /// Set for outbound messages the channel refused (outside the reply window, quota exhausted…).
    #[serde(default)]
    pub error: Option<String>,
}
