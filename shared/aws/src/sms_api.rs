//! SMS senders (outbound): Twilio (international), Aliyun SMS and Tencent Cloud SMS (mainland), one
//! [`ChannelApi`] client per provider, registered in [`crate::outbound::ChannelRouter`] for the channel kinds
//! `sms_twilio`, `sms_aliyun` and `sms_tencent`.
//!
//! | provider | request | auth | text per request |
//! |---|---|---|---|
//! | Twilio | `POST {TWILIO_API_BASE}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form `To`, `From` (or `MessagingServiceSid`), `Body`, `MediaUrl` | HTTP basic, Account SID : auth token | 1 600 characters ([`split_for_provider`]) |
//! | Aliyun | `POST {ALIYUN_SMS_API_BASE}/` RPC style, form with `Action=SendSms`, `Version=2017-05-25` | [`aliyun_rpc`] HMAC-SHA1 signature | 500 characters including 【签名】 ([`split_for_provider_signed`]) |
//! | Tencent | `POST {TENCENT_SMS_API_BASE}/` API 3.0, JSON, `X-TC-Action: SendSms`, `X-TC-Version: 2021-01-11` | [`tc3`] TC3-HMAC-SHA256 `Authorization` | 500 characters including 【签名】 |
//!
//! **Mainland templates.** Mainland carriers deliver only SMS sent through a template and a signature
//! (签名) approved by the provider: free text cannot be sent as such. kefu sends the agent's text as the
//! single variable of the channel's template (`template_id`): Aliyun `TemplateParam={"content":"<text>"}`
//! for a template such as `${content}`, Tencent `TemplateParamSet=["<text>"]` for a template such as `{1}`.
//! Register that template (type 通知 / notification) with the variable's length limit at least the piece
//! size; a provider that refuses a variable (too long, a URL in it) answers with a code that is recorded as
//! a refusal on the message. Keep the fixed text of the template short: it counts against the 500 characters.
//!
//! **Outcomes.** Network failures, HTTP 429 / 5xx and the providers' throttling and system-error codes are
//! [`SendError::Retryable`]; bad credentials, an unapproved signature or template, an exhausted balance are
//! [`SendError::Misconfigured`] (retried, then dead-lettered, until an admin fixes the channel); a refused
//! number or content is [`SendError::Rejected`] with the provider's code and message.
//!
//! **Long replies** are cut with the codec's rules into several requests, sent in order. When a
//! [`PartLedger`] is attached, every piece of a cut message is recorded once sent (an idempotency record per
//! piece), so a retry after a failure half-way resends only the pieces that did not go out.
//!
//! Media: Twilio sends an image (or audio) URL as MMS (`MediaUrl`); mainland SMS carries text only, so media
//! are refused there. Cards are sent as text (title, description, URL); typing indicators are skipped.

use crate::edge::now_ms;
use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use kefu_domain::channels::sms::segments::{split_for_provider, split_for_provider_signed};
use kefu_domain::channels::sms::twilio::{encode_form, send_form, Sender};
use kefu_domain::channels::sms::SmsProvider;
use kefu_domain::messages::{OutboundBody, OutboundMessage};
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{ChannelApi, Claim, Idempotency, SendError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Twilio REST API base URL (`TWILIO_API_BASE`).
pub const DEFAULT_TWILIO_API_BASE: &str = "https://api.twilio.com";
/// Aliyun SMS (Dysmsapi) endpoint (`ALIYUN_SMS_API_BASE`).
pub const DEFAULT_ALIYUN_SMS_API_BASE: &str = "https://dysmsapi.aliyuncs.com";
/// Tencent Cloud SMS endpoint (`TENCENT_SMS_API_BASE`).
pub const DEFAULT_TENCENT_SMS_API_BASE: &str = "https://sms.tencentcloudapi.com";

/// Aliyun `SendSms` API version.
pub const ALIYUN_SMS_VERSION: &str = "2017-05-25";
/// Aliyun region of the Dysmsapi endpoint.
pub const ALIYUN_SMS_REGION: &str = "cn-hangzhou";
/// Tencent Cloud SMS API version.
pub const TENCENT_SMS_VERSION: &str = "2021-01-11";
/// Tencent Cloud service name of SMS (credential scope of TC3).
pub const TENCENT_SMS_SERVICE: &str = "sms";
/// Tencent Cloud region the SMS requests are sent to (SMS is served from ap-guangzhou, ap-beijing and
/// ap-nanjing; any of them reaches the same SMS application).
pub const TENCENT_SMS_REGION: &str = "ap-guangzhou";
/// The `Content-Type` Tencent requests are sent and signed with.
pub const TENCENT_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Idempotency records of the pieces of split messages (the runtime table in production).
pub type PartLedger = Arc<dyn Idempotency>;

/// How long a piece's record blocks a concurrent attempt (ms).
const PART_LOCK_MS: i64 = 60_000;
/// How long a sent piece stays recorded (s): longer than any queue retention.
const PART_KEEP_S: i64 = 15 * 24 * 3600;

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .connect_timeout(Duration::from_secs(3))
        .build()
        .expect("HTTP client")
}

fn unreachable(provider: &str, e: reqwest::Error) -> SendError {
    SendError::Retryable(format!("{provider} API unreachable: {e}"))
}

fn required<'a>(value: &'a Option<String>, what: &str) -> Result<&'a str, SendError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SendError::Misconfigured(format!("channel credentials have no {what}")))
}

fn check_kind(channel: &Channel, kind: ChannelKind) -> Result<(), SendError> {
    if channel.kind == kind {
        Ok(())
    } else {
        Err(SendError::Misconfigured(format!(
            "{} is not a {} channel",
            channel.kind.as_str(),
            kind.as_str()
        )))
    }
}

