//! SMS protocol codecs: Twilio (international), Aliyun SmsUp and Tencent Cloud SMS reply callbacks
//! (mainland), and the segment / request-size rules for sending.
//!
//! Pure functions only: no I/O, no clock, no randomness, no global state. Every inbound format is
//! normalised to one [`InboundSms`].
//!
//! # Wire formats
//!
//! ## Twilio incoming message webhook ([`twilio`])
//!
//! Twilio POSTs `application/x-www-form-urlencoded` parameters (`MessageSid`, `AccountSid`, `From`, `To`,
//! `Body`, `NumMedia`, `MediaUrl{i}`, `MediaContentType{i}`, `NumSegments`, geographic fields, …; new ones
//! appear without notice) and signs them in the `X-Twilio-Signature` header:
//!
//! ```text
//! X-Twilio-Signature = base64(HMAC-SHA1(auth_token, url ‖ name₁ ‖ value₁ ‖ name₂ ‖ value₂ ‖ …))
//! ```
//!
//! where the pairs are the **decoded** POST parameters sorted by name (and, for a repeated name, by value),
//! and `url` is the full URL Twilio requested, query string included. That URL is the public one configured
//! in Twilio (for API Gateway: its public host + path + query string, exactly as typed in the Twilio
//! console), never the internal one a function sees after a proxy, a custom-domain mapping or a stage
//! prefix has rewritten it. [`twilio::verify`] also accepts the URL with and without the default port, as
//! Twilio's own libraries do. API Gateway HTTP APIs (payload v2) hand form bodies to the function
//! base64-encoded; [`decode_event_body`] undoes that. The answer is TwiML: an empty
//! `<Response></Response>` ([`twilio::twiml_empty`]) acknowledges without replying.
//!
//! ## Aliyun SmsUp, HTTP batch push ([`aliyun`])
//!
//! A JSON array, possibly of several messages:
//!
//! ```json
//! [{"phone_number":"13800000000","content":"内容","send_time":"2017-09-01 00:00:00",
//!   "dest_code":"1234","sequence_id":1234567890,"sign_name":"签名"}]
//! ```
//!
//! `send_time` is Beijing time (UTC+8); `sequence_id` is a number in older documentation and a string
//! in newer, both are accepted; `sign_name` may be absent. The answer must be HTTP 200 with
//! `{"code":0,"msg":"接收成功"}` ([`aliyun::ACK_BODY`]); anything else is retried a few times and then
//! dropped by Aliyun.
//!
//! ## Tencent Cloud SMS reply callback ([`tencent`])
//!
//! One JSON object per reply:
//!
//! ```json
//! {"extend":"","mobile":"13800000000","nationcode":"86","sign":"签名","text":"回复","time":1457336869}
//! ```
//!
//! `time` is Unix seconds. The answer is `{"result":0,"errmsg":"OK"}` ([`tencent::ACK_BODY`]).
//!
//! ## Authenticating the mainland callbacks
//!
//! Neither Aliyun nor Tencent signs its callbacks. The callback URL registered with the provider must
//! therefore carry an unguessable secret (at least 128 random bits, e.g. 32 hex digits) in its path or
//! query string, over HTTPS, and the webhook refuses any request whose token does not match
//! ([`verify_url_token`] / [`check_url_token`], compared in constant time, answered with
//! [`SmsError::Forbidden`]). The token is a credential: keep it out of logs (log the route, not the URL),
//! and rotate it by registering a new URL while briefly accepting both.
//!
//! ## Sending ([`segments`])
//!
//! [`segments::segments`] counts the segments of one SMS per 3GPP TS 23.038 as Twilio bills them
//! (GSM-7: 160 septets, 153 per part; UCS-2: 70 UTF-16 units, 67 per part); mainland billing counts
//! characters including the `【签名】` ([`segments::mainland_billed_parts`]). [`segments::split_for_provider`]
//! cuts a long reply into request-sized pieces (Twilio: 1 600 characters, Aliyun and Tencent: 500
//! including the signature) at whitespace or punctuation where it can. [`twilio::send_form`] builds the
//! Twilio Messages API form.

