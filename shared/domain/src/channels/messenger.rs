//! Facebook Messenger Platform codec: webhook verification and parsing, Send API bodies, and the
//! classification of Graph API errors.
//!
//! Pure functions only: no I/O, no clock, no global state. Every function that depends on time takes
//! the current time as an argument.
//!
//! # Wire formats
//!
//! ## Verification request (GET)
//!
//! When the webhook is configured, Meta sends
//!
//! ```text
//! GET /webhook?hub.mode=subscribe&hub.verify_token=<token>&hub.challenge=<challenge>
//! ```
//!
//! The endpoint answers `200` with the challenge as the whole body when the mode is `subscribe` and the
//! token equals the one configured in the App Dashboard; otherwise `403`. See [`verify_challenge`]; the
//! token comparison takes the same time wherever the tokens differ and whatever their lengths.
//!
//! ## Event notifications (POST) and their signature
//!
//! Every notification carries
//!
//! ```text
//! X-Hub-Signature-256: sha256=<lowercase hex HMAC-SHA256(app secret, raw body bytes)>
//! ```
//!
//! The HMAC is over the body **exactly as received**. Meta sends non-ASCII characters escaped (`é` arrives
//! as the six bytes `\u00e9`), so a body that was parsed and re-serialised no longer verifies; neither
//! does one whose trailing whitespace was trimmed. See [`verify_signature`] and [`sign`]. A request
//! without the header is answered `401` ([`MessengerError::MissingSignature`]); a header that is
//! malformed or does not match is answered `403` ([`MessengerError::BadSignature`]). The legacy SHA-1
//! `X-Hub-Signature` header is not accepted.
//!
//! The body is JSON:
//!
//! ```json
//! {
//!   "object": "page",
//!   "entry": [
//!     {
//!       "id": "<PAGE_ID>",
//!       "time": 1458692752478,
//!       "messaging": [
//!         {
//!           "sender": {"id": "<PSID>"},
//!           "recipient": {"id": "<PAGE_ID>"},
//!           "timestamp": 1458692752478,
//!           "message": {"mid": "mid.1457764197618:41d102a3e1ae206a38", "text": "hello, world!"}
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! `object` is always `page` for Messenger; anything else is refused. Meta batches: one body may carry
//! several entries (one per page, or several for one page) and each entry several events, in
//! `messaging[]` and, for an app that is not the conversation's owner under the handover protocol, in
//! `standby[]`. [`parse_webhook`] returns them all, flattened, in body order (each entry's `messaging[]`
//! before its `standby[]`), each flagged with [`MessagingEvent::standby`].
//!
//! Each event names the sender (`sender.id`, the Page-scoped ID or PSID; `sender.user_ref` for some plugin
//! events), the recipient (`recipient.id`), a millisecond `timestamp`, and exactly one kind, chosen by the
//! key present: `message`, `postback`, `read`, `delivery`, `reaction`, `referral`, `optin`. Any other key
//! (for example `pass_thread_control` or `game_play`) becomes [`EventKind::Other`], accepted and named.
//!
//! * `message`: `mid`, optional `text`, `attachments[]` (`type` `image`, `audio`, `video`, `file` with
//!   `payload.url`; `location` with `payload.coordinates.lat` / `.long`; `fallback` with a `title` and
//!   `url` in `payload` or beside it, or no payload at all; `template` in echoes; other types are kept by
//!   name), `quick_reply.payload`, `reply_to.mid`. An **echo** (`is_echo: true`, with `app_id` and
//!   `metadata`) is a copy of a message the page itself sent: its sender is the page and its recipient the
//!   customer. See [`MessagingEvent::is_echo`].
//! * `postback`: `title`, `payload`, `mid` (recent API versions), `referral`.
//! * `read`: `watermark`; `delivery`: `watermark` and, sometimes, `mids[]` (delivery events may carry no
//!   `timestamp`: the watermark stands in for it).
//! * `reaction`: `mid` of the message reacted to, `action` (`react` / `unreact`), `reaction`, `emoji`.
//! * `referral`: `ref`, `source`, `type`, `referer_uri`, `ad_id`.
//! * `optin`: `ref`, `user_ref`, `type`, `payload`.
//!
//! Meta retries a notification that is not answered `200` within 20 seconds, so the same event can
//! arrive twice. [`MessagingEvent::dedupe_key`] is `mid:<mid>` for messages and for postbacks that carry a
//! `mid`, and `evt:<psid>:<timestamp>:<kind>` for everything else. Bodies larger than
//! [`MAX_BODY_BYTES`] are refused.
//!
//! Timestamps are accepted as JSON numbers or as strings of digits; a missing `timestamp` falls back to
//! the event's `read` / `delivery` watermark and then to the entry's `time`.
//!
//! ## Send API
//!
//! Replies are `POST https://graph.facebook.com/<api-version>/me/messages?access_token=<page token>` with
//! a JSON body; [`send_body`] builds the body:
//!
//! ```json
//! {"recipient": {"id": "<PSID>"}, "messaging_type": "RESPONSE", "message": {"text": "hello"}}
//! ```
//!
//! Within 24 hours of the customer's last message the page may answer freely (`messaging_type`
//! `RESPONSE`). From 24 hours up to 7 days a human agent may still answer with
//! `"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"` (the app needs Meta's Human Agent permission).
//! After 7 days nothing may be sent. [`window`] decides which applies. Text is limited to 2000 characters
//! per message; [`split_text`] cuts longer text into parts and [`send_bodies`] builds one body per part.
//! Attachments are sent by URL (`{"attachment": {"type": "image", "payload": {"url": …}}}`), cards as a
//! generic template (at most 80 characters of title and of subtitle and at most 3 buttons, by Meta's
//! limits; the codec does not enforce them).
//!
//! A failed call answers with a Graph API error, `{"error": {"message", "type", "code", "error_subcode",
//! "is_transient", "fbtrace_id"}}`. [`classify_send_error`] says whether to retry, to alert an operator
//! (bad token or permissions), or to give up on this message.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Largest notification body [`parse_webhook`] accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Largest text of one Send API message, in UTF-16 code units (see [`split_text`]).
pub const MAX_TEXT_LEN: usize = 2000;

