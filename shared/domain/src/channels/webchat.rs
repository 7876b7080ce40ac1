//! Web chat: kefu's own visitor API (`functions/webchat-api`) and its embeddable widget. Pure pieces only:
//! session tokens, the validation of what visitors send, origin checks and the long-poll cursor.
//!
//! # Session tokens
//!
//! `POST /webchat/{channelId}/sessions` answers a session token; every later call carries it as
//! `Authorization: Bearer <token>`. Nothing is stored on the server: the token is
//!
//! ```text
//! wc1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(session_secret, "wc1." + base64url(JSON claims)))>
//! ```
//!
//! with claims `{"c": channel id, "vid": visitor id, "l": language?, "n": name?, "exp": expiry (epoch s)}`
//! and the channel's `session_secret` (its SSM parameter, see [`crate::model::ChannelSecrets`]) as the key.
//! Changing the secret ends every session of the channel; the widget then opens a new one for the same
//! visitor.
//!
//! # Visitors
//!
//! A visitor id is `v_` + 32 hex digits (128 random bits), made by the server on a visitor's first session
//! and kept by the widget in `localStorage`. It is the customer's id on the channel
//! ([`crate::model::Customer::external_id`]), and whoever presents it gets that visitor's conversation:
//! it works like a session cookie, so it is random, never derived from anything guessable, and only
//! accepted back in exactly this form.
//!
//! # Long-poll cursor
//!
//! Messages are stored under `MSG#{at ms}#{key}` and an inbound message can be stored a moment after an
//! outbound one with a later time (the router runs after the API accepted it). A plain "after this sort
//! key" cursor would skip it, so the cursor keeps a watermark (the latest message time seen) and short
//! hashes of the messages seen within [`CURSOR_GRACE_MS`] before it: the next poll reads from
//! `watermark - grace` and skips what was seen. The cursor also names the conversation, so a new
//! conversation (after the previous one was closed) starts from its first message.

use crate::model::{Lang, StoredMessage};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The longest text a visitor may send, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The longest `client_id`.
pub const MAX_CLIENT_ID_LEN: usize = 64;
/// The longest visitor name kept in a session.
pub const MAX_NAME_CHARS: usize = 64;
/// How long a session token is valid.
pub const SESSION_TTL_S: i64 = 24 * 3600;
/// How far back a poll looks again for messages stored late (see the module docs).
pub const CURSOR_GRACE_MS: i64 = 60_000;
/// At most this many seen-message hashes are kept in a cursor.
const MAX_CURSOR_SEEN: usize = 200;
const TOKEN_PREFIX: &str = "wc1.";

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    #[serde(rename = "c")]
    pub channel_id: String,
    #[serde(rename = "vid")]
    pub visitor_id: String,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed session token")]
    Malformed,
    #[error("bad session token signature")]
    BadSignature,
    #[error("session expired")]
    Expired,
}

fn mac(secret: &[u8], signed: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(signed.as_bytes());
    m
}

/// Signs `claims` with the channel's session secret.
pub fn sign_session(secret: &[u8], claims: &SessionClaims) -> String {
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{TOKEN_PREFIX}{payload}");
    let sig = B64.encode(mac(secret, &signed).finalize().into_bytes());
    format!("{signed}.{sig}")
}

/// Checks a token's signature (constant time) and expiry at `now_s`, and returns its claims.
pub fn verify_session(secret: &[u8], token: &str, now_s: i64) -> Result<SessionClaims, TokenError> {
    let rest = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenError::Malformed)?;
    let (payload, sig) = rest.split_once('.').ok_or(TokenError::Malformed)?;
    let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
    mac(secret, &token[..TOKEN_PREFIX.len() + payload.len()])
        .verify_slice(&sig)
        .map_err(|_| TokenError::BadSignature)?;
    let claims: SessionClaims = B64
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.exp <= now_s {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Constant-time equality (site keys).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Compare digests so neither the content nor the length leaks through timing.
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// A visitor id from 16 random bytes.
pub fn visitor_id_from(random16: [u8; 16]) -> String {
    format!("v_{}", hex::encode(random16))
}

/// A fresh visitor id.
pub fn new_visitor_id() -> String {
    visitor_id_from(rand::random())
}

/// Whether `id` is a visitor id in the form kefu makes them.
pub fn is_visitor_id(id: &str) -> bool {
    id.strip_prefix("v_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Whether a widget's message id is acceptable: 1–64 characters of `A–Z a–z 0–9 - _ .`.
pub fn is_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The inbound event id of a visitor's message: a resent message (same `client_id`) has the same id, so
/// the inbound queue deduplicates it.
pub fn event_id(visitor_id: &str, client_id: &str) -> String {
    format!("web:{visitor_id}:{client_id}")
}

/// The `client_id` of a message this visitor sent, from its stored key.
pub fn client_id_of<'a>(message_key: &'a str, visitor_id: &str) -> Option<&'a str> {
    message_key
        .strip_prefix("web:")?
        .strip_prefix(visitor_id)?
        .strip_prefix(':')
}

/// Why a visitor's text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text is empty")]
    Empty,
    #[error("text is longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
}