/// What an outbound body becomes on SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsPayload {
    /// A text, to be cut into request-sized pieces.
    Text(String),
    /// An MMS: a media URL and an optional caption (Twilio only).
    Media { url: String, caption: String },
    /// Nothing to send (a typing indicator).
    Nothing,
}

/// The SMS form of an outbound body; `media` says whether the provider carries MMS.
pub fn sms_payload(body: &OutboundBody, media: bool) -> Result<SmsPayload, SendError> {
    let payload = match body {
        OutboundBody::Text { text } => SmsPayload::Text(text.clone()),
        OutboundBody::Card {
            title,
            description,
            url,
            ..
        } => SmsPayload::Text(
            [
                Some(title.as_str()),
                description.as_deref(),
                Some(url.as_str()),
            ]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        ),
        OutboundBody::Image { url, .. } | OutboundBody::Voice { url, .. } => {
            match url.as_deref().filter(|u| !u.is_empty()) {
                Some(url) if media => SmsPayload::Media {
                    url: url.to_owned(),
                    caption: String::new(),
                },
                Some(_) => {
                    return Err(SendError::Rejected(
                        "mainland SMS carries text only, not media".into(),
                    ))
                }
                None => {
                    return Err(SendError::Rejected(
                        "SMS media must be a public URL (no channel media id)".into(),
                    ))
                }
            }
        }
        OutboundBody::Typing => SmsPayload::Nothing,
    };
    if matches!(&payload, SmsPayload::Text(t) if t.trim().is_empty()) {
        return Err(SendError::Rejected("empty text: nothing to send".into()));
    }
    Ok(payload)
}

/// A provider's error message with every run of 6 or more digits (a phone number, with its `+`) replaced by
/// `…`: the reason is logged and stored, phone numbers must not be.
pub fn scrub_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.bytes().filter(u8::is_ascii_digit).count();
        out.push_str(if digits >= 6 { "…" } else { run.as_str() });
        run.clear();
    };
    for c in message.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Sends `pieces` in order with `send_one`. With more than one piece and a ledger, each piece is claimed