/// The name of the signature header, in lowercase as HTTP/2 and API Gateway deliver it.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The Graph API `tag` that allows a human agent to answer up to 7 days after the customer's last message.
pub const HUMAN_AGENT_TAG: &str = "HUMAN_AGENT";

/// 24 hours in milliseconds: the standard messaging window.
pub const RESPONSE_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// 7 days in milliseconds: the end of the human-agent window.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;

type HmacSha256 = Hmac<Sha256>;

/// Why a Messenger request was refused, or why a reply may not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessengerError {
    /// The verification request has another `hub.mode` than `subscribe`, or a `hub.verify_token` that
    /// does not match the configured one (or no token is configured).
    #[error("verification refused")]
    Forbidden,
    /// The notification has no `X-Hub-Signature-256` header (or an empty one).
    #[error("missing X-Hub-Signature-256")]
    MissingSignature,
    /// The signature header is malformed (no `sha256=` prefix, not 64 hex digits), does not match the
    /// body, or the configured app secret is empty.
    #[error("bad signature")]
    BadSignature,
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// The request is not a well-formed Messenger request (the text names what is wrong and where).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// More than 7 days have passed since the customer's last message: nothing may be sent.
    #[error(
        "the Messenger window is closed: the customer's last message is {elapsed_ms} ms old, \
         replies are allowed for {HUMAN_AGENT_WINDOW_MS} ms (7 days)"
    )]
    WindowClosed {
        /// Milliseconds between the customer's last message and now.
        elapsed_ms: i64,
    },
}

impl MessengerError {
    /// The HTTP status to answer with: 403 for a refused verification and for a malformed or wrong
    /// signature (Meta's guidance for a failed check), 401 when the signature is missing, 413 for an
    /// oversized body, 400 for a malformed one, and 409 for a closed window (a console request that
    /// cannot be carried out in the conversation's current state).
    pub fn http_status(&self) -> u16 {
        match self {
            MessengerError::Forbidden | MessengerError::BadSignature => 403,
            MessengerError::MissingSignature => 401,
            MessengerError::TooLarge => 413,
            MessengerError::Malformed(_) => 400,
            MessengerError::WindowClosed { .. } => 409,
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Verification and signatures
// ---------------------------------------------------------------------------------------------------

/// Compares two secrets in time independent of their contents and of where they differ: both are
/// hashed first, so even their lengths are not revealed.
fn ct_eq_secret(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Checks a verification request (`hub.mode`, `hub.verify_token`, `hub.challenge` from the query string)
/// and returns the challenge to answer with, verbatim, as a `200` body.
///
/// A mode other than `subscribe`, a missing or wrong token, or an empty `expected_token` (nothing
/// configured) is [`MessengerError::Forbidden`]; a missing or empty challenge is
/// [`MessengerError::Malformed`].
///
/// ```
/// use kefu_domain::channels::messenger::verify_challenge;
/// let answer = verify_challenge(Some("subscribe"), Some("s3cret"), Some("1158201444"), "s3cret");
/// assert_eq!(answer, Ok("1158201444"));
/// assert!(verify_challenge(Some("subscribe"), Some("guess"), Some("1158201444"), "s3cret").is_err());
/// ```
pub fn verify_challenge<'a>(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Result<&'a str, MessengerError> {
    if mode != Some("subscribe") || expected_token.is_empty() {
        return Err(MessengerError::Forbidden);
    }
    let token = verify_token.ok_or(MessengerError::Forbidden)?;
    if !ct_eq_secret(token.as_bytes(), expected_token.as_bytes()) {
        return Err(MessengerError::Forbidden);
    }
    match challenge {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(MessengerError::Malformed("missing hub.challenge".into())),
    }
}

fn mac(app_secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// The `X-Hub-Signature-256` value Meta sends with `raw_body`: `sha256=` and the lowercase hex
/// HMAC-SHA256 of the bytes under the app secret.
///
/// ```
/// use kefu_domain::channels::messenger::sign;
/// assert_eq!(
///     sign(b"It's a Secret to Everybody", b"Hello, World!"),
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/// );
/// ```
pub fn sign(app_secret: &[u8], raw_body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(app_secret, raw_body).finalize().into_bytes())
    )
}

/// Checks the `X-Hub-Signature-256` header of a notification against the raw body bytes, in constant
/// time.
///
/// The algorithm name is matched case-insensitively and the hex digits may be in either case; surrounding
/// whitespace is ignored. An absent or blank header is [`MessengerError::MissingSignature`]; anything
/// else that does not verify, including any header when `app_secret` is empty, is
/// [`MessengerError::BadSignature`].
pub fn verify_signature(
    app_secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), MessengerError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(MessengerError::MissingSignature)?;
    if app_secret.is_empty() {
        return Err(MessengerError::BadSignature);
    }
    let (algorithm, hex_digest) = header.split_once('=').ok_or(MessengerError::BadSignature)?;
    if !algorithm.eq_ignore_ascii_case("sha256") || hex_digest.len() != 64 {
        return Err(MessengerError::BadSignature);
    }
    let mut received = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut received).map_err(|_| MessengerError::BadSignature)?;
    mac(app_secret, raw_body)
        .verify_slice(&received)
        .map_err(|_| MessengerError::BadSignature)
}

// ---------------------------------------------------------------------------------------------------
// Webhook events
// ---------------------------------------------------------------------------------------------------

/// One event of a notification, with the page it was delivered for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagingEvent {
    /// `entry[].id`: the page the entry is about.
    pub page_id: String,
    /// `sender.id`: the customer's PSID, or the page id for an echo. Absent for events that identify the
    /// sender only by `user_ref`, and for checkbox-plugin opt-ins.
    pub sender_id: Option<String>,
    /// `sender.user_ref`, for events from plugins that do not know the PSID.
    pub sender_user_ref: Option<String>,
    /// `recipient.id`: the page id, or the customer's PSID for an echo.
    pub recipient_id: Option<String>,
    /// Milliseconds since the Unix epoch (see the module docs for the fallbacks).
    pub timestamp_ms: i64,
    /// True when the event came in `standby[]` (the app is not the conversation's owner).
    pub standby: bool,
    /// What happened.
    pub kind: EventKind,
}

