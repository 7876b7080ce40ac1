//! Tencent Cloud SMS: the SMS reply (短信回复) callback.
//!
//! One JSON object per customer reply:
//!
//! ```json
//! {
//!   "extend": "",
//!   "mobile": "13800000000",
//!   "nationcode": "86",
//!   "sign": "签名",
//!   "text": "用户回复的内容",
//!   "time": 1457336869
//! }
//! ```
//!
//! - `mobile` and `nationcode` (country code, digits) give the sender, `+<nationcode><mobile>`.
//! - `text` is the reply; `time` is Unix seconds (a number; a string of digits is accepted too).
//! - `sign` is the SMS signature replied to; `extend` the channel extension code, empty or absent
//!   unless extension codes are enabled (kept in [`InboundSms::to`]).
//!
//! Tencent sends no message id, so the dedupe key is built from what a retry repeats exactly:
//! `tencent:<nationcode><mobile>:<time>:<first 16 hex digits of sha256(text)>`. Two identical replies
//! within the same second collapse into one, which is the intended behaviour for retries.
//!
//! The answer is HTTP 200 with [`ACK_BODY`]. The callback is not signed: register the callback URL
//! with a secret token and check it with [`super::verify_url_token`] before parsing.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{e164, InboundSms, SmsError, SmsProvider, MAX_BODY_BYTES};

/// The acknowledgement Tencent expects.
pub const ACK_BODY: &str = r#"{"result":0,"errmsg":"OK"}"#;

/// The `Content-Type` of [`ACK_BODY`].
pub const ACK_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Parses one reply callback. Bodies over [`MAX_BODY_BYTES`] are refused.
pub fn parse_reply(body: &[u8]) -> Result<InboundSms, SmsError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(SmsError::TooLarge);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SmsError::Malformed(format!("invalid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(SmsError::Malformed(
            "reply body is not a JSON object".into(),
        ));
    };
    let nationcode = digits_field(&fields, "nationcode")?;
    let nationcode = nationcode
        .strip_prefix('+')
        .unwrap_or(&nationcode)
        .to_owned();
    let mobile = digits_field(&fields, "mobile")?;
    let from = e164(&nationcode, &mobile, "nationcode + mobile")?;
    let text = match fields.get("text") {
        Some(Value::String(text)) => text.as_str(),
        Some(_) => return Err(SmsError::Malformed("text is not a string".into())),
        None => return Err(SmsError::Malformed("missing text".into())),
    };
    let time = time(&fields)?;
    let sign = optional_text(&fields, "sign")?;
    let extend = optional_text(&fields, "extend")?.unwrap_or_default();
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(InboundSms {
        provider: SmsProvider::Tencent,
        message_id: format!("tencent:{nationcode}{mobile}:{time}:{}", &digest[..16]),
        from,
        to: extend,
        text: text.to_owned(),
        received_at_s: Some(time),
        media: Vec::new(),
        sign_name: sign,
    })
}

/// A required string (or non-negative integer) field, trimmed.
fn digits_field(fields: &Map<String, Value>, name: &str) -> Result<String, SmsError> {
    match fields.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
        None | Some(Value::Null) => Err(SmsError::Malformed(format!("missing {name}"))),
        Some(_) => Err(SmsError::Malformed(format!("invalid {name}"))),
    }
}

fn optional_text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, SmsError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(SmsError::Malformed(format!("{name} is not a string"))),
    }
}

fn time(fields: &Map<String, Value>) -> Result<i64, SmsError> {
    let invalid = || SmsError::Malformed("invalid time".into());
    match fields.get("time") {
        None | Some(Value::Null) => Err(SmsError::Malformed("missing time".into())),
        Some(Value::Number(n)) => n.as_i64().filter(|&t| t >= 0).ok_or_else(invalid),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|&t| t >= 0)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}