/// Checks a visitor's text: not blank, at most [`MAX_TEXT_CHARS`] characters.
pub fn check_text(text: &str) -> Result<(), TextError> {
    if text.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(TextError::TooLong);
    }
    Ok(())
}

/// An origin as browsers send it (`scheme://host[:port]`), lower-cased, without a trailing slash.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether the browser origin is one of the channel's allowed origins (exact match of scheme, host and
/// port; `null` and empty origins never match).
pub fn origin_allowed(allowed: &[String], origin: &str) -> bool {
    let o = normalise_origin(origin);
    if o.is_empty() || o == "null" {
        return false;
    }
    allowed.iter().any(|a| normalise_origin(a) == o)
}

/// The visitor's language from what the widget sends (`navigator.language`), `None` when unusable.
pub fn parse_lang(raw: Option<&str>) -> Option<Lang> {
    raw.and_then(Lang::parse)
}

/// A visitor's name: trimmed, control characters removed, at most [`MAX_NAME_CHARS`] characters.
pub fn clean_name(raw: Option<&str>) -> Option<String> {
    let name: String = raw?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Where a visitor's long poll stands (see the module docs). The empty cursor is the start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The latest message time seen (ms).
    #[serde(rename = "w", default)]
    pub watermark_ms: i64,
    /// Short hashes of the messages seen at or after `watermark_ms - CURSOR_GRACE_MS`.
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// The agent the conversation was assigned to when the visitor last heard (a change ends a poll, so
    /// the widget shows the new agent at once).
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

impl Cursor {
    /// The cursor as the opaque string the API hands out (`""` for the start).
    pub fn encode(&self) -> String {
        if *self == Cursor::default() {
            return String::new();
        }
        B64.encode(serde_json::to_vec(self).expect("cursor serializes"))
    }

    /// Reads a cursor string; `None` when it is not one kefu made.
    pub fn decode(raw: &str) -> Option<Cursor> {
        if raw.is_empty() {
            return Some(Cursor::default());
        }
        if raw.len() > 8192 {
            return None;
        }
        serde_json::from_slice(&B64.decode(raw).ok()?).ok()
    }

    /// The earliest message time a poll of `conversation_id` must read (ms): everything for a conversation
    /// the cursor does not know.
    pub fn read_from_ms(&self, conversation_id: &str) -> i64 {
        if self.conversation_id.as_deref() == Some(conversation_id) {
            (self.watermark_ms - CURSOR_GRACE_MS).max(0)
        } else {
            0
        }
    }
}

fn short_hash(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..6])
}