/// The kind of a [`MessagingEvent`], chosen by the key present in the event object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// `message`: a message from the customer, or an echo of one the page sent.
    Message(Message),
    /// `postback`: a postback button, Get Started, or persistent-menu item was tapped.
    Postback(Postback),
    /// `read`: the customer read every message sent up to `watermark` (ms).
    Read { watermark: i64 },
    /// `delivery`: messages up to `watermark` (ms) were delivered; `mids` when Meta sends them.
    Delivery { mids: Vec<String>, watermark: i64 },
    /// `reaction`.
    Reaction(Reaction),
    /// `referral`: the customer came back to an existing conversation through a link, ad or plugin.
    Referral(Referral),
    /// `optin`.
    Optin(Optin),
    /// Any other event, accepted and named by its key.
    Other { kind: String },
}

/// The `message` object of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `mid`: the message id, unique per message.
    pub mid: String,
    /// `text`, absent for attachment-only messages.
    pub text: Option<String>,
    /// `attachments[]`, in order.
    pub attachments: Vec<Attachment>,
    /// `quick_reply.payload`: set when the message is a tapped quick reply.
    pub quick_reply_payload: Option<String>,
    /// `reply_to.mid`: the message this one replies to.
    pub reply_to_mid: Option<String>,
    /// `is_echo`: the page itself sent this message.
    pub is_echo: bool,
    /// `app_id` (echoes): the app that sent the message.
    pub app_id: Option<String>,
    /// `metadata` (echoes): the string passed to the Send API as `metadata`.
    pub metadata: Option<String>,
}

/// One entry of `message.attachments[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Attachment {
    /// `image` (stickers are images too, with `payload.sticker_id`).
    Image { url: Option<String> },
    /// `audio` (voice messages).
    Audio { url: Option<String> },
    /// `video`.
    Video { url: Option<String> },
    /// `file`.
    File { url: Option<String> },
    /// `location`: `payload.coordinates.lat` / `.long`.
    Location {
        latitude: f64,
        longitude: f64,
        title: Option<String>,
        url: Option<String>,
    },
    /// `fallback`: a shared link or an unsupported share (then with neither title nor url).
    Fallback {
        title: Option<String>,
        url: Option<String>,
    },
    /// `template` (seen in echoes): the template payload as sent.
    Template {
        template_type: Option<String>,
        payload: Value,
    },
    /// Any other type (`sticker`, `reel`, `ig_reel`, `post`, `appointment_booking`, …), kept by name.
    Other { kind: String, url: Option<String> },
}

/// The `postback` object of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Postback {
    /// `mid`, present in recent API versions.
    pub mid: Option<String>,
    /// `title`: the label of the tapped button.
    pub title: Option<String>,
    /// `payload`: the developer-defined payload of the button.
    pub payload: Option<String>,
    /// `referral`: how the customer entered the conversation (Get Started after a link, ad, or code).
    pub referral: Option<Referral>,
}

/// The `reaction` object of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// `mid`: the message reacted to.
    pub mid: String,
    /// `action`: `react` or `unreact`.
    pub action: String,
    /// `reaction`: `smile`, `angry`, `sad`, `wow`, `love`, `like`, `dislike` or `other`.
    pub reaction: Option<String>,
    /// `emoji`.
    pub emoji: Option<String>,
}

/// A `referral` object (an event of its own, or inside a postback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Referral {
    /// `ref`: the developer-defined parameter of the link, ad or code.
    pub ref_param: Option<String>,
    /// `source`: `SHORTLINK`, `ADS`, `CUSTOMER_CHAT_PLUGIN`, …
    pub source: Option<String>,
    /// `type`: `OPEN_THREAD`.
    pub referral_type: Option<String>,
    /// `referer_uri`: the website the customer came from (plugins).
    pub referer_uri: Option<String>,
    /// `ad_id` (ads).
    pub ad_id: Option<String>,
}

/// The `optin` object of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Optin {
    /// `ref`: the plugin's `data-ref`.
    pub ref_param: Option<String>,
    /// `user_ref` (checkbox plugin).
    pub user_ref: Option<String>,
    /// `type` (`notification_messages` for marketing opt-ins).
    pub optin_type: Option<String>,
    /// `payload` (marketing opt-ins).
    pub payload: Option<String>,
}