/// under `sms-part:{message_id}:{index}` first and skipped when it was sent before.
pub async fn send_pieces<F, Fut>(
    ledger: Option<&PartLedger>,
    message_id: &str,
    pieces: &[String],
    send_one: F,
) -> Result<(), SendError>
where
    F: Fn(usize, String) -> Fut,
    Fut: Future<Output = Result<(), SendError>>,
{
    let ledger = ledger.filter(|_| pieces.len() > 1);
    for (i, piece) in pieces.iter().enumerate() {
        let Some(ledger) = ledger else {
            send_one(i, piece.clone()).await?;
            continue;
        };
        let key = format!("sms-part:{message_id}:{i}");
        let fingerprint = hex::encode(Sha256::digest(piece.as_bytes()));
        let claim = ledger
            .claim(&key, &fingerprint, PART_LOCK_MS, now_ms())
            .await
            .map_err(|e| SendError::Retryable(format!("part record: {e}")))?;
        match claim {
            Claim::AlreadyDone => continue,
            Claim::InProgress => {
                return Err(SendError::Retryable(format!(
                    "part {} of {message_id} is being sent by another invocation",
                    i + 1
                )))
            }
            Claim::Acquired => {}
        }
        match send_one(i, piece.clone()).await {
            Ok(()) => {
                if let Err(e) = ledger.complete(&key, PART_KEEP_S, now_ms()).await {
                    tracing::warn!(error = %e, part = i + 1, "could not record a sent part");
                }
            }
            Err(e) => {
                let _ = ledger.release(&key).await;
                return Err(e);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Twilio
// ---------------------------------------------------------------------------------------------------------

/// The Twilio Programmable Messaging client.
///
/// `From` is the channel's `external_id` (an E.164 number, a short code or an alphanumeric sender id), or
/// `MessagingServiceSid` when it is a Messaging Service SID (`MG` + 32 hex digits); `To` is the customer's number.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base: String,
    ledger: Option<PartLedger>,
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    pub fn new(base: impl Into<String>) -> Self {
        TwilioClient {
            http: http_client(),
            base: base.into().trim_end_matches('/').to_string(),
            ledger: None,
        }
    }

    /// Records the pieces of cut messages (see the module docs).
    pub fn with_ledger(mut self, ledger: PartLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The Messages endpoint of an account under this client's base.
    pub fn messages_url(&self, account_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            self.base
        )
    }

    async fn post(
        &self,
        url: &str,
        sid: &str,
        token: &str,
        form: &[(String, String)],
    ) -> Result<(), SendError> {
        let resp = self
            .http
            .post(url)
            .basic_auth(sid, Some(token))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(encode_form(form))
            .send()
            .await
            .map_err(|e| unreachable("Twilio", e))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            tracing::debug!(
                sid = body["sid"].as_str().unwrap_or(""),
                "Twilio accepted the message"
            );
            return Ok(());
        }
        Err(classify_twilio(
            status,
            body["code"].as_i64(),
            body["message"].as_str().unwrap_or(""),
        ))
    }
}

/// What a Twilio error answer means: 401 / 403 / 404 bad credentials or account, 429 and 5xx try again,
/// other 4xx a refusal with Twilio's error `code` and `message`.
pub fn classify_twilio(status: u16, code: Option<i64>, message: &str) -> SendError {
    let message = &scrub_numbers(message);
    let detail = match code {
        Some(code) => format!("Twilio {status} error {code}: {message}"),
        None => format!("Twilio {status}: {message}"),
    };
    match status {
        401 | 403 | 404 => SendError::Misconfigured(detail),
        429 | 500..=599 => SendError::Retryable(detail),
        _ => SendError::Rejected(detail),
    }
}

#[async_trait]
impl ChannelApi for TwilioClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        check_kind(channel, ChannelKind::SmsTwilio)?;
        let sid = required(&secrets.account_sid, "account_sid (Twilio Account SID)")?;
        if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SendError::Misconfigured(
                "account_sid is not a Twilio Account SID".into(),
            ));
        }
        let token = required(&secrets.app_secret, "app_secret (Twilio auth token)")?;
        let from = channel.external_id.trim();
        if from.is_empty() {
            return Err(SendError::Misconfigured(
                "the channel has no sending number (external_id)".into(),
            ));
        }
        let messaging_service = from.len() == 34
            && from.starts_with("MG")
            && from[2..].bytes().all(|b| b.is_ascii_hexdigit());
        let sender = if messaging_service {
            Sender::MessagingService(from)
        } else {
            Sender::From(from)
        };
        let url = self.messages_url(sid);
        match sms_payload(&msg.body, true)? {
            SmsPayload::Nothing => Ok(()),
            SmsPayload::Text(text) => {
                let pieces = split_for_provider(&text, SmsProvider::Twilio);
                send_pieces(
                    self.ledger.as_ref(),
                    &msg.message_id,
                    &pieces,
                    |_, piece| {
                        let form = send_form(&msg.customer, sender, &piece, None);
                        let url = url.clone();
                        async move { self.post(&url, sid, token, &form).await }
                    },
                )
                .await
            }
            SmsPayload::Media {
                url: media,
                caption,
            } => {
                let mut form = send_form(&msg.customer, sender, &caption, None);
                form.push(("MediaUrl".into(), media));
                self.post(&url, sid, token, &form).await
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Aliyun
// ---------------------------------------------------------------------------------------------------------

/// Aliyun's RPC-style request signature (signature method V2: `SignatureMethod=HMAC-SHA1`,
/// `SignatureVersion=1.0`), as documented in "签名机制" / "Request syntax and signature method V2 for RPC
/// APIs" (<https://help.aliyun.com/document_detail/28839.html>,
/// <https://www.alibabacloud.com/help/en/sms/signature-method>):
///
/// ```text
/// CanonicalizedQueryString = join("&", sorted(percentEncode(name) "=" percentEncode(value)))   (all but Signature)
/// StringToSign = HTTPMethod "&" percentEncode("/") "&" percentEncode(CanonicalizedQueryString)
/// Signature    = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
/// ```
///
/// `percentEncode` is RFC 3986: `A-Z a-z 0-9 - _ . ~` as is, every other byte of the UTF-8 `%XY` (upper
/// case), so a space is `%20`, `*` is `%2A`.
pub mod aliyun_rpc {
    use super::*;

    /// RFC 3986 percent-encoding as Aliyun specifies it.
    pub fn percent_encode(s: &str) -> String {
        let mut out = String::with_capacity(s.len() * 3);
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }

    /// The canonicalized query string of every parameter except `Signature`, sorted by name.
    pub fn canonicalized_query(params: &[(String, String)]) -> String {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .filter(|(n, _)| n != "Signature")
            .map(|(n, v)| (percent_encode(n), percent_encode(v)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn string_to_sign(method: &str, params: &[(String, String)]) -> String {
        format!(
            "{method}&{}&{}",
            percent_encode("/"),
            percent_encode(&canonicalized_query(params))
        )
    }

    /// `Signature` of a request with `params` sent by `method` (`GET` or `POST`).
    pub fn signature(method: &str, params: &[(String, String)], access_key_secret: &str) -> String {
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
                .expect("HMAC takes any key length");
        mac.update(string_to_sign(method, params).as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Checks the `Signature` among `params` in constant time.
    pub fn verify(method: &str, params: &[(String, String)], access_key_secret: &str) -> bool {
        let Some((_, given)) = params.iter().find(|(n, _)| n == "Signature") else {
            return false;
        };
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given) else {
            return false;
        };
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(format!("{access_key_secret}&").as_bytes())
                .expect("HMAC takes any key length");
        mac.update(string_to_sign(method, params).as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

/// The `PhoneNumbers` form of an E.164 number: a mainland number (`+86…`) as its 11 national digits,
/// any other as country code + number without the `+`.
pub fn aliyun_phone(e164: &str) -> Result<String, SendError> {
    let digits = e164.trim().strip_prefix('+').unwrap_or(e164.trim());
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SendError::Rejected(
            "the customer id is not a phone number".into(),
        ));
    }
    Ok(match digits.strip_prefix("86") {
        Some(national) if national.len() == 11 => national.to_owned(),
        _ => digits.to_owned(),
    })
}

/// What an Aliyun `Code` means (see the module docs); `status` is the HTTP status.
pub fn classify_aliyun(status: u16, code: &str, message: &str) -> Result<(), SendError> {
    let message = &scrub_numbers(message);
    if code == "OK" && (200..300).contains(&status) {
        return Ok(());
    }
    let detail = format!("Aliyun {status} {code}: {message}");
    const RETRYABLE: &[&str] = &[
        "isp.SYSTEM_ERROR",
        "isv.BUSINESS_LIMIT_CONTROL",
        "SignatureNonceUsed",
        "InternalError",
        "ServiceUnavailable",
    ];
    const MISCONFIGURED: &[&str] = &[
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidTimeStamp.Expired",
        "isp.RAM_PERMISSION_DENY",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.ACCOUNT_ABNORMAL",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.DENY_IP_RANGE",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
    ];
    if RETRYABLE.contains(&code) || code.starts_with("Throttling") || status >= 500 || status == 429
    {
        Err(SendError::Retryable(detail))
    } else if MISCONFIGURED.contains(&code) || code.starts_with("Forbidden") {
        Err(SendError::Misconfigured(detail))
    } else {
        Err(SendError::Rejected(detail))
    }
}

/// The Aliyun SMS `SendSms` client.
#[derive(Clone)]
pub struct AliyunSmsClient {
    http: reqwest::Client,
    base: String,
    ledger: Option<PartLedger>,
}

impl std::fmt::Debug for AliyunSmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AliyunSmsClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A `SignatureNonce`: 128 random bits in the UUID layout.
fn nonce() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl AliyunSmsClient {
    pub fn new(base: impl Into<String>) -> Self {
        AliyunSmsClient {
            http: http_client(),
            base: base.into().trim_end_matches('/').to_string(),
            ledger: None,
        }
    }

    /// Records the pieces of cut messages (see the module docs).
    pub fn with_ledger(mut self, ledger: PartLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The signed `SendSms` form for one piece, at `timestamp` (`YYYY-MM-DDThh:mm:ssZ`, UTC).
    #[allow(clippy::too_many_arguments)]
    pub fn send_sms_form(
        access_key_id: &str,
        access_key_secret: &str,
        phone: &str,
        sign_name: &str,
        template_code: &str,
        text: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = [
            ("AccessKeyId", access_key_id),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("PhoneNumbers", phone),
            ("RegionId", ALIYUN_SMS_REGION),
            ("SignName", sign_name),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", template_code),
            ("Timestamp", timestamp),
            ("Version", ALIYUN_SMS_VERSION),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        params.push((
            "TemplateParam".into(),
            json!({ "content": text }).to_string(),
        ));
        let signature = aliyun_rpc::signature("POST", &params, access_key_secret);
        params.push(("Signature".into(), signature));
        params
    }

    async fn post(&self, form: &[(String, String)]) -> Result<(), SendError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .finish();
        let resp = self
            .http
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable("Aliyun SMS", e))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let result = classify_aliyun(
            status,
            body["Code"].as_str().unwrap_or(""),
            body["Message"].as_str().unwrap_or(""),
        );
        if result.is_ok() {
            tracing::debug!(
                biz_id = body["BizId"].as_str().unwrap_or(""),
                "Aliyun accepted the message"
            );
        }
        result
    }
}

#[async_trait]
impl ChannelApi for AliyunSmsClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        check_kind(channel, ChannelKind::SmsAliyun)?;
        let key_id = required(&secrets.access_key_id, "access_key_id (AccessKey ID)")?;
        let key_secret = required(
            &secrets.access_key_secret,
            "access_key_secret (AccessKey secret)",
        )?;
        let sign_name = required(&secrets.sign_name, "sign_name (SMS signature)")?;
        let template = required(&secrets.template_id, "template_id (SMS template code)")?;
        let phone = aliyun_phone(&msg.customer)?;
        let text = match sms_payload(&msg.body, false)? {
            SmsPayload::Nothing => return Ok(()),
            SmsPayload::Text(text) => text,
            SmsPayload::Media { .. } => {
                return Err(SendError::Rejected("mainland SMS carries text only".into()))
            }
        };
        let pieces = split_for_provider_signed(&text, SmsProvider::Aliyun, sign_name);
        send_pieces(
            self.ledger.as_ref(),
            &msg.message_id,
            &pieces,
            |_, piece| {
                let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let form = Self::send_sms_form(
                    key_id,
                    key_secret,
                    &phone,
                    sign_name,
                    template,
                    &piece,
                    &timestamp,
                    &nonce(),
                );
                async move { self.post(&form).await }
            },
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tencent
// ---------------------------------------------------------------------------------------------------------

/// Tencent Cloud API 3.0 signature `TC3-HMAC-SHA256` (签名方法 v3), as documented in "签名方法 v3"
/// (<https://cloud.tencent.com/document/api/382/52072> for SMS; the same text for every product, e.g.
/// <https://cloud.tencent.com/document/api/400/37390>), for a `POST` of a JSON body signing the headers
/// `content-type` and `host`:
///
/// ```text
/// CanonicalRequest = "POST\n/\n\ncontent-type:<ct>\nhost:<host>\n\ncontent-type;host\n" hex(sha256(payload))
/// StringToSign     = "TC3-HMAC-SHA256\n" timestamp "\n" date "/" service "/tc3_request\n" hex(sha256(CanonicalRequest))
/// SecretSigning    = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")
/// Signature        = hex(HMAC-SHA256(SecretSigning, StringToSign))
/// Authorization    = "TC3-HMAC-SHA256 Credential=" SecretId "/" date "/" service "/tc3_request, SignedHeaders=content-type;host, Signature=" Signature
/// ```
///
/// `date` is the UTC date (`YYYY-MM-DD`) of `timestamp` (`X-TC-Timestamp`, Unix seconds).
pub mod tc3 {
    use super::*;

    type HmacSha256 = Hmac<Sha256>;

    pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
    pub const SIGNED_HEADERS: &str = "content-type;host";

    fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(msg.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// The UTC date of a Unix timestamp, `YYYY-MM-DD`.
    pub fn utc_date(timestamp: i64) -> String {
        chrono::DateTime::from_timestamp(timestamp, 0)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string()
    }

    pub fn canonical_request(content_type: &str, host: &str, payload: &[u8]) -> String {
        format!(
            "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
            content_type.trim().to_ascii_lowercase(),
            host.trim().to_ascii_lowercase(),
            sha256_hex(payload)
        )
    }

    pub fn string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
        format!(
            "{ALGORITHM}\n{timestamp}\n{}/{service}/tc3_request\n{}",
            utc_date(timestamp),
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// The hex signature of `string_to_sign`.
    pub fn signature(
        secret_key: &str,
        timestamp: i64,
        service: &str,
        string_to_sign: &str,
    ) -> String {
        let date = hmac(format!("TC3{secret_key}").as_bytes(), &utc_date(timestamp));
        let service = hmac(&date, service);
        let signing = hmac(&service, "tc3_request");
        hex::encode(hmac(&signing, string_to_sign))
    }

    /// The `Authorization` header of a JSON `POST` to `host` at `timestamp`.
    #[allow(clippy::too_many_arguments)]
    pub fn authorization(
        secret_id: &str,
        secret_key: &str,
        service: &str,
        host: &str,
        content_type: &str,
        timestamp: i64,
        payload: &[u8],
    ) -> String {
        let canonical = canonical_request(content_type, host, payload);
        let to_sign = string_to_sign(timestamp, service, &canonical);
        format!(
            "{ALGORITHM} Credential={secret_id}/{}/{service}/tc3_request, SignedHeaders={SIGNED_HEADERS}, Signature={}",
            utc_date(timestamp),
            signature(secret_key, timestamp, service, &to_sign)
        )
    }

    /// The parts of an `Authorization` header: (SecretId, date, service, signed headers, signature).
    pub fn parse_authorization(header: &str) -> Option<(String, String, String, String, String)> {
        let rest = header.trim().strip_prefix(ALGORITHM)?.trim();
        let mut credential = None;
        let mut signed = None;
        let mut sig = None;
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v.to_string()),
                "SignedHeaders" => signed = Some(v.to_string()),
                "Signature" => sig = Some(v.to_string()),
                _ => {}
            }
        }
        let credential = credential?;
        let mut c = credential.split('/');
        let (id, date, service, term) = (c.next()?, c.next()?, c.next()?, c.next()?);
        if term != "tc3_request" || c.next().is_some() {
            return None;
        }
        Some((
            id.to_string(),
            date.to_string(),
            service.to_string(),
            signed?,
            sig?,
        ))
    }
}

/// What a Tencent error or send-status `Code` means (see the module docs).
pub fn classify_tencent(code: &str, message: &str) -> Result<(), SendError> {
    let message = &scrub_numbers(message);
    if code == "Ok" {
        return Ok(());
    }
    let detail = format!("Tencent {code}: {message}");
    const MISCONFIGURED: &[&str] = &[
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "FailedOperation.MissingSignatureList",
        "FailedOperation.MissingTemplateList",
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        "InvalidParameterValue.SdkAppIdNotExist",
        "InvalidParameterValue.TemplateParameterFormatError",
    ];
    if code == "AuthFailure.SignatureExpire"
        || code.starts_with("InternalError")
        || code.starts_with("RequestLimitExceeded")
        || code.starts_with("LimitExceeded.PhoneNumber")
        || code.starts_with("ResourceUnavailable")
    {
        Err(SendError::Retryable(detail))
    } else if code.starts_with("AuthFailure")
        || code.starts_with("UnauthorizedOperation")
        || MISCONFIGURED.contains(&code)
    {
        Err(SendError::Misconfigured(detail))
    } else {
        Err(SendError::Rejected(detail))
    }
}

/// The Tencent Cloud SMS `SendSms` client. `SmsSdkAppId` is the channel's `external_id`.
#[derive(Clone)]
pub struct TencentSmsClient {
    http: reqwest::Client,
    base: String,
    /// The `Host` requests carry (and are signed with): the base URL's host and explicit port.
    host: String,
    ledger: Option<PartLedger>,
}

impl std::fmt::Debug for TencentSmsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentSmsClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// `host[:port]` of a base URL as an HTTP client sends it in `Host` (default ports omitted).
pub fn url_authority(base: &str) -> String {
    match reqwest::Url::parse(base) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        },
        Err(_) => String::new(),
    }
}

impl TencentSmsClient {
    pub fn new(base: impl Into<String>) -> Self {
        let base = base.into().trim_end_matches('/').to_string();
        TencentSmsClient {
            http: http_client(),
            host: url_authority(&base),
            base,
            ledger: None,
        }
    }

    /// Records the pieces of cut messages (see the module docs).
    pub fn with_ledger(mut self, ledger: PartLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The `SendSms` JSON body for one piece.
    pub fn send_sms_body(
        phone: &str,
        sdk_app_id: &str,
        sign_name: &str,
        template_id: &str,
        text: &str,
    ) -> Value {
        json!({
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": sdk_app_id,
            "SignName": sign_name,
            "TemplateId": template_id,
            "TemplateParamSet": [text],
        })
    }

    async fn post(&self, secret_id: &str, secret_key: &str, body: &Value) -> Result<(), SendError> {
        let payload = serde_json::to_vec(body).expect("JSON");
        let timestamp = now_ms() / 1000;
        let auth = tc3::authorization(
            secret_id,
            secret_key,
            TENCENT_SMS_SERVICE,
            &self.host,
            TENCENT_CONTENT_TYPE,
            timestamp,
            &payload,
        );
        let resp = self
            .http
            .post(format!("{}/", self.base))
            .header("authorization", auth)
            .header("content-type", TENCENT_CONTENT_TYPE)
            .header("x-tc-action", "SendSms")
            .header("x-tc-timestamp", timestamp.to_string())
            .header("x-tc-version", TENCENT_SMS_VERSION)
            .header("x-tc-region", TENCENT_SMS_REGION)
            .body(payload)
            .send()
            .await
            .map_err(|e| unreachable("Tencent SMS", e))?;
        let status = resp.status().as_u16();
        let reply: Value = resp.json().await.unwrap_or(Value::Null);
        let r = &reply["Response"];
        if let Some(err) = r.get("Error") {
            return classify_tencent(
                err["Code"].as_str().unwrap_or("Unknown"),
                err["Message"].as_str().unwrap_or(""),
            );
        }
        if !(200..300).contains(&status) {
            return Err(if status == 429 || status >= 500 {
                SendError::Retryable(format!("Tencent SMS answered {status}"))
            } else {
                SendError::Rejected(format!("Tencent SMS answered {status}"))
            });
        }
        match r["SendStatusSet"].get(0) {
            Some(s) => classify_tencent(
                s["Code"].as_str().unwrap_or("Unknown"),
                s["Message"].as_str().unwrap_or(""),
            ),
            None => Err(SendError::Retryable(
                "Tencent SMS answered without a send status".into(),
            )),
        }
    }
}

#[async_trait]
impl ChannelApi for TencentSmsClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        check_kind(channel, ChannelKind::SmsTencent)?;
        let secret_id = required(&secrets.access_key_id, "access_key_id (SecretId)")?;
        let secret_key = required(&secrets.access_key_secret, "access_key_secret (SecretKey)")?;
        let sign_name = required(&secrets.sign_name, "sign_name (SMS signature)")?;
        let template = required(&secrets.template_id, "template_id (SMS template id)")?;
        let app_id = channel.external_id.trim();
        if app_id.is_empty() || !app_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SendError::Misconfigured(
                "the channel's external_id is not a Tencent SmsSdkAppId".into(),
            ));
        }
        let phone = msg.customer.trim();
        if !phone.starts_with('+') || aliyun_phone(phone).is_err() {
            return Err(SendError::Rejected(
                "the customer id is not an E.164 number".into(),
            ));
        }
        let text = match sms_payload(&msg.body, false)? {
            SmsPayload::Nothing => return Ok(()),
            SmsPayload::Text(text) => text,
            SmsPayload::Media { .. } => {
                return Err(SendError::Rejected("mainland SMS carries text only".into()))
            }
        };
        let pieces = split_for_provider_signed(&text, SmsProvider::Tencent, sign_name);
        send_pieces(
            self.ledger.as_ref(),
            &msg.message_id,
            &pieces,
            |_, piece| {
                let body = Self::send_sms_body(phone, app_id, sign_name, template, &piece);
                async move { self.post(secret_id, secret_key, &body).await }
            },
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------------------
// The three together
// ---------------------------------------------------------------------------------------------------------

/// The three SMS clients, as the channel sender holds them.
#[derive(Debug, Clone)]
pub struct SmsClients {
    pub twilio: TwilioClient,
    pub aliyun: AliyunSmsClient,
    pub tencent: TencentSmsClient,
}

impl Default for SmsClients {
    /// The providers' own endpoints.
    fn default() -> Self {
        SmsClients::new(
            DEFAULT_TWILIO_API_BASE,
            DEFAULT_ALIYUN_SMS_API_BASE,
            DEFAULT_TENCENT_SMS_API_BASE,
        )
    }
}

impl SmsClients {
    pub fn new(twilio_base: &str, aliyun_base: &str, tencent_base: &str) -> Self {
        SmsClients {
            twilio: TwilioClient::new(twilio_base),
            aliyun: AliyunSmsClient::new(aliyun_base),
            tencent: TencentSmsClient::new(tencent_base),
        }
    }

    /// The clients for the API bases of the environment (`TWILIO_API_BASE`, `ALIYUN_SMS_API_BASE`,
    /// `TENCENT_SMS_API_BASE`).
    pub fn from_env(env: &crate::Env) -> Self {
        SmsClients::new(
            &env.twilio_api_base,
            &env.aliyun_sms_api_base,
            &env.tencent_sms_api_base,
        )
    }

    /// Records the pieces of cut messages in `ledger` (see the module docs).
    pub fn with_ledger(self, ledger: PartLedger) -> Self {
        SmsClients {
            twilio: self.twilio.with_ledger(ledger.clone()),
            aliyun: self.aliyun.with_ledger(ledger.clone()),
            tencent: self.tencent.with_ledger(ledger),
        }
    }
}

#[async_trait]
impl ChannelApi for SmsClients {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::SmsTwilio => self.twilio.send(channel, secrets, msg).await,
            ChannelKind::SmsAliyun => self.aliyun.send(channel, secrets, msg).await,
            ChannelKind::SmsTencent => self.tencent.send(channel, secrets, msg).await,
            other => Err(SendError::Misconfigured(format!(
                "{} is not an SMS channel",
                other.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The DescribeRegions example of Aliyun's "签名机制" / "Request signature" page (AccessKeyId `testid`,
    /// AccessKeySecret `testsecret`): the page publishes the signature `OLeaidS1JvxuMvnyHOwuJ+uX5qY=`.
    fn aliyun_doc_params(timestamp_name: &str) -> Vec<(String, String)> {
        pairs(&[
            (timestamp_name, "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ])
    }

    #[test]
    fn aliyun_signature_matches_the_documented_example() {
        let params = aliyun_doc_params("Timestamp");
        assert_eq!(
            aliyun_rpc::string_to_sign("GET", &params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML\
             %26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf\
             %26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            aliyun_rpc::signature("GET", &params, "testsecret"),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        // The older revision of the same example spells the parameter `TimeStamp` and publishes
        // `CT9X0VtwR86fNWSnsc6v8YGOjuE=` (also the sample `Signature` in the page's overview).
        assert_eq!(
            aliyun_rpc::signature("GET", &aliyun_doc_params("TimeStamp"), "testsecret"),
            "CT9X0VtwR86fNWSnsc6v8YGOjuE="
        );
        let mut signed = params.clone();
        signed.push(("Signature".into(), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=".into()));
        assert!(aliyun_rpc::verify("GET", &signed, "testsecret"));
        assert!(!aliyun_rpc::verify("POST", &signed, "testsecret"));
        assert!(!aliyun_rpc::verify("GET", &signed, "other"));
        assert!(
            !aliyun_rpc::verify("GET", &params, "testsecret"),
            "no Signature"
        );
    }

    #[test]
    fn aliyun_percent_encoding_follows_rfc_3986() {
        assert_eq!(
            aliyun_rpc::percent_encode("a b*c~d+e/f"),
            "a%20b%2Ac~d%2Be%2Ff"
        );
        assert_eq!(aliyun_rpc::percent_encode("阿"), "%E9%98%BF");
        assert_eq!(aliyun_rpc::percent_encode("-_.~AZaz09"), "-_.~AZaz09");
    }

    #[test]
    fn aliyun_send_form_is_signed_over_post_and_carries_the_text_as_the_template_variable() {
        let form = AliyunSmsClient::send_sms_form(
            "testid",
            "testsecret",
            "13800000000",
            "阿里云短信测试",
            "SMS_154950909",
            "您好 \"世界\"",
            "2024-01-01T00:00:00Z",
            "n-1",
        );
        let get = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("SendSms"));
        assert_eq!(get("Version"), Some("2017-05-25"));
        assert_eq!(get("PhoneNumbers"), Some("13800000000"));
        let param: Value = serde_json::from_str(get("TemplateParam").unwrap()).unwrap();
        assert_eq!(param, json!({"content": "您好 \"世界\""}));
        assert!(aliyun_rpc::verify("POST", &form, "testsecret"));
    }

    #[test]
    fn aliyun_phone_numbers() {
        assert_eq!(aliyun_phone("+8613800000000").unwrap(), "13800000000");
        assert_eq!(aliyun_phone("+85261234567").unwrap(), "85261234567");
        assert_eq!(aliyun_phone("+14155550100").unwrap(), "14155550100");
        assert!(aliyun_phone("oOpenId").is_err());
        assert!(aliyun_phone("+").is_err());
    }

    /// The DescribeInstances example of Tencent Cloud's "签名方法 v3" page: SecretId
    /// `AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE`, SecretKey `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`, timestamp
    /// 1551113065, with its published intermediate values and signature.
    #[test]
    fn tc3_signature_matches_the_documented_example() {
        let payload = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let canonical = tc3::canonical_request(
            "application/json; charset=utf-8",
            "cvm.tencentcloudapi.com",
            payload,
        );
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let to_sign = tc3::string_to_sign(1551113065, "cvm", &canonical);
        assert_eq!(
            to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n\
             5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            tc3::signature(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                1551113065,
                "cvm",
                &to_sign
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        let auth = tc3::authorization(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "cvm",
            "cvm.tencentcloudapi.com",
            "application/json; charset=utf-8",
            1551113065,
            payload,
        );
        assert_eq!(
            auth,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        let (id, date, service, signed, sig) = tc3::parse_authorization(&auth).unwrap();
        assert_eq!(
            (
                id.as_str(),
                date.as_str(),
                service.as_str(),
                signed.as_str()
            ),
            (
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                "2019-02-25",
                "cvm",
                "content-type;host"
            )
        );
        assert_eq!(
            sig,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert!(tc3::parse_authorization("Bearer x").is_none());
    }

    #[test]
    fn tencent_send_body_has_the_documented_fields() {
        let body = TencentSmsClient::send_sms_body(
            "+8613711112222",
            "1400006666",
            "腾讯云",
            "1110",
            "您好",
        );
        assert_eq!(
            body,
            json!({"PhoneNumberSet": ["+8613711112222"], "SmsSdkAppId": "1400006666", "SignName": "腾讯云",
                   "TemplateId": "1110", "TemplateParamSet": ["您好"]})
        );
        assert_eq!(
            url_authority("https://sms.tencentcloudapi.com"),
            "sms.tencentcloudapi.com"
        );
        assert_eq!(url_authority("http://127.0.0.1:3102/"), "127.0.0.1:3102");
        assert_eq!(
            url_authority("https://sms.tencentcloudapi.com:443"),
            "sms.tencentcloudapi.com"
        );
    }

    #[test]
    fn error_classes() {
        assert!(matches!(
            classify_twilio(401, Some(20003), "Authenticate"),
            SendError::Misconfigured(_)
        ));
        assert!(matches!(
            classify_twilio(429, Some(20429), "Too Many Requests"),
            SendError::Retryable(_)
        ));
        assert!(matches!(
            classify_twilio(503, None, ""),
            SendError::Retryable(_)
        ));
        match classify_twilio(
            400,
            Some(21211),
            "The 'To' number is not a valid phone number.",
        ) {
            SendError::Rejected(r) => {
                assert!(r.contains("21211") && r.contains("not a valid phone number"))
            }
            other => panic!("{other:?}"),
        }
        assert!(classify_aliyun(200, "OK", "OK").is_ok());
        assert!(matches!(
            classify_aliyun(200, "isv.BUSINESS_LIMIT_CONTROL", "触发流控"),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            classify_aliyun(400, "SignatureDoesNotMatch", ""),
            Err(SendError::Misconfigured(_))
        ));
        assert!(matches!(
            classify_aliyun(200, "isv.SMS_TEMPLATE_ILLEGAL", ""),
            Err(SendError::Misconfigured(_))
        ));
        assert!(matches!(
            classify_aliyun(200, "isv.MOBILE_NUMBER_ILLEGAL", ""),
            Err(SendError::Rejected(_))
        ));
        assert!(matches!(
            classify_aliyun(500, "", ""),
            Err(SendError::Retryable(_))
        ));
        assert!(classify_tencent("Ok", "send success").is_ok());
        assert!(matches!(
            classify_tencent("AuthFailure.SignatureFailure", ""),
            Err(SendError::Misconfigured(_))
        ));
        assert!(matches!(
            classify_tencent("LimitExceeded.PhoneNumberThirtySecondLimit", ""),
            Err(SendError::Retryable(_))
        ));
        assert!(matches!(
            classify_tencent("InvalidParameterValue.IncorrectPhoneNumber", ""),
            Err(SendError::Rejected(_))
        ));
    }

    /// An in-memory [`Idempotency`]: key → completed.
    #[derive(Default)]
    struct Ledger(std::sync::Mutex<std::collections::HashMap<String, bool>>);

    #[async_trait]
    impl Idempotency for Ledger {
        async fn claim(
            &self,
            key: &str,
            _fingerprint: &str,
            _lock_ms: i64,
            _now_ms: i64,
        ) -> Result<Claim, kefu_domain::ports::StoreError> {
            let mut m = self.0.lock().unwrap();
            Ok(match m.get(key) {
                Some(true) => Claim::AlreadyDone,
                Some(false) => Claim::InProgress,
                None => {
                    m.insert(key.into(), false);
                    Claim::Acquired
                }
            })
        }
        async fn complete(
            &self,
            key: &str,
            _keep_s: i64,
            _now_ms: i64,
        ) -> Result<(), kefu_domain::ports::StoreError> {
            self.0.lock().unwrap().insert(key.into(), true);
            Ok(())
        }
        async fn release(&self, key: &str) -> Result<(), kefu_domain::ports::StoreError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_retry_after_a_failure_half_way_sends_only_the_rest() {
        let ledger: PartLedger = Arc::new(Ledger::default());
        let pieces: Vec<String> = ["a", "b", "c"].iter().map(|p| p.to_string()).collect();
        let sent = std::sync::Mutex::new(Vec::new());
        let attempt = |fail_on: Option<usize>| {
            let (ledger, pieces, sent) = (&ledger, &pieces, &sent);
            async move {
                send_pieces(Some(ledger), "m1", pieces, |i, piece| {
                    let sent = &sent;
                    async move {
                        if Some(i) == fail_on {
                            return Err(SendError::Retryable("down".into()));
                        }
                        sent.lock().unwrap().push(piece);
                        Ok(())
                    }
                })
                .await
            }
        };
        assert!(matches!(
            attempt(Some(1)).await,
            Err(SendError::Retryable(_))
        ));
        assert_eq!(*sent.lock().unwrap(), ["a"]);
        attempt(None).await.unwrap();
        assert_eq!(
            *sent.lock().unwrap(),
            ["a", "b", "c"],
            "a is not sent twice"
        );
        attempt(None).await.unwrap();
        assert_eq!(sent.lock().unwrap().len(), 3, "a redelivery sends nothing");
        // A single piece goes out without records (the message's own record covers it).
        let one = vec!["x".to_string()];
        for _ in 0..2 {
            send_pieces(Some(&ledger), "m2", &one, |_, p| {
                let sent = &sent;
                async move {
                    sent.lock().unwrap().push(p);
                    Ok(())
                }
            })
            .await
            .unwrap();
        }
        assert_eq!(sent.lock().unwrap().len(), 5);
    }

    #[test]
    fn phone_numbers_are_scrubbed_from_provider_messages() {
        assert_eq!(
            scrub_numbers("The 'To' number +15005550001 is not a valid phone number."),
            "The 'To' number … is not a valid phone number."
        );
        assert_eq!(
            scrub_numbers("error 21211 at 8613800000000"),
            "error 21211 at …"
        );
        assert_eq!(scrub_numbers("a+b 12"), "a+b 12");
        match classify_twilio(
            400,
            Some(21211),
            "The 'To' number +15005550001 is not valid",
        ) {
            SendError::Rejected(r) => assert!(!r.contains("5550001"), "{r}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn payloads() {
        let text = |t: &str| OutboundBody::Text { text: t.into() };
        assert_eq!(
            sms_payload(&text("hi"), false).unwrap(),
            SmsPayload::Text("hi".into())
        );
        assert!(matches!(
            sms_payload(&text("  "), true),
            Err(SendError::Rejected(_))
        ));
        assert_eq!(
            sms_payload(&OutboundBody::Typing, false).unwrap(),
            SmsPayload::Nothing
        );
        let card = OutboundBody::Card {
            title: "Spa".into(),
            description: Some("Open 9-21".into()),
            url: "https://h.example/spa".into(),
            image_url: None,
        };
        assert_eq!(
            sms_payload(&card, false).unwrap(),
            SmsPayload::Text("Spa\nOpen 9-21\nhttps://h.example/spa".into())
        );
        let image = OutboundBody::Image {
            media_id: None,
            url: Some("https://h.example/a.jpg".into()),
        };
        assert_eq!(
            sms_payload(&image, true).unwrap(),
            SmsPayload::Media {
                url: "https://h.example/a.jpg".into(),
                caption: String::new()
            }
        );
        assert!(matches!(
            sms_payload(&image, false),
            Err(SendError::Rejected(_))
        ));
    }
}
