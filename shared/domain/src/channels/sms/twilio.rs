//! Twilio: the incoming message webhook (form parsing, `X-Twilio-Signature`, TwiML acknowledgement) and
//! the Messages API send form.
//!
//! # Signature
//!
//! ```text
//! X-Twilio-Signature = base64(HMAC-SHA1(auth_token, url ‖ for each name sorted: for each value sorted: name ‖ value))
//! ```
//!
//! Names and values are the decoded form parameters (so two bodies percent-encoded differently sign the
//! same), sorted by code point (byte-wise on UTF-8, as Twilio's Python library sorts); a name sent several
//! times contributes each of its values, sorted. Every parameter Twilio sent takes part, including empty
//! ones and ones this codec does not know: pass [`parse_form`]'s output unfiltered.
//!
//! `url` is the URL Twilio requested as configured in Twilio: scheme, public host, path and query
//! string, byte for byte. Behind API Gateway that is the public host and path (with any stage or
//! base-path prefix the public URL has) plus the raw query string, never an internal or rewritten URL;
//! the safest source is the URL stored with the channel configuration rather than one rebuilt from the
//! request. [`verify`] accepts a signature over the URL with or without its port (the default port
//! added when absent), as Twilio's libraries do.
//!
//! # Sending
//!
//! `POST https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json` ([`messages_url`]) with
//! HTTP basic authentication and the form from [`send_form`] (`To`, `From` or `MessagingServiceSid`,
//! `Body`, optional `StatusCallback`), encoded by [`encode_form`]. `Body` holds up to 1 600 characters:
//! cut longer texts with [`super::segments::split_for_provider`].

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{InboundSms, SmsError, SmsProvider, MAX_BODY_BYTES};

/// The `Content-Type` of [`twiml_empty`].
pub const TWIML_CONTENT_TYPE: &str = "text/xml";

/// Most media items Twilio attaches to one message.
pub const MAX_MEDIA: usize = 10;

/// Longest `Body` the Messages API accepts, in characters.
pub const MAX_SEND_CHARS: usize = super::segments::TWILIO_MAX_REQUEST_CHARS;

type HmacSha1 = Hmac<Sha1>;

/// The HMAC over `url` and the sorted parameters, before base64.
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // Sorting the pairs orders names first and, within a repeated name, its values.
    sorted.sort_unstable();
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The `X-Twilio-Signature` Twilio sends for a POST of `params` to `full_url`.
///
/// ```
/// use kefu_domain::channels::sms::twilio::signature;
/// let params: Vec<(String, String)> = [
///     ("CallSid", "CA1234567890ABCDE"),
///     ("Caller", "+14158675309"),
///     ("Digits", "1234"),
///     ("From", "+14158675309"),
///     ("To", "+18005551212"),
/// ]
/// .iter()
/// .map(|(n, v)| (n.to_string(), v.to_string()))
/// .collect();
/// assert_eq!(
///     signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
///     "RSOYDt4T1cUTdK1PDd93/VVr8B8="
/// );
/// ```
pub fn signature(auth_token: &str, full_url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(mac(auth_token, full_url, params).finalize().into_bytes())
}

/// Checks an `X-Twilio-Signature` header in constant time, over `url` as given and over its variant
/// with the port removed or the default port (443 for https, 80 otherwise) added.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(received) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    let (without_port, with_port) = url_port_variants(url);
    // Both candidates are always computed, so the time does not tell which one matched.
    let a = mac(auth_token, &without_port, params)
        .verify_slice(&received)
        .is_ok();
    let b = mac(auth_token, &with_port, params)
        .verify_slice(&received)
        .is_ok();
    a | b
}

/// [`verify`] as a `Result`, for a header that may be absent: `Err(SmsError::BadSignature)` unless it
/// matches.
pub fn check_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SmsError> {
    match header {
        Some(header) if !auth_token.is_empty() && verify(auth_token, url, params, header) => Ok(()),
        _ => Err(SmsError::BadSignature),
    }
}

/// `url` without any port, and `url` with its port (the default one added when there is none).
fn url_port_variants(url: &str) -> (String, String) {
    let Some(scheme_end) = url.find("://") else {
        return (url.to_owned(), url.to_owned());
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal keeps its colons inside brackets.
    let port_colon = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].find(':').map(|i| bracket + i),
        None => host_port.rfind(':'),
    };
    let colon = port_colon.map(|i| authority_start + host_start + i);
    match colon {
        Some(colon)
            if url[colon + 1..authority_end]
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            let without = format!("{}{}", &url[..colon], &url[authority_end..]);
            (without, url.to_owned())
        }
        Some(_) => (url.to_owned(), url.to_owned()),
        None => {
            let port = if url[..scheme_end].eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            let with = format!("{}:{port}{}", &url[..authority_end], &url[authority_end..]);
            (url.to_owned(), with)
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body into its pairs, in order, repeated names kept:
/// `&` separates pairs (empty ones are skipped), the first `=` separates name and value (a pair without
/// one has an empty value), `+` is a space, `%XX` is a byte (a `%` not followed by two hex digits is kept
/// literally), and the decoded bytes must be UTF-8. Bodies over [`MAX_BODY_BYTES`] are refused.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, SmsError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(SmsError::TooLarge);
    }
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(raw: &[u8]) -> Result<String, SmsError> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| SmsError::Malformed("form field is not UTF-8".into()))
}