impl EventKind {
    /// The event's key on the wire: `message`, `postback`, `read`, `delivery`, `reaction`, `referral`,
    /// `optin`, or the key of an [`EventKind::Other`].
    pub fn name(&self) -> &str {
        match self {
            EventKind::Message(_) => "message",
            EventKind::Postback(_) => "postback",
            EventKind::Read { .. } => "read",
            EventKind::Delivery { .. } => "delivery",
            EventKind::Reaction(_) => "reaction",
            EventKind::Referral(_) => "referral",
            EventKind::Optin(_) => "optin",
            EventKind::Other { kind } => kind,
        }
    }
}

impl MessagingEvent {
    /// True for an echo of a message the page itself sent (`message.is_echo`). Echoes must not be
    /// treated as customer messages.
    pub fn is_echo(&self) -> bool {
        matches!(&self.kind, EventKind::Message(m) if m.is_echo)
    }

    /// The customer's PSID: the recipient of an echo, the sender of anything else.
    pub fn psid(&self) -> Option<&str> {
        if self.is_echo() {
            self.recipient_id.as_deref()
        } else {
            self.sender_id.as_deref()
        }
    }

    /// The key under which Meta's redeliveries of this event are deduplicated: `mid:<mid>` for messages
    /// (echoes included) and for postbacks that carry a `mid`; otherwise
    /// `evt:<psid>:<timestamp>:<kind>`, where the PSID falls back to the sender's `user_ref`, then to
    /// the opt-in's `user_ref`, and is empty when none is known.
    pub fn dedupe_key(&self) -> String {
        match &self.kind {
            EventKind::Message(m) => return format!("mid:{}", m.mid),
            EventKind::Postback(Postback { mid: Some(mid), .. }) => return format!("mid:{mid}"),
            _ => {}
        }
        let who = self
            .psid()
            .or(self.sender_user_ref.as_deref())
            .or(match &self.kind {
                EventKind::Optin(o) => o.user_ref.as_deref(),
                _ => None,
            })
            .unwrap_or("");
        format!("evt:{who}:{}:{}", self.timestamp_ms, self.kind.name())
    }
}

/// Where in the body a value sits, for error messages.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: PathSegment<'a>,
}

enum PathSegment<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    fn root(key: &'a str) -> Self {
        Path {
            parent: None,
            segment: PathSegment::Key(key),
        }
    }

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: PathSegment::Key(key),
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: PathSegment::Index(index),
        }
    }

    fn render(&self) -> String {
        let mut out = match self.parent {
            Some(parent) => parent.render(),
            None => String::new(),
        };
        match self.segment {
            PathSegment::Key(k) if out.is_empty() => out.push_str(k),
            PathSegment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
        out
    }

    fn malformed(&self, what: &str) -> MessengerError {
        MessengerError::Malformed(format!("{}: {what}", self.render()))
    }
}

/// A string field; JSON numbers are accepted and rendered as written (ids are sometimes numbers).
/// `null` counts as absent.
fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    at: &Path,
) -> Result<Option<String>, MessengerError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(at.key(key).malformed("expected a string")),
    }
}

fn req_string(obj: &Map<String, Value>, key: &str, at: &Path) -> Result<String, MessengerError> {
    opt_string(obj, key, at)?.ok_or_else(|| at.key(key).malformed("missing"))
}

/// An integer field, as a JSON integer or a string of digits. `null` counts as absent.
fn opt_i64(obj: &Map<String, Value>, key: &str, at: &Path) -> Result<Option<i64>, MessengerError> {
    let bad = || at.key(key).malformed("expected an integer");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn opt_f64(obj: &Map<String, Value>, key: &str, at: &Path) -> Result<Option<f64>, MessengerError> {
    let bad = || at.key(key).malformed("expected a number");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str, at: &Path) -> Result<bool, MessengerError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(at.key(key).malformed("expected a boolean")),
    }
}

/// An object field; `null` counts as absent.
fn opt_object<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    at: &Path,
) -> Result<Option<&'v Map<String, Value>>, MessengerError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(at.key(key).malformed("expected an object")),
    }
}

/// An array field; `null` counts as empty.
fn opt_array<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    at: &Path,
) -> Result<&'v [Value], MessengerError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(at.key(key).malformed("expected an array")),
    }
}

fn as_object<'v>(value: &'v Value, at: &Path) -> Result<&'v Map<String, Value>, MessengerError> {
    value
        .as_object()
        .ok_or_else(|| at.malformed("expected an object"))
}

/// Parses a notification body into its events, in body order.
///
/// Refuses bodies over [`MAX_BODY_BYTES`] ([`MessengerError::TooLarge`]), bodies that are not JSON, whose
/// `object` is not `page`, or whose events lack what the codec relies on (a message's `mid`, a usable
/// timestamp) or carry fields of the wrong JSON type ([`MessengerError::Malformed`], naming the path).
/// Unknown event kinds and attachment types are accepted. The signature must be checked first, with
/// [`verify_signature`], on the same bytes.
pub fn parse_webhook(raw_body: &[u8]) -> Result<Vec<MessagingEvent>, MessengerError> {
    if raw_body.len() > MAX_BODY_BYTES {
        return Err(MessengerError::TooLarge);
    }
    let root: Value = serde_json::from_slice(raw_body)
        .map_err(|e| MessengerError::Malformed(format!("invalid JSON: {e}")))?;
    let root_path = Path::root("body");
    let root = as_object(&root, &root_path)?;
    match root.get("object") {
        Some(Value::String(object)) if object == "page" => {}
        Some(Value::String(object)) => {
            return Err(MessengerError::Malformed(format!(
                "object is {object:?}, expected \"page\""
            )))
        }
        _ => return Err(root_path.key("object").malformed("missing")),
    }
    let entry_path = Path::root("entry");
    let entries = match root.get("entry") {
        Some(Value::Array(entries)) => entries,
        _ => return Err(entry_path.malformed("missing or not an array")),
    };

    let mut events = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = entry_path.index(i);
        let entry = as_object(entry, &at)?;
        let page_id = req_string(entry, "id", &at)?;
        let entry_time = opt_i64(entry, "time", &at)?;
        for (list, standby) in [("messaging", false), ("standby", true)] {
            let list_path = at.key(list);
            for (j, event) in opt_array(entry, list, &at)?.iter().enumerate() {
                let at = list_path.index(j);
                let event = as_object(event, &at)?;
                events.push(parse_event(event, &page_id, entry_time, standby, &at)?);
            }
        }
    }
    Ok(events)
}

