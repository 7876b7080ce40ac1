//! WeChat push protocol codec (Official Account, Mini Program customer service, and WeCom callbacks).
//!
//! Pure functions only: no I/O, no clock, no global state. Randomness is used in exactly one place
//! ([`Cipher::encrypt_random`] and [`encrypted_reply`]) and every such function has a deterministic twin
//! that takes the 16 random bytes as an argument.
//!
//! # Wire formats
//!
//! ## URL check and plain-mode signature
//!
//! Every request WeChat sends to the webhook carries `signature`, `timestamp` and `nonce` in the query
//! string (the URL check GET also carries `echostr`, which is answered verbatim). The signature is
//!
//! ```text
//! signature = hex(sha1(concat(sort([token, timestamp, nonce]))))
//! ```
//!
//! where `sort` is a plain byte-wise lexicographic sort. See [`signature`] and [`verify_signature`].
//!
//! ## Push body (plain mode)
//!
//! The POST body is a small XML document with root `<xml>` whose children are flat fields; string
//! values are usually wrapped in CDATA, numbers are plain text:
//!
//! ```xml
//! <xml>
//!   <ToUserName><![CDATA[toUser]]></ToUserName>
//!   <FromUserName><![CDATA[fromUser]]></FromUserName>
//!   <CreateTime>1348831860</CreateTime>
//!   <MsgType><![CDATA[text]]></MsgType>
//!   <Content><![CDATA[this is a test]]></Content>
//!   <MsgId>1234567890123456</MsgId>
//! </xml>
//! ```
//!
//! `MsgType` selects the remaining fields (`text`, `image`, `voice`, `video`, `shortvideo`, `location`,
//! `link`, `miniprogrampage`, `event`); for `event`, the `Event` field selects them (`subscribe`,
//! `unsubscribe`, `SCAN`, `LOCATION`, `CLICK`, `VIEW`, `user_enter_tempsession`, …). Messages are
//! deduplicated by `MsgId`, events by `FromUserName` + `CreateTime` (see [`Push::dedupe_key`]).
//! [`parse_push`] turns a body into a [`Push`].
//!
//! The parser is deliberately narrow: a document type declaration, any entity declaration, any entity
//! reference other than the five predefined ones (`&lt;` `&gt;` `&amp;` `&apos;` `&quot;`) and numeric
//! character references, and any processing instruction other than the XML declaration are refused with
//! [`WechatError::Forbidden`]. Nothing is ever fetched or expanded, so external entities ("XXE") and
//! entity expansion ("billion laughs") cannot happen. Bodies larger than [`MAX_PUSH_BYTES`] are refused.
//!
//! ## Safe mode (`encrypt_type=aes`, encrypted and compatible modes; WeCom callbacks)
//!
//! The body carries the encrypted push in `<Encrypt>` (compatible mode also keeps the plain fields next to
//! it; [`parse_envelope`] reads only `ToUserName` and `Encrypt`). The query string then also carries
//! `msg_signature`:
//!
//! ```text
//! msg_signature = hex(sha1(concat(sort([token, timestamp, nonce, Encrypt]))))
//! ```
//!
//! `Encrypt` is `base64(AES-256-CBC(key, iv, pkcs7_32(random16 ‖ be32(len(msg)) ‖ msg ‖ app_id)))` with
//! `key = base64_decode(EncodingAESKey + "=")` (43 characters → 32 bytes), `iv = key[..16]`, and PKCS#7
//! padding to **32-byte** blocks (pad value 1..=32, so the plaintext length is a multiple of 32). The
//! trailing `app_id` is the Official Account / Mini Program app id, or the WeCom corp id. See
//! [`Cipher`].
//!
//! An encrypted passive reply is
//!
//! ```xml
//! <xml><Encrypt><![CDATA[…]]></Encrypt><MsgSignature><![CDATA[…]]></MsgSignature><TimeStamp>…</TimeStamp><Nonce><![CDATA[…]]></Nonce></xml>
//! ```
//!
//! built by [`encrypted_reply`]. The plain passive text reply is built by [`text_reply`].

mod crypto;
mod signature;
mod xml;

pub use crypto::{
    decrypt_with_any, encrypted_reply, encrypted_reply_with, open_encrypted_push, Cipher,
};
pub use signature::{msg_signature, signature, verify_msg_signature, verify_signature};
pub use xml::{
    is_json, parse_envelope, parse_envelope_json, parse_push, parse_push_json, text_reply,
};

use serde::{Deserialize, Serialize};

/// Largest push body (plain or encrypted envelope) the codec accepts, in bytes.
pub const MAX_PUSH_BYTES: usize = 64 * 1024;

