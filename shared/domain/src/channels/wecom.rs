//! WeCom (企业微信) callback codec: the URL verification and the encrypted message callbacks of a
//! self-built app (自建应用 → 接收消息 → API 接收).
//!
//! WeCom uses the WeChat safe-mode scheme ([`super::wechat`]) with the **corp id** in place of the app id,
//! and everything is always encrypted:
//!
//! - **URL verification** (GET): query `msg_signature`, `timestamp`, `nonce`, `echostr`, all URL-encoded
//!   (`echostr` is base64, so its `+`, `/` and `=` arrive percent-encoded and must be decoded first).
//!   `msg_signature = hex(sha1(concat(sort([token, timestamp, nonce, echostr]))))`; the answer is the
//!   decrypted `echostr`, as plain text, within one second. See [`verify_url`].
//! - **Callbacks** (POST): the same query without `echostr`, and the body
//!
//!   ```xml
//!   <xml><ToUserName><![CDATA[corp id]]></ToUserName><AgentID><![CDATA[218]]></AgentID><Encrypt><![CDATA[…]]></Encrypt></xml>
//!   ```
//!
//!   with `msg_signature` computed over `Encrypt`. The decrypted payload is an Official-Account-style push
//!   whose `ToUserName` is the corp id, `FromUserName` the member's UserID, plus `AgentID`:
//!
//!   ```xml
//!   <xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[mycreate]]></FromUserName>
//!   <CreateTime>1409659813</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>
//!   <MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>
//!   ```
//!
//!   It is parsed with [`super::wechat::parse_push`] (same field names, same XML safety rules; WeCom events
//!   such as `enter_agent` are kept as [`super::wechat::Event::Other`]). [`super::wechat::Push`] has no
//!   `AgentID`, so [`open_callback`] reads it from the decrypted payload itself (the envelope's `AgentID` is
//!   not covered by the signature and is ignored). Retries are deduplicated like WeChat's: messages by
//!   `MsgId`, events by `FromUserName` + `CreateTime` ([`super::wechat::Push::dedupe_key`]).

use quick_xml::events::Event as XmlEvent;
use quick_xml::Reader;

use super::wechat::{
    decrypt_with_any, is_json, parse_envelope, parse_push, verify_msg_signature, Cipher, Push,
    WechatError,
};

/// A decrypted, verified WeCom callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    /// The push, as an Official Account push: `to_user_name` is the corp id, `from_user_name` the member's
    /// UserID.
    pub push: Push,
    /// The `AgentID` of the decrypted payload (the self-built app the member wrote to), when present.
    pub agent_id: Option<String>,
    /// Which cipher decrypted it: 0 for the current EncodingAESKey, 1 for the previous one.
    pub key_index: usize,
}

/// Query values as received may still carry a form-encoding artefact: a `+` of the base64 `echostr` that
/// was not percent-encoded reads as a space after URL decoding. Base64 has no spaces, so they are put back.
fn restore_plus(echostr: &str) -> String {
    echostr.trim().replace(' ', "+")
}

/// URL verification: checks `msg_signature` over (token, timestamp, nonce, echostr) and returns the
/// decrypted `echostr`, which is the answer to the GET. All arguments are the URL-decoded query values.
///
/// Errors: [`WechatError::BadSignature`] for a wrong or missing signature (HTTP 401), otherwise a crypto
/// error or [`WechatError::AppIdMismatch`] (the payload belongs to another corp; HTTP 400).
pub fn verify_url(
    ciphers: &[Cipher],
    token: &str,
    timestamp: &str,
    nonce: &str,
    msg_signature: &str,
    echostr: &str,
) -> Result<(usize, String), WechatError> {
    let echostr = restore_plus(echostr);
    if echostr.is_empty() || !verify_msg_signature(token, timestamp, nonce, &echostr, msg_signature)
    {
        return Err(WechatError::BadSignature);
    }
    let (index, plain) = decrypt_with_any(ciphers, &echostr)?;
    let plain = String::from_utf8(plain)
        .map_err(|_| WechatError::Crypto("echostr is not UTF-8 text".into()))?;
    Ok((index, plain))
}

/// A message callback: checks `msg_signature` over the body's `Encrypt`, decrypts it with the first cipher
/// that accepts it, parses the push and reads its `AgentID`.
///
/// Errors: [`WechatError::BadSignature`] for a wrong or missing signature (HTTP 401); anything else (too
/// large, unsafe or malformed XML, a JSON body, undecryptable, another corp's payload) is HTTP 400.
pub fn open_callback(
    ciphers: &[Cipher],
    token: &str,
    timestamp: &str,
    nonce: &str,
    msg_signature: &str,
    body: &[u8],
) -> Result<Callback, WechatError> {
    if is_json(body) {
        return Err(WechatError::Malformed(
            "WeCom callbacks are XML (JSON callbacks are not supported)".into(),
        ));
    }
    let envelope = parse_envelope(body)?;
    if !verify_msg_signature(token, timestamp, nonce, &envelope.encrypt, msg_signature) {
        return Err(WechatError::BadSignature);
    }
    let (key_index, plain) = decrypt_with_any(ciphers, &envelope.encrypt)?;
    let push = parse_push(&plain)?;
    Ok(Callback {
        push,
        agent_id: agent_id_of(&plain),
        key_index,
    })
}

/// The text of the root's `AgentID` child (plain or CDATA) if it is a decimal number; `None` otherwise.
/// Only called on payloads [`super::wechat::parse_push`] accepted.
fn agent_id_of(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut depth = 0usize;
    let mut inside = false;
    let mut value: Vec<u8> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            XmlEvent::Start(tag) => {
                depth += 1;
                inside = depth == 2 && tag.name().as_ref() == b"AgentID";
            }
            XmlEvent::Text(t) if inside => value.extend_from_slice(&t),
            XmlEvent::CData(c) if inside => value.extend_from_slice(&c),
            XmlEvent::End(_) => {
                if inside {
                    let text = std::str::from_utf8(&value).ok()?.trim();
                    return (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| text.to_string());
                }
                depth = depth.saturating_sub(1);
            }
            XmlEvent::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_is_read_from_plain_or_cdata_and_must_be_numeric() {
        let doc = |inner: &str| format!("<xml><ToUserName>c</ToUserName>{inner}</xml>");
        assert_eq!(
            agent_id_of(doc("<AgentID>218</AgentID>").as_bytes()).as_deref(),
            Some("218")
        );
        assert_eq!(
            agent_id_of(doc("<AgentID><![CDATA[1000002]]></AgentID>").as_bytes()).as_deref(),
            Some("1000002")
        );
        assert_eq!(agent_id_of(doc("<AgentID>x1</AgentID>").as_bytes()), None);
        assert_eq!(agent_id_of(doc("<AgentID></AgentID>").as_bytes()), None);
        assert_eq!(agent_id_of(doc("").as_bytes()), None);
        // Only a direct child of the root counts.
        assert_eq!(
            agent_id_of(doc("<Item><AgentID>5</AgentID></Item>").as_bytes()),
            None
        );
    }

    #[test]
    fn spaces_in_echostr_are_pluses() {
        assert_eq!(restore_plus(" ab cd== "), "ab+cd==");
    }
}