/// The messages of `conversation_id` the visitor has not seen, in order, and the cursor after them.
/// `messages` are the conversation's messages stored at or after [`Cursor::read_from_ms`], in
/// storage order (time, then key).
pub fn after_cursor<'a>(
    conversation_id: &str,
    messages: &'a [StoredMessage],
    cursor: &Cursor,
) -> (Vec<&'a StoredMessage>, Cursor) {
    let same = cursor.conversation_id.as_deref() == Some(conversation_id);
    let from = cursor.read_from_ms(conversation_id);
    let new: Vec<&StoredMessage> = messages
        .iter()
        .filter(|m| {
            !same || (m.at_ms >= from && !cursor.seen.contains(&short_hash(&m.message_key)))
        })
        .collect();
    let watermark = messages
        .iter()
        .map(|m| m.at_ms)
        .max()
        .unwrap_or(0)
        .max(if same { cursor.watermark_ms } else { 0 });
    let mut seen: Vec<String> = messages
        .iter()
        .filter(|m| m.at_ms >= watermark - CURSOR_GRACE_MS)
        .map(|m| short_hash(&m.message_key))
        .collect();
    if seen.len() > MAX_CURSOR_SEEN {
        seen.drain(..seen.len() - MAX_CURSOR_SEEN);
    }
    let next = Cursor {
        conversation_id: Some(conversation_id.to_string()),
        watermark_ms: watermark,
        seen,
        agent_id: if same { cursor.agent_id.clone() } else { None },
    };
    (new, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Content;
    use crate::model::Direction;

    fn claims(exp: i64) -> SessionClaims {
        SessionClaims {
            channel_id: "site1".into(),
            visitor_id: visitor_id_from([7; 16]),
            lang: Some(Lang::zh_hans()),
            name: Some("Wang".into()),
            exp,
        }
    }

    #[test]
    fn session_tokens_round_trip_and_refuse_tampering_other_keys_and_expiry() {
        let secret = b"channel-session-secret";
        let token = sign_session(secret, &claims(2_000));
        assert!(token.starts_with("wc1."));
        assert_eq!(
            verify_session(secret, &token, 1_000).unwrap(),
            claims(2_000)
        );
        assert_eq!(
            verify_session(secret, &token, 2_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_session(b"another secret", &token, 1_000),
            Err(TokenError::BadSignature)
        );
        // Another visitor's claims under the same signature.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut other = claims(2_000);
        other.visitor_id = visitor_id_from([8; 16]);
        let forged = format!(
            "wc1.{}.{sig}",
            B64.encode(serde_json::to_vec(&other).unwrap())
        );
        assert_eq!(
            verify_session(secret, &forged, 1_000),
            Err(TokenError::BadSignature)
        );
        assert!(head.len() > 4);
        for bad in ["", "wc1.", "wc1.abc", "wc2.a.b", "wc1.a.!!", "Bearer x"] {
            assert!(verify_session(secret, bad, 1_000).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_token_signature_is_hmac_sha256_over_the_prefixed_payload() {
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        let m = mac(b"Jefe", "what do ya want for nothing?")
            .finalize()
            .into_bytes();
        assert_eq!(
            hex::encode(m),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let token = sign_session(b"k", &claims(5));
        let (signed, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(
            B64.decode(sig).unwrap(),
            mac(b"k", signed).finalize().into_bytes().to_vec()
        );
    }

    #[test]
    fn visitor_and_client_ids() {
        let v = new_visitor_id();
        assert!(is_visitor_id(&v), "{v}");
        assert_ne!(v, new_visitor_id());
        assert_eq!(
            visitor_id_from([0xab; 16]),
            "v_abababababababababababababababab"
        );
        for bad in [
            "",
            "v_",
            "v_ABABABABABABABABABABABABABABABAB",
            "x_abababababababababababababababab",
            "v_abab",
        ] {
            assert!(!is_visitor_id(bad), "{bad}");
        }
        assert!(is_client_id("c-1700000000000-ab_3.x"));
        assert!(!is_client_id(""));
        assert!(!is_client_id("a b"));
        assert!(!is_client_id(&"a".repeat(65)));
        let key = event_id(&v, "c1");
        assert_eq!(key, format!("web:{v}:c1"));
        assert_eq!(client_id_of(&key, &v), Some("c1"));
        assert_eq!(client_id_of("greet:conv:cv_1", &v), None);
    }

    #[test]
    fn texts_origins_names_and_languages() {
        assert_eq!(check_text("hi"), Ok(()));
        assert_eq!(check_text("  \n"), Err(TextError::Empty));
        assert_eq!(check_text(&"好".repeat(2000)), Ok(()));
        assert_eq!(check_text(&"好".repeat(2001)), Err(TextError::TooLong));

        let allowed = vec![
            "https://www.example.com".to_string(),
            "http://localhost:3000/".into(),
        ];
        assert!(origin_allowed(&allowed, "https://www.example.com"));
        assert!(origin_allowed(&allowed, "HTTPS://WWW.EXAMPLE.COM"));
        assert!(origin_allowed(&allowed, "http://localhost:3000"));
        assert!(!origin_allowed(&allowed, "http://www.example.com"));
        assert!(!origin_allowed(
            &allowed,
            "https://www.example.com.evil.test"
        ));
        assert!(!origin_allowed(&allowed, "http://localhost:3001"));
        assert!(!origin_allowed(&allowed, "null"));
        assert!(!origin_allowed(&allowed, ""));
        assert!(!origin_allowed(&[], "https://www.example.com"));

        assert_eq!(
            clean_name(Some("  Wang\u{0} Wei ")),
            Some("Wang Wei".into())
        );
        assert_eq!(clean_name(Some("   ")), None);
        assert_eq!(clean_name(Some(&"x".repeat(100))).unwrap().len(), 64);
        assert_eq!(parse_lang(Some("zh-CN")), Some(Lang::zh_hans()));
        assert_eq!(parse_lang(Some("")), None);
    }

    #[test]
    fn a_visitor_message_is_an_inbound_text_event_keyed_by_client_id() {
        use crate::channels::inbound::from_web_chat;
        use crate::model::{Channel, ChannelKind};
        let channel = Channel {
            channel_id: "site1".into(),
            account_id: "acc".into(),
            kind: ChannelKind::WebChat,
            external_id: "www.example.com".into(),
            name: "Site".into(),
            secret_ref: "/x".into(),
            enabled: true,
        };
        let v = visitor_id_from([1; 16]);
        let ev = from_web_chat(
            &channel,
            &v,
            "c-1",
            "Is breakfast included?",
            Some(Lang::en()),
            9,
        );
        assert_eq!(ev.event_id, format!("web:{v}:c-1"));
        assert_eq!(
            (ev.customer.as_str(), ev.channel_kind),
            (v.as_str(), ChannelKind::WebChat)
        );
        assert_eq!((ev.occurred_ms, ev.received_ms), (9, 9));
        assert_eq!(ev.lang, Some(Lang::en()));
        assert_eq!(ev.group_id(), format!("site1:{v}"));
        assert_eq!(
            ev.content,
            Content::Text {
                text: "Is breakfast included?".into()
            }
        );
        let again = from_web_chat(&channel, &v, "c-1", "Is breakfast included?", None, 10);
        assert_eq!(again.event_id, ev.event_id, "a resend keeps its id");
    }

    fn msg(at_ms: i64, key: &str) -> StoredMessage {
        StoredMessage {
            conversation_id: "cv1".into(),
            message_key: key.into(),
            direction: Direction::Outbound,
            at_ms,
            content: Content::Text { text: key.into() },
            agent_id: None,
            error: None,
        }
    }

    fn keys(v: &[&StoredMessage]) -> Vec<String> {
        v.iter().map(|m| m.message_key.clone()).collect()
    }

    #[test]
    fn cursor_returns_each_message_once_even_when_stored_late() {
        let start = Cursor::decode("").unwrap();
        assert_eq!(start, Cursor::default());
        assert_eq!(start.encode(), "");
        assert_eq!(start.read_from_ms("cv1"), 0);

        let all = vec![msg(100_000, "a"), msg(101_000, "greet")];
        let (new, c1) = after_cursor("cv1", &all, &start);
        assert_eq!(keys(&new), ["a", "greet"]);
        let c1 = Cursor::decode(&c1.encode()).unwrap();
        assert_eq!(c1.watermark_ms, 101_000);
        assert_eq!(c1.read_from_ms("cv1"), 41_000);

        // Nothing new.
        let (new, c2) = after_cursor("cv1", &all, &c1);
        assert!(new.is_empty());
        assert_eq!(c2, c1);

        // A message with an earlier time than the watermark, stored after the last poll, is still returned.
        let all = vec![
            msg(100_000, "a"),
            msg(100_500, "b-late"),
            msg(101_000, "greet"),
            msg(102_000, "c"),
        ];
        let (new, c3) = after_cursor("cv1", &all, &c1);
        assert_eq!(keys(&new), ["b-late", "c"]);
        let (new, _) = after_cursor("cv1", &all, &c3);
        assert!(new.is_empty());

        // Another conversation starts from its beginning.
        let (new, c4) = after_cursor("cv2", &all[..1], &c3);
        assert_eq!(keys(&new), ["a"]);
        assert_eq!(c4.conversation_id.as_deref(), Some("cv2"));

        // Messages older than the grace window drop out of the seen list.
        let all = vec![msg(100_000, "a"), msg(200_000, "z")];
        let (_, c5) = after_cursor("cv1", &all, &c3);
        assert_eq!(c5.seen.len(), 1);
        assert_eq!(c5.read_from_ms("cv1"), 140_000);

        for bad in ["!!", "e30x", &"a".repeat(9000)] {
            assert!(Cursor::decode(bad).is_none(), "{bad}");
        }
    }
}