/// The keys every event carries next to its kind.
const ENVELOPE_KEYS: &[&str] = &["sender", "recipient", "timestamp"];

fn parse_event(
    event: &Map<String, Value>,
    page_id: &str,
    entry_time: Option<i64>,
    standby: bool,
    at: &Path,
) -> Result<MessagingEvent, MessengerError> {
    let (sender_id, sender_user_ref) = match opt_object(event, "sender", at)? {
        Some(sender) => {
            let sp = at.key("sender");
            (
                opt_string(sender, "id", &sp)?,
                opt_string(sender, "user_ref", &sp)?,
            )
        }
        None => (None, None),
    };
    let recipient_id = match opt_object(event, "recipient", at)? {
        Some(recipient) => opt_string(recipient, "id", &at.key("recipient"))?,
        None => None,
    };

    let kind = if let Some(m) = opt_object(event, "message", at)? {
        EventKind::Message(parse_message(m, &at.key("message"))?)
    } else if let Some(p) = opt_object(event, "postback", at)? {
        let pp = at.key("postback");
        EventKind::Postback(Postback {
            mid: opt_string(p, "mid", &pp)?,
            title: opt_string(p, "title", &pp)?,
            payload: opt_string(p, "payload", &pp)?,
            referral: opt_object(p, "referral", &pp)?
                .map(|r| parse_referral(r, &pp.key("referral")))
                .transpose()?,
        })
    } else if let Some(r) = opt_object(event, "read", at)? {
        let rp = at.key("read");
        EventKind::Read {
            watermark: opt_i64(r, "watermark", &rp)?
                .ok_or_else(|| rp.key("watermark").malformed("missing"))?,
        }
    } else if let Some(d) = opt_object(event, "delivery", at)? {
        let dp = at.key("delivery");
        let mids_path = dp.key("mids");
        let mids = opt_array(d, "mids", &dp)?
            .iter()
            .enumerate()
            .map(|(k, mid)| {
                mid.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| mids_path.index(k).malformed("expected a string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        EventKind::Delivery {
            mids,
            watermark: opt_i64(d, "watermark", &dp)?
                .ok_or_else(|| dp.key("watermark").malformed("missing"))?,
        }
    } else if let Some(r) = opt_object(event, "reaction", at)? {
        let rp = at.key("reaction");
        EventKind::Reaction(Reaction {
            mid: req_string(r, "mid", &rp)?,
            action: req_string(r, "action", &rp)?,
            reaction: opt_string(r, "reaction", &rp)?,
            emoji: opt_string(r, "emoji", &rp)?,
        })
    } else if let Some(r) = opt_object(event, "referral", at)? {
        EventKind::Referral(parse_referral(r, &at.key("referral"))?)
    } else if let Some(o) = opt_object(event, "optin", at)? {
        let op = at.key("optin");
        EventKind::Optin(Optin {
            ref_param: opt_string(o, "ref", &op)?,
            user_ref: opt_string(o, "user_ref", &op)?,
            optin_type: opt_string(o, "type", &op)?,
            payload: opt_string(o, "payload", &op)?,
        })
    } else {
        let kind = event
            .keys()
            .find(|k| !ENVELOPE_KEYS.contains(&k.as_str()))
            .cloned()
            .unwrap_or_default();
        EventKind::Other { kind }
    };

    let watermark = match &kind {
        EventKind::Read { watermark } | EventKind::Delivery { watermark, .. } => Some(*watermark),
        _ => None,
    };
    let timestamp_ms = opt_i64(event, "timestamp", at)?
        .or(watermark)
        .or(entry_time)
        .ok_or_else(|| at.key("timestamp").malformed("missing"))?;

    Ok(MessagingEvent {
        page_id: page_id.to_owned(),
        sender_id,
        sender_user_ref,
        recipient_id,
        timestamp_ms,
        standby,
        kind,
    })
}

fn parse_message(m: &Map<String, Value>, at: &Path) -> Result<Message, MessengerError> {
    let attachments_path = at.key("attachments");
    let attachments = opt_array(m, "attachments", at)?
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let ap = attachments_path.index(i);
            parse_attachment(as_object(a, &ap)?, &ap)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quick_reply_payload = match opt_object(m, "quick_reply", at)? {
        Some(q) => opt_string(q, "payload", &at.key("quick_reply"))?,
        None => None,
    };
    let reply_to_mid = match opt_object(m, "reply_to", at)? {
        Some(r) => opt_string(r, "mid", &at.key("reply_to"))?,
        None => None,
    };
    Ok(Message {
        mid: req_string(m, "mid", at)?,
        text: opt_string(m, "text", at)?,
        attachments,
        quick_reply_payload,
        reply_to_mid,
        is_echo: opt_bool(m, "is_echo", at)?,
        app_id: opt_string(m, "app_id", at)?,
        metadata: opt_string(m, "metadata", at)?,
    })
}

fn parse_attachment(a: &Map<String, Value>, at: &Path) -> Result<Attachment, MessengerError> {
    let kind = req_string(a, "type", at)?;
    let payload_path = at.key("payload");
    let payload = opt_object(a, "payload", at)?;
    let payload_string = |key: &str| match payload {
        Some(p) => opt_string(p, key, &payload_path),
        None => Ok(None),
    };
    // `title` and `url` sit in the payload (v6.0+ fallbacks) or next to it (older versions, echoes).
    let title = || -> Result<Option<String>, MessengerError> {
        Ok(payload_string("title")?.or(opt_string(a, "title", at)?))
    };
    let url = || -> Result<Option<String>, MessengerError> {
        Ok(payload_string("url")?.or(opt_string(a, "url", at)?))
    };
    Ok(match kind.as_str() {
        "image" => Attachment::Image {
            url: payload_string("url")?,
        },
        "audio" => Attachment::Audio {
            url: payload_string("url")?,
        },
        "video" => Attachment::Video {
            url: payload_string("url")?,
        },
        "file" => Attachment::File {
            url: payload_string("url")?,
        },
        "location" => {
            let coordinates_path = payload_path.key("coordinates");
            let coordinates = payload
                .map(|p| opt_object(p, "coordinates", &payload_path))
                .transpose()?
                .flatten()
                .ok_or_else(|| coordinates_path.malformed("missing"))?;
            let coordinate = |key: &str| {
                opt_f64(coordinates, key, &coordinates_path)?
                    .ok_or_else(|| coordinates_path.key(key).malformed("missing"))
            };
            Attachment::Location {
                latitude: coordinate("lat")?,
                longitude: coordinate("long")?,
                title: title()?,
                url: url()?,
            }
        }
        "fallback" => Attachment::Fallback {
            title: title()?,
            url: url()?,
        },
        "template" => Attachment::Template {
            template_type: payload_string("template_type")?,
            payload: payload.cloned().map(Value::Object).unwrap_or(Value::Null),
        },
        _ => Attachment::Other {
            url: payload_string("url")?,
            kind,
        },
    })
}

fn parse_referral(r: &Map<String, Value>, at: &Path) -> Result<Referral, MessengerError> {
    Ok(Referral {
        ref_param: opt_string(r, "ref", at)?,
        source: opt_string(r, "source", at)?,
        referral_type: opt_string(r, "type", at)?,
        referer_uri: opt_string(r, "referer_uri", at)?,
        ad_id: opt_string(r, "ad_id", at)?,
    })
}

// ---------------------------------------------------------------------------------------------------
// Send API
// ---------------------------------------------------------------------------------------------------

/// Which messaging window a reply falls in (see [`window`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// Less than 24 hours since the customer's last message: `messaging_type: RESPONSE`.
    Response,
    /// From 24 hours up to 7 days: `messaging_type: MESSAGE_TAG`, `tag: HUMAN_AGENT`.
    HumanAgent,
}

/// The window a reply sent at `now_ms` falls in, given the customer's last message at
/// `last_customer_message_ms` (both in ms since the Unix epoch).
///
/// Less than 24 hours (including a last message "in the future", from clock skew) is
/// [`Window::Response`]; from exactly 24 hours to exactly 7 days is [`Window::HumanAgent`]; later is
/// [`MessengerError::WindowClosed`].
pub fn window(last_customer_message_ms: i64, now_ms: i64) -> Result<Window, MessengerError> {
    let elapsed_ms = now_ms.saturating_sub(last_customer_message_ms);
    if elapsed_ms < RESPONSE_WINDOW_MS {
        Ok(Window::Response)
    } else if elapsed_ms <= HUMAN_AGENT_WINDOW_MS {
        Ok(Window::HumanAgent)
    } else {
        Err(MessengerError::WindowClosed { elapsed_ms })
    }
}

/// A URL button of a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlButton {
    /// The page the button opens.
    pub url: String,
    /// The button's label (Meta allows 20 characters).
    pub title: String,
}

