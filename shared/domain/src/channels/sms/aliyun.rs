//! Aliyun (Alibaba Cloud) SMS: the SmsUp inbound message push in HTTP batch mode.
//!
//! The body is a JSON array; one request may carry several messages:
//!
//! ```json
//! [
//!   {
//!     "phone_number": "13800000000",
//!     "content": "内容",
//!     "send_time": "2017-09-01 00:00:00",
//!     "dest_code": "1234",
//!     "sequence_id": 1234567890,
//!     "sign_name": "签名"
//!   }
//! ]
//! ```
//!
//! - `phone_number`: the mainland mobile number in national form (11 digits); it becomes `+86…`. A
//!   number written `+…`, `0086…` or as 13 digits `861…` already carries its country code. Masked
//!   numbers (`138****0000`, as in the documentation samples) are refused.
//! - `send_time`: when the carrier pushed the message, `YYYY-MM-DD HH:MM:SS` in Beijing time (UTC+8, no
//!   daylight saving). The compact `YYYYMMDDHHMMSS` seen in an older sample is accepted too. An
//!   unreadable time leaves [`InboundSms::received_at_s`] empty rather than losing the message.
//! - `sequence_id`: the message's serial number, a JSON number in older documentation and a string in
//!   newer; either way it is the dedupe key `aliyun:<sequence_id>`.
//! - `dest_code`: the extension number the customer replied to (assigned per signature); kept in
//!   [`InboundSms::to`]. `sign_name` is optional.
//!
//! Unknown fields are ignored. The answer must be HTTP 200 with [`ACK_BODY`]; Aliyun retries other
//! answers a few times and then drops the batch.
//!
//! The push is not signed: register the callback URL with a secret token and check it with
//! [`super::verify_url_token`] before parsing.

use serde_json::{Map, Value};

use super::{e164, InboundSms, SmsError, SmsProvider, MAX_BATCH_BYTES};

/// The acknowledgement Aliyun expects, byte for byte.
pub const ACK_BODY: &str = r#"{"code":0,"msg":"接收成功"}"#;

/// The `Content-Type` of [`ACK_BODY`].
pub const ACK_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Beijing time's offset from UTC, in seconds.
const UTC_PLUS_8: i64 = 8 * 3600;

/// Parses an SmsUp batch. Bodies over [`MAX_BATCH_BYTES`] are refused; an empty array is valid.
pub fn parse_sms_up(body: &[u8]) -> Result<Vec<InboundSms>, SmsError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(SmsError::TooLarge);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SmsError::Malformed(format!("invalid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(SmsError::Malformed("SmsUp body is not a JSON array".into()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => message(fields)
                .map_err(|e| SmsError::Malformed(format!("message {i}: {}", reason(e)))),
            _ => Err(SmsError::Malformed(format!("message {i} is not an object"))),
        })
        .collect()
}

fn reason(e: SmsError) -> String {
    match e {
        SmsError::Malformed(reason) => reason,
        other => other.to_string(),
    }
}

fn message(fields: &Map<String, Value>) -> Result<InboundSms, SmsError> {
    let from = mainland_e164(string(fields, "phone_number")?)?;
    let text = string(fields, "content")?;
    let received_at_s = beijing_time_to_unix(string(fields, "send_time")?);
    let sequence_id = sequence_id(fields)?;
    let dest_code = optional_string(fields, "dest_code")?.unwrap_or_default();
    let sign_name = optional_string(fields, "sign_name")?.filter(|s| !s.is_empty());
    Ok(InboundSms {
        provider: SmsProvider::Aliyun,
        message_id: format!("aliyun:{sequence_id}"),
        from,
        to: dest_code,
        text: text.to_owned(),
        received_at_s,
        media: Vec::new(),
        sign_name,
    })
}

/// The E.164 form of an SmsUp `phone_number`: `+…` is kept (digits checked), `0086…` and a 13-digit
/// `861…` already carry the country code, anything else is a national mainland number.
fn mainland_e164(phone: &str) -> Result<String, SmsError> {
    let phone = phone.trim();
    if let Some(international) = phone.strip_prefix('+') {
        // e164 checks the digits; the first one stands in for the country code.
        return match (international.get(..1), international.get(1..)) {
            (Some(first), Some(rest)) => e164(first, rest, "phone_number"),
            _ => e164("", "", "phone_number"),
        };
    }
    let national = match phone.strip_prefix("0086") {
        Some(rest) => rest,
        None if phone.len() == 13 && phone.starts_with("861") => &phone[2..],
        None => phone,
    };
    e164("86", national, "phone_number")
}

fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, SmsError> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SmsError::Malformed(format!("{name} is not a string"))),
        None => Err(SmsError::Malformed(format!("missing {name}"))),
    }
}

/// An optional text field; a number is accepted and written in decimal.
fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, SmsError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(SmsError::Malformed(format!("{name} is not a string"))),
    }
}

/// `sequence_id` as text: a non-negative integer number, or a non-empty string without control
/// characters (at most 64 bytes).
fn sequence_id(fields: &Map<String, Value>) -> Result<String, SmsError> {
    let invalid = || SmsError::Malformed("invalid sequence_id".into());
    match fields.get("sequence_id") {
        None | Some(Value::Null) => Err(SmsError::Malformed("missing sequence_id".into())),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                Ok(u.to_string())
            } else {
                // A float is exact only below 2^53 and without a fraction.
                match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => {
                        Ok((f as u64).to_string())
                    }
                    _ => Err(invalid()),
                }
            }
        }
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
                Err(invalid())
            } else {
                Ok(s.to_owned())
            }
        }
        Some(_) => Err(invalid()),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (or `YYYYMMDDHHMMSS`) in UTC+8 as Unix seconds; `None` if unreadable.
pub fn beijing_time_to_unix(text: &str) -> Option<i64> {
    let t = text.trim().as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = t.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day, hour, minute, second) = match t.len() {
        19 if t[4] == b'-'
            && t[7] == b'-'
            && (t[10] == b' ' || t[10] == b'T')
            && t[13] == b':'
            && t[16] == b':' =>
        {
            (
                digits(0..4)?,
                digits(5..7)?,
                digits(8..10)?,
                digits(11..13)?,
                digits(14..16)?,
                digits(17..19)?,
            )
        }
        14 => (
            digits(0..4)?,
            digits(4..6)?,
            digits(6..8)?,
            digits(8..10)?,
            digits(10..12)?,
            digits(12..14)?,
        ),
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - UTC_PLUS_8)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn beijing_times() {
        // 1970-01-01 08:00:00 in Beijing is the epoch.
        assert_eq!(beijing_time_to_unix("1970-01-01 08:00:00"), Some(0));
        assert_eq!(beijing_time_to_unix("19700101080000"), Some(0));
        assert_eq!(
            beijing_time_to_unix("2024-02-29 23:59:59"),
            Some(1_709_222_399)
        );
        assert_eq!(beijing_time_to_unix("2023-02-29 00:00:00"), None);
        assert_eq!(beijing_time_to_unix("2017-09-01 24:00:00"), None);
        assert_eq!(beijing_time_to_unix("2017-09-01"), None);
        assert_eq!(beijing_time_to_unix("2017-0a-01 00:00:00"), None);
    }
}