/// The first value of `name`, if sent.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(params: &'a [(String, String)], name: &str) -> Result<&'a str, SmsError> {
    match param(params, name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(SmsError::Malformed(format!("missing {name}"))),
    }
}

impl InboundSms {
    /// The message of a Twilio incoming message webhook, from its (already verified) parameters.
    ///
    /// `MessageSid`, `From` and `To` are required; `Body` may be absent (media only). `NumMedia`
    /// (0 to [`MAX_MEDIA`], absent meaning 0) announces `MediaUrl{i}` (required) and
    /// `MediaContentType{i}` (empty when absent) for `i` in `0..NumMedia`.
    pub fn from_twilio(params: &[(String, String)]) -> Result<InboundSms, SmsError> {
        let sid = required(params, "MessageSid")?;
        let from = required(params, "From")?;
        let to = required(params, "To")?;
        let text = param(params, "Body").unwrap_or_default();
        let num_media = match param(params, "NumMedia").filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= MAX_MEDIA)
                .ok_or_else(|| SmsError::Malformed("invalid NumMedia".into()))?,
        };
        let media = (0..num_media)
            .map(|i| {
                let url = required(params, &format!("MediaUrl{i}"))?;
                let content_type =
                    param(params, &format!("MediaContentType{i}")).unwrap_or_default();
                Ok((url.to_owned(), content_type.to_owned()))
            })
            .collect::<Result<Vec<_>, SmsError>>()?;
        Ok(InboundSms {
            provider: SmsProvider::Twilio,
            message_id: format!("twilio:{sid}"),
            from: from.to_owned(),
            to: to.to_owned(),
            text: text.to_owned(),
            received_at_s: None,
            media,
            sign_name: None,
        })
    }
}

/// The TwiML that acknowledges a message without replying; serve it as [`TWIML_CONTENT_TYPE`].
pub fn twiml_empty() -> &'static str {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
}

/// Who a Twilio message is sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender<'a> {
    /// A Twilio number (E.164), short code or alphanumeric sender id: the `From` parameter.
    From(&'a str),
    /// A Messaging Service (`MG…`), which picks the number: the `MessagingServiceSid` parameter.
    MessagingService(&'a str),
}

/// The Messages API form for one message: `To`, then `From` or `MessagingServiceSid`, `Body`, and
/// `StatusCallback` when given. `body` must be at most [`MAX_SEND_CHARS`] characters.
pub fn send_form(
    to: &str,
    sender: Sender<'_>,
    body: &str,
    status_callback: Option<&str>,
) -> Vec<(String, String)> {
    let mut form = vec![("To".to_owned(), to.to_owned())];
    form.push(match sender {
        Sender::From(from) => ("From".to_owned(), from.to_owned()),
        Sender::MessagingService(sid) => ("MessagingServiceSid".to_owned(), sid.to_owned()),
    });
    form.push(("Body".to_owned(), body.to_owned()));
    if let Some(url) = status_callback {
        form.push(("StatusCallback".to_owned(), url.to_owned()));
    }
    form
}

/// `application/x-www-form-urlencoded` serialisation of `params`, in order.
pub fn encode_form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .finish()
}

/// The Messages API endpoint of an account.
pub fn messages_url(account_sid: &str) -> String {
    format!("https://api.twilio.com/2010-04-01/Accounts/{account_sid}/Messages.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variants() {
        let v = |u: &str| url_port_variants(u);
        assert_eq!(
            v("https://a.com/x?y=1"),
            (
                "https://a.com/x?y=1".into(),
                "https://a.com:443/x?y=1".into()
            )
        );
        assert_eq!(
            v("http://a.com:8080/x"),
            ("http://a.com/x".into(), "http://a.com:8080/x".into())
        );
        assert_eq!(
            v("http://a.com"),
            ("http://a.com".into(), "http://a.com:80".into())
        );
        assert_eq!(
            v("https://u:p@a.com?q"),
            (
                "https://u:p@a.com?q".into(),
                "https://u:p@a.com:443?q".into()
            )
        );
        assert_eq!(
            v("https://[::1]:9/x"),
            ("https://[::1]/x".into(), "https://[::1]:9/x".into())
        );
        assert_eq!(v("not a url"), ("not a url".into(), "not a url".into()));
    }

    #[test]
    fn form_decoding_edge_cases() {
        let f = parse_form(b"a=1&&b&c=%zz%4&d=x=y&e=%E4%BD%A0+%2B").unwrap();
        let pairs: Vec<(&str, &str)> = f.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("a", "1"),
                ("b", ""),
                ("c", "%zz%4"),
                ("d", "x=y"),
                ("e", "你 +")
            ]
        );
        assert!(matches!(parse_form(b"a=%FF"), Err(SmsError::Malformed(_))));
        assert_eq!(parse_form(b"").unwrap(), vec![]);
    }

    #[test]
    fn check_signature_requires_header_and_token() {
        let params = vec![("A".to_owned(), "1".to_owned())];
        let sig = signature("t", "https://a.com/", &params);
        assert_eq!(
            check_signature("t", "https://a.com/", &params, Some(&sig)),
            Ok(())
        );
        assert_eq!(
            check_signature("t", "https://a.com/", &params, None),
            Err(SmsError::BadSignature)
        );
        assert_eq!(
            check_signature(
                "",
                "https://a.com/",
                &params,
                Some(&signature("", "https://a.com/", &params))
            ),
            Err(SmsError::BadSignature)
        );
        assert!(!verify("t", "https://a.com/", &params, "not base64!"));
    }
}