/// A card, sent as a one-element generic template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// Title (Meta allows 80 characters).
    pub title: String,
    /// Subtitle (Meta allows 80 characters).
    pub subtitle: Option<String>,
    /// Image shown above the title.
    pub image_url: Option<String>,
    /// URL buttons (Meta allows 3).
    pub buttons: Vec<UrlButton>,
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SendContent {
    /// Plain text.
    Text(String),
    /// An image by URL.
    Image { url: String },
    /// An audio clip by URL.
    Audio { url: String },
    /// A file by URL.
    File { url: String },
    /// A card (generic template).
    Template(Card),
}

fn attachment(kind: &str, url: &str) -> Value {
    json!({"attachment": {"type": kind, "payload": {"url": url}}})
}

fn message_object(content: &SendContent) -> Value {
    match content {
        SendContent::Text(text) => json!({ "text": text }),
        SendContent::Image { url } => attachment("image", url),
        SendContent::Audio { url } => attachment("audio", url),
        SendContent::File { url } => attachment("file", url),
        SendContent::Template(card) => {
            let mut element = Map::new();
            element.insert("title".into(), json!(card.title));
            if let Some(subtitle) = &card.subtitle {
                element.insert("subtitle".into(), json!(subtitle));
            }
            if let Some(image_url) = &card.image_url {
                element.insert("image_url".into(), json!(image_url));
            }
            if !card.buttons.is_empty() {
                let buttons: Vec<Value> = card
                    .buttons
                    .iter()
                    .map(|b| json!({"type": "web_url", "url": b.url, "title": b.title}))
                    .collect();
                element.insert("buttons".into(), Value::Array(buttons));
            }
            json!({
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [Value::Object(element)]}
                }
            })
        }
    }
}