/// Why a WeChat request was refused. Every variant is the caller's fault: see [`WechatError::http_status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// The body is larger than [`MAX_PUSH_BYTES`].
    #[error("push body larger than {MAX_PUSH_BYTES} bytes")]
    TooLarge,
    /// The XML uses a construct the codec never accepts (DOCTYPE, entity declarations, undefined entity
    /// references, processing instructions).
    #[error("forbidden XML construct: {0}")]
    Forbidden(String),
    /// The body is not a well-formed push (bad XML, missing or invalid field; the text names it).
    #[error("malformed push: {0}")]
    Malformed(String),
    /// `signature` or `msg_signature` does not match.
    #[error("bad signature")]
    BadSignature,
    /// Safe-mode decryption failed (bad base64, bad key, bad length or padding, bad inner length).
    #[error("safe-mode crypto error: {0}")]
    Crypto(String),
    /// The decrypted payload names another app id / corp id than the configured one.
    #[error("app id mismatch")]
    AppIdMismatch,
}

impl WechatError {
    /// The HTTP status a webhook answers with: 401 for a bad signature, 400 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            WechatError::BadSignature => 401,
            _ => 400,
        }
    }
}

/// One decoded push: a user message or an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Push {
    /// The account's original id (`gh_…`), or the Mini Program's original id.
    pub to_user_name: String,
    /// The sender's OpenID.
    pub from_user_name: String,
    /// Seconds since the Unix epoch, as sent by WeChat.
    pub create_time: i64,
    /// `MsgId`, present on user messages, absent on events.
    pub msg_id: Option<String>,
    /// What the push carries.
    pub kind: PushKind,
}

/// The payload of a [`Push`], selected by `MsgType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushKind {
    /// `text`.
    Text { content: String },
    /// `image`.
    Image { pic_url: String, media_id: String },
    /// `voice`. `recognition` is present when speech recognition is on and produced a non-empty result.
    Voice {
        media_id: String,
        format: String,
        recognition: Option<String>,
    },
    /// `video`.
    Video {
        media_id: String,
        thumb_media_id: String,
    },
    /// `shortvideo`.
    ShortVideo {
        media_id: String,
        thumb_media_id: String,
    },
    /// `location`: `Location_X` is the latitude, `Location_Y` the longitude; `Scale` the map zoom.
    Location {
        latitude: f64,
        longitude: f64,
        scale: Option<u32>,
        label: String,
    },
    /// `link`.
    Link {
        title: String,
        description: String,
        url: String,
    },
    /// `miniprogrampage`: a Mini Program card sent in a customer-service session.
    MiniProgramPage {
        title: String,
        app_id: String,
        page_path: String,
        thumb_url: String,
        thumb_media_id: String,
    },
    /// `event`.
    Event(Event),
    /// Any other `MsgType`, accepted and kept by name.
    Other { msg_type: String },
}

/// An `MsgType=event` push, selected by `Event` (matched case-insensitively).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Event {
    /// `subscribe`. Following through a parametric QR code adds `EventKey` (`qrscene_<scene>`, kept as is)
    /// and the QR code's `Ticket`.
    Subscribe {
        event_key: Option<String>,
        ticket: Option<String>,
    },
    /// `unsubscribe`.
    Unsubscribe,
    /// `SCAN`: an existing follower scanned a parametric QR code; `EventKey` is the scene value.
    Scan {
        event_key: String,
        ticket: Option<String>,
    },
    /// `CLICK`: a custom-menu click.
    Click { event_key: String },
    /// `VIEW`: a custom-menu link; WeChat sends the URL in `EventKey`.
    View { url: String },
    /// `LOCATION`: the periodic location report.
    ReportLocation {
        latitude: f64,
        longitude: f64,
        precision: f64,
    },
    /// `user_enter_tempsession`: the user opened a Mini Program customer-service session.
    UserEnterTempSession { session_from: Option<String> },
    /// Any other event, kept by name as sent.
    Other { event: String },
}

impl Push {
    /// The key under which WeChat's retries of this push are deduplicated: `msg:<MsgId>` for messages,
    /// `evt:<FromUserName>:<CreateTime>` for events (WeChat's documented rule).
    pub fn dedupe_key(&self) -> String {
        match &self.msg_id {
            Some(id) => format!("msg:{id}"),
            None => format!("evt:{}:{}", self.from_user_name, self.create_time),
        }
    }

    /// True for `subscribe` events (a new follower).
    pub fn is_subscribe(&self) -> bool {
        matches!(self.kind, PushKind::Event(Event::Subscribe { .. }))
    }
}

/// The body of a safe-mode POST: the encrypted push and, when present, the addressee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `ToUserName` (absent in some WeCom callbacks).
    pub to_user_name: Option<String>,
    /// The base64 `Encrypt` value.
    pub encrypt: String,
}