pub mod aliyun;
pub mod segments;
pub mod tencent;
pub mod twilio;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::ChannelKind;

/// Largest single-message callback body accepted (a Twilio form, a Tencent reply), in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest Aliyun SmsUp batch accepted, in bytes. A batch may carry many messages of up to 500
/// characters each; refusing a batch makes Aliyun drop it after its retries, so the bound is generous.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// The SMS provider a message came through or goes out by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    /// Twilio Programmable Messaging (international stack).
    Twilio,
    /// Aliyun (Alibaba Cloud) Short Message Service, mainland.
    Aliyun,
    /// Tencent Cloud SMS, mainland.
    Tencent,
}

impl SmsProvider {
    /// The stable lowercase name, also the prefix of [`InboundSms::message_id`].
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProvider::Twilio => "twilio",
            SmsProvider::Aliyun => "aliyun",
            SmsProvider::Tencent => "tencent",
        }
    }

    /// The channel kind a connection through this provider has.
    pub fn channel_kind(self) -> ChannelKind {
        match self {
            SmsProvider::Twilio => ChannelKind::SmsTwilio,
            SmsProvider::Aliyun => ChannelKind::SmsAliyun,
            SmsProvider::Tencent => ChannelKind::SmsTencent,
        }
    }
}

/// One inbound SMS (or MMS), whichever provider delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundSms {
    /// Which provider delivered it.
    pub provider: SmsProvider,
    /// The key under which provider retries are deduplicated: `twilio:<MessageSid>`,
    /// `aliyun:<sequence_id>`, or `tencent:<nationcode><mobile>:<time>:<first 16 hex of sha256(text)>`
    /// (Tencent sends no message id). Aliyun numbers its messages per Aliyun account: scope dedupe
    /// records by channel connection, not globally.
    pub message_id: String,
    /// The customer's number in E.164 (`+8613800000000`). Twilio's `From` is kept as sent: E.164 for
    /// phone numbers, prefixed (`whatsapp:+…`) on other Twilio channels.
    pub from: String,
    /// What the customer wrote to: Twilio's `To` (our number, E.164); Aliyun's `dest_code` (the
    /// extension number); Tencent's `extend` (empty unless extension codes are enabled).
    pub to: String,
    /// The message text (empty for a media-only MMS).
    pub text: String,
    /// When the provider received it, in Unix seconds, if the callback says (Aliyun, Tencent).
    pub received_at_s: Option<i64>,
    /// MMS attachments as `(url, content type)` (Twilio only). Twilio media URLs may require HTTP basic
    /// authentication with the account's credentials.
    pub media: Vec<(String, String)>,
    /// The SMS signature (签名) the customer replied to, when the provider says (Aliyun `sign_name`,
    /// Tencent `sign`): with one provider account serving several signatures, this tells them apart.
    pub sign_name: Option<String>,
}

/// Why an SMS callback was refused. See [`SmsError::http_status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The body is larger than [`MAX_BODY_BYTES`] (or [`MAX_BATCH_BYTES`] for Aliyun batches).
    #[error("callback body too large")]
    TooLarge,
    /// The body is not a well-formed callback (bad encoding or JSON, missing or invalid field; the text
    /// names it).
    #[error("malformed SMS callback: {0}")]
    Malformed(String),
    /// `X-Twilio-Signature` is missing or does not match.
    #[error("bad signature")]
    BadSignature,
    /// The URL token of an unsigned (Aliyun / Tencent) callback is missing or wrong.
    #[error("forbidden")]
    Forbidden,
}

impl SmsError {
    /// The HTTP status a webhook answers with: 403 for a bad signature or URL token, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            SmsError::BadSignature | SmsError::Forbidden => 403,
            SmsError::TooLarge | SmsError::Malformed(_) => 400,
        }
    }
}