/// The Send API body for one message to `psid` in `window`. Text is sent as given, even over
/// [`MAX_TEXT_LEN`]; use [`send_bodies`] to split it.
///
/// ```
/// use kefu_domain::channels::messenger::{send_body, SendContent, Window};
/// let body = send_body("1254477777772919", &SendContent::Text("hello".into()), Window::HumanAgent);
/// assert_eq!(
///     body,
///     serde_json::json!({
///         "recipient": {"id": "1254477777772919"},
///         "messaging_type": "MESSAGE_TAG",
///         "tag": "HUMAN_AGENT",
///         "message": {"text": "hello"}
///     })
/// );
/// ```
pub fn send_body(psid: &str, content: &SendContent, window: Window) -> Value {
    let mut body = Map::new();
    body.insert("recipient".into(), json!({ "id": psid }));
    match window {
        Window::Response => {
            body.insert("messaging_type".into(), json!("RESPONSE"));
        }
        Window::HumanAgent => {
            body.insert("messaging_type".into(), json!("MESSAGE_TAG"));
            body.insert("tag".into(), json!(HUMAN_AGENT_TAG));
        }
    }
    body.insert("message".into(), message_object(content));
    Value::Object(body)
}

/// The Send API bodies for `content`, in sending order: one per part of [`split_text`] for text (none
/// for empty text), exactly one for anything else.
pub fn send_bodies(psid: &str, content: &SendContent, window: Window) -> Vec<Value> {
    match content {
        SendContent::Text(text) => split_text(text)
            .into_iter()
            .map(|part| send_body(psid, &SendContent::Text(part.to_owned()), window))
            .collect(),
        other => vec![send_body(psid, other, window)],
    }
}

/// Splits `text` into parts of at most [`MAX_TEXT_LEN`] (see [`split_text_max`]).
pub fn split_text(text: &str) -> Vec<&str> {
    split_text_max(text, MAX_TEXT_LEN)
}

/// Splits `text` into consecutive parts, each at most `max_len` UTF-16 code units long, that concatenate
/// back to `text` exactly. Empty text gives no parts.
///
/// Length is counted in UTF-16 code units, which is never less than the count in Unicode scalar values,
/// so a part fits whichever way the limit is counted. A part ends, by preference, after the last
/// whitespace or CJK / full-width punctuation (`。`, `，`, `！`, …) in its second half; text without such a
/// place (a long run of CJK) is cut at the limit. A cut never falls inside a UTF-8 sequence, and never
/// inside a user-perceived character as far as the codec can tell without Unicode tables: not before a
/// combining mark, variation selector, emoji modifier, tag character, Hangul conjoining vowel or final,
/// kana voiced-sound mark or zero-width joiner, not after a zero-width joiner, not between a CR and its LF,
/// and not inside a pair of regional indicators (a flag). Only a single such character longer than
/// `max_len` is cut inside, at a scalar boundary. `max_len` 0 is treated as 1.
pub fn split_text_max(text: &str, max_len: usize) -> Vec<&str> {
    let max_len = max_len.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The longest prefix within the limit (at least one scalar, so that the loop always advances).
        let mut units = 0;
        let mut hard = rest.len();
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > max_len {
                hard = if i == 0 { c.len_utf8() } else { i };
                break;
            }
            units += c.len_utf16();
        }
        if hard == rest.len() {
            parts.push(rest);
            break;
        }
        let mut cut = hard;
        while cut > 0 && !is_boundary(rest, cut) {
            cut = floor_char_boundary(rest, cut - 1);
        }
        if cut == 0 {
            cut = hard;
        }
        if let Some(soft) = soft_break(rest, cut, max_len) {
            cut = soft;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// The last break after whitespace or CJK punctuation within `text[..cut]` whose prefix is at least half
/// of `max_len` long.
fn soft_break(text: &str, cut: usize, max_len: usize) -> Option<usize> {
    let (i, c) = text[..cut].char_indices().rev().find(|&(i, c)| {
        let after = i + c.len_utf8();
        (c.is_whitespace() || is_cjk_punctuation(c)) && is_boundary(text, after)
    })?;
    let after = i + c.len_utf8();
    let units: usize = text[..after].chars().map(char::len_utf16).sum();
    (after < cut && units * 2 >= max_len).then_some(after)
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// CJK symbols and punctuation, and full-width punctuation: places where a CJK text may be broken.
fn is_cjk_punctuation(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}'
        | '\u{FF3B}'..='\u{FF40}' | '\u{FF5B}'..='\u{FF65}')
}

/// Characters that attach to the one before them.
fn is_extending(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'        // combining diacritical marks
        | '\u{0483}'..='\u{0489}'      // Cyrillic combining marks
        | '\u{0591}'..='\u{05BD}'      // Hebrew points
        | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' // Arabic marks
        | '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' // Devanagari signs and vowel signs
        | '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}' // Thai marks
        | '\u{1160}'..='\u{11FF}'      // Hangul conjoining vowels and finals
        | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' // combining marks, extended and supplement
        | '\u{200C}' | '\u{200D}'      // zero-width non-joiner and joiner
        | '\u{20D0}'..='\u{20FF}'      // combining marks for symbols (keycaps)
        | '\u{3099}' | '\u{309A}'      // kana voiced-sound marks
        | '\u{D7B0}'..='\u{D7FF}'      // Hangul jamo extended-B
        | '\u{FE00}'..='\u{FE0F}'      // variation selectors
        | '\u{FE20}'..='\u{FE2F}'      // combining half marks
        | '\u{1F3FB}'..='\u{1F3FF}'    // emoji skin-tone modifiers
        | '\u{E0020}'..='\u{E007F}'    // tags (subdivision flags)
        | '\u{E0100}'..='\u{E01EF}'    // variation selectors supplement
    )
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// May `text` be cut at byte `index` (a char boundary) without splitting a user-perceived character?
fn is_boundary(text: &str, index: usize) -> bool {
    if index == 0 || index >= text.len() {
        return true;
    }
    let before = &text[..index];
    let prev = before.chars().next_back().expect("index > 0");
    let next = text[index..].chars().next().expect("index < len");
    if is_extending(next) || prev == '\u{200D}' || (prev == '\r' && next == '\n') {
        return false;
    }
    if is_regional_indicator(prev) && is_regional_indicator(next) {
        // Indicators pair up from the start of their run: cut only after an even number of them.
        let run = before
            .chars()
            .rev()
            .take_while(|&c| is_regional_indicator(c))
            .count();
        return run % 2 == 0;
    }
    true
}

// ---------------------------------------------------------------------------------------------------
// Send API errors
// ---------------------------------------------------------------------------------------------------

/// What to do about a failed Send API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendErrorClass {
    /// Rate limited or a temporary fault at Meta: retry later, with backoff.
    Retryable,
    /// The page token or the app's permissions are wrong: retrying will not help, an operator must act.
    Misconfigured,
    /// This message cannot be delivered (outside the window, customer unavailable, invalid request):
    /// give up on it and tell the agent.
    Rejected,
}

/// The `error` object of a Graph API error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphError {
    /// `error.code`.
    pub code: Option<i64>,
    /// `error.error_subcode`.
    pub subcode: Option<i64>,
    /// `error.message`.
    pub message: Option<String>,
    /// `error.type` (`OAuthException`, …).
    pub error_type: Option<String>,
    /// `error.is_transient`.
    pub is_transient: bool,
    /// `error.fbtrace_id`, to quote to Meta support.
    pub fbtrace_id: Option<String>,
}

/// Reads the `error` object of a Graph API response body; `None` when there is none. Fields of an
/// unexpected type are treated as absent.
pub fn graph_error(body: &Value) -> Option<GraphError> {
    let error = body.get("error")?.as_object()?;
    let int = |key: &str| match error.get(key) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let string = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(GraphError {
        code: int("code"),
        subcode: int("error_subcode"),
        message: string("message"),
        error_type: string("type"),
        is_transient: error
            .get("is_transient")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        fbtrace_id: string("fbtrace_id"),
    })
}

/// Classifies a failed Send API call from its HTTP status and JSON body (`Value::Null` when the body
/// was not JSON).
///
/// By `error.code`: 1 (unknown error, possibly temporary), 2 (temporary service issue), 4 (app rate
/// limit), 17 (user rate limit), 32 (page rate limit), 341 (application limit reached) and 613
/// (call-rate limit) are [`SendErrorClass::Retryable`]; 190 (invalid or expired access token) is
/// [`SendErrorClass::Misconfigured`]; 10 with subcode 2018278 or 2018065 (message sent outside the
/// allowed window), 551 (person unavailable), 200 with subcode 1545041 (person unavailable) and 100
/// (invalid parameter) are [`SendErrorClass::Rejected`]; 10 and 200 with other subcodes are permission
/// errors, [`SendErrorClass::Misconfigured`]. For other codes, `is_transient: true` means retryable;
/// then the status decides: 5xx, 429 and 408 retryable, 401 and 403 misconfigured, anything else
/// rejected.
pub fn classify_send_error(status: u16, body: &Value) -> SendErrorClass {
    let error = graph_error(body);
    if let Some(GraphError {
        code: Some(code),
        subcode,
        ..
    }) = &error
    {
        match (*code, *subcode) {
            (1 | 2 | 4 | 17 | 32 | 341 | 613, _) => return SendErrorClass::Retryable,
            (190, _) => return SendErrorClass::Misconfigured,
            (10, Some(2018278 | 2018065)) | (200, Some(1545041)) | (551 | 100, _) => {
                return SendErrorClass::Rejected
            }
            (10 | 200, _) => return SendErrorClass::Misconfigured,
            _ => {}
        }
    }
    if error.is_some_and(|e| e.is_transient) {
        return SendErrorClass::Retryable;
    }
    match status {
        500..=599 | 429 | 408 => SendErrorClass::Retryable,
        401 | 403 => SendErrorClass::Misconfigured,
        _ => SendErrorClass::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_indicator_pairs_stay_together() {
        // Three flags: FR, DE, JP. Cuts are allowed only between pairs.
        let flags = "\u{1F1EB}\u{1F1F7}\u{1F1E9}\u{1F1EA}\u{1F1EF}\u{1F1F5}";
        let ri = '\u{1F1EB}'.len_utf8();
        assert!(is_boundary(flags, 2 * ri));
        assert!(!is_boundary(flags, ri));
        assert!(!is_boundary(flags, 3 * ri));
        assert!(is_boundary(flags, 4 * ri));
    }

    #[test]
    fn path_renders_keys_and_indices() {
        let root = Path::root("entry");
        let entry = root.index(2);
        let list = entry.key("messaging");
        let event = list.index(0);
        assert_eq!(
            event.key("message").render(),
            "entry[2].messaging[0].message"
        );
    }

    #[test]
    fn ct_eq_secret_compares_contents() {
        assert!(ct_eq_secret(b"token", b"token"));
        assert!(!ct_eq_secret(b"token", b"tokem"));
        assert!(!ct_eq_secret(b"token", b"token "));
        assert!(!ct_eq_secret(b"", b"token"));
    }
}