/// Compares the secret URL token of an unsigned callback with the configured one, in time independent
/// of the contents and lengths of both (each is hashed with SHA-256 first). An empty `expected` never
/// matches, so a missing configuration fails closed.
pub fn verify_url_token(expected: &str, given: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let expected = Sha256::digest(expected.as_bytes());
    let given = Sha256::digest(given.as_bytes());
    ct_eq(&expected, &given)
}

/// [`verify_url_token`] as a `Result`: `Err(SmsError::Forbidden)` when the token does not match or is
/// absent.
pub fn check_url_token(expected: &str, given: Option<&str>) -> Result<(), SmsError> {
    match given {
        Some(given) if verify_url_token(expected, given) => Ok(()),
        _ => Err(SmsError::Forbidden),
    }
}

/// The raw bytes of a callback body as API Gateway hands it over: base64-decoded when
/// `is_base64_encoded` (HTTP APIs encode form bodies), as is otherwise. Refuses bodies whose decoded
/// size would exceed `limit` before decoding them.
pub fn decode_event_body(
    body: &str,
    is_base64_encoded: bool,
    limit: usize,
) -> Result<Vec<u8>, SmsError> {
    if !is_base64_encoded {
        if body.len() > limit {
            return Err(SmsError::TooLarge);
        }
        return Ok(body.as_bytes().to_vec());
    }
    let trimmed = body.trim_end_matches('=');
    if trimmed.len() / 4 * 3 + (trimmed.len() % 4).saturating_sub(1) > limit {
        return Err(SmsError::TooLarge);
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| SmsError::Malformed("body is not valid base64".into()))
}

/// Byte-wise comparison whose time does not depend on where the inputs differ (it does on their
/// lengths, which callers either fix or hide).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `+<digits>` from a country code and a national number, both digits only (a leading `+` on the
/// country code is tolerated), at most 15 digits in all (ITU-T E.164).
pub(crate) fn e164(country_code: &str, national: &str, field: &str) -> Result<String, SmsError> {
    let cc = country_code.strip_prefix('+').unwrap_or(country_code);
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(cc) || !all_digits(national) || cc.len() + national.len() > 15 {
        return Err(SmsError::Malformed(format!(
            "{field} is not a phone number"
        )));
    }
    Ok(format!("+{cc}{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_token_comparison() {
        assert!(verify_url_token("0123456789abcdef", "0123456789abcdef"));
        assert!(!verify_url_token("0123456789abcdef", "0123456789abcdeF"));
        assert!(!verify_url_token("0123456789abcdef", "0123456789abcde"));
        assert!(!verify_url_token("0123456789abcdef", ""));
        assert!(!verify_url_token("", ""));
        assert_eq!(check_url_token("t", None), Err(SmsError::Forbidden));
        assert_eq!(check_url_token("t", Some("t")), Ok(()));
    }

    #[test]
    fn event_body_decoding() {
        assert_eq!(decode_event_body("a=1", false, 3).unwrap(), b"a=1");
        assert_eq!(decode_event_body("a=1", false, 2), Err(SmsError::TooLarge));
        assert_eq!(decode_event_body("YT0x", true, 3).unwrap(), b"a=1");
        assert_eq!(decode_event_body("YT0x", true, 2), Err(SmsError::TooLarge));
        assert_eq!(decode_event_body("YQ==", true, 1).unwrap(), b"a");
        assert!(matches!(
            decode_event_body("!!!!", true, 10),
            Err(SmsError::Malformed(_))
        ));
    }

    #[test]
    fn e164_building() {
        assert_eq!(e164("86", "13800000000", "m").unwrap(), "+8613800000000");
        assert_eq!(e164("+1", "4155550100", "m").unwrap(), "+14155550100");
        assert!(e164("86", "138****0000", "m").is_err());
        assert!(e164("86", "", "m").is_err());
        assert!(e164("86", "1380000000000000", "m").is_err());
    }
}
