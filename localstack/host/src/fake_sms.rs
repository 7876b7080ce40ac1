//! A local fake of the three SMS provider APIs kefu sends through, on one address (`--fake-sms`, default
//! `127.0.0.1:3102`). It checks credentials and signatures the way the providers do and records every call.
//!
//! - **Twilio** `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP basic auth must be a
//!   registered Account SID and auth token (else 401, error 20003); the form needs `To`, `From` or
//!   `MessagingServiceSid`, and `Body` (at most 1 600 characters, error 21617) or `MediaUrl`. Answers 201
//!   with a Message resource (`sid` `SM…`, `status` `queued`).
//! - **Aliyun** `POST /` with a form `Action=SendSms`: the RPC signature (HMAC-SHA1, `POST`) is verified
//!   with the registered AccessKey secret (`InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`), the
//!   timestamp must be within 15 minutes, `TemplateParam` must be a JSON object and `【SignName】` + its
//!   values at most 500 characters (`isv.PARAM_LENGTH_LIMIT`). Answers `{"Code":"OK","Message":"OK",
//!   "BizId":…,"RequestId":…}`.
//! - **Tencent** `POST /` with `X-TC-Action: SendSms`: the TC3-HMAC-SHA256 `Authorization` is verified
//!   against the request's `Host`, `Content-Type`, `X-TC-Timestamp` and body with the registered SecretKey
//!   (`AuthFailure.SecretIdNotFound`, `AuthFailure.SignatureFailure`), service `sms`, version `2021-01-11`;
//!   `【SignName】` + each template parameter at most 500 characters. Answers `{"Response":
//!   {"SendStatusSet":[{"Code":"Ok",…}],"RequestId":…}}`.
//!
//! Test and demo hooks:
//! - `POST /_credentials` `{"provider":"twilio","id":"AC…","secret":"<auth token>"}` (also `aliyun`
//!   AccessKey id / secret, `tencent` SecretId / SecretKey) registers credentials;
//! - `GET /_sent`: every recorded call (`[{id, provider, path, account, to, text, request, status, at_ms}]`),
//!   refused ones included with the status answered; `DELETE /_sent` clears the record;
//! - `POST /_fail` `{"provider":"twilio","status":503,"code":"20500","count":1}`: the next `count` sends
//!   (of that provider, or of any without `provider`) fail with that HTTP status and error code.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use kefu_aws::edge::now_ms;
use kefu_aws::sms_api::{aliyun_rpc, tc3, TENCENT_SMS_SERVICE, TENCENT_SMS_VERSION};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Longest Twilio `Body`.
const TWILIO_MAX_BODY: usize = 1600;
/// Longest mainland message, signature included.
const MAINLAND_MAX_CHARS: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub id: u64,
    /// `twilio`, `aliyun` or `tencent`.
    pub provider: String,
    pub path: String,
    /// The Account SID / AccessKey id / SecretId the call authenticated as (as claimed).
    pub account: Option<String>,
    /// The recipient: `To` / `PhoneNumbers` / `PhoneNumberSet[0]`.
    pub to: Option<String>,
    /// The text: `Body` / `TemplateParam.content` / `TemplateParamSet[0]`.
    pub text: Option<String>,
    /// The request: the form as an object (Twilio, Aliyun; Aliyun's `Signature` left out) or the JSON body
    /// (Tencent).
    pub request: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
struct Failure {
    provider: Option<String>,
    status: u16,
    code: String,
    remaining: u32,
}

#[derive(Default)]
struct Inner {
    /// (provider, id) → secret
    credentials: HashMap<(String, String), String>,
    sent: Vec<Recorded>,
    fail: Option<Failure>,
    issued: u64,
}

#[derive(Clone, Default)]
pub struct FakeSms {
    inner: Arc<Mutex<Inner>>,
}

fn chars(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

impl FakeSms {
    /// Accepts `id` / `secret` for `provider` (`twilio`, `aliyun`, `tencent`).
    pub fn register(&self, provider: &str, id: &str, secret: &str) {
        self.inner
            .lock()
            .expect("fake lock")
            .credentials
            .insert((provider.to_string(), id.to_string()), secret.to_string());
    }

    fn secret(&self, provider: &str, id: &str) -> Option<String> {
        self.inner
            .lock()
            .expect("fake lock")
            .credentials
            .get(&(provider.to_string(), id.to_string()))
            .cloned()
    }

    /// Everything recorded so far.
    pub fn sent(&self) -> Vec<Recorded> {
        self.inner.lock().expect("fake lock").sent.clone()
    }

    /// Makes the next `count` sends (of `provider`, or any) fail with `status` and `code`.
    pub fn fail_next(&self, provider: Option<&str>, status: u16, code: &str, count: u32) {
        self.inner.lock().expect("fake lock").fail = Some(Failure {
            provider: provider.map(str::to_string),
            status,
            code: code.to_string(),
            remaining: count,
        });
    }

    /// An injected failure for `provider`, if one is armed.
    fn take_failure(&self, provider: &str) -> Option<Failure> {
        let mut g = self.inner.lock().expect("fake lock");
        let f = g.fail.clone()?;
        if f.provider.as_deref().is_some_and(|p| p != provider) {
            return None;
        }
        g.fail = (f.remaining > 1).then(|| Failure {
            remaining: f.remaining - 1,
            ..f.clone()
        });
        Some(f)
    }

    fn next_id(&self) -> u64 {
        let mut g = self.inner.lock().expect("fake lock");
        g.issued += 1;
        g.issued
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        provider: &str,
        path: &str,
        account: Option<String>,
        to: Option<String>,
        text: Option<String>,
        request: Value,
        status: u16,
    ) {
        let mut g = self.inner.lock().expect("fake lock");
        let id = g.sent.len() as u64 + 1;
        g.sent.push(Recorded {
            id,
            provider: provider.into(),
            path: path.into(),
            account,
            to,
            text,
            request,
            status,
            at_ms: now_ms(),
        });
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(twilio_send),
            )
            .route("/", post(rpc_or_api3))
            .route("/_sent", get(list).delete(clear))
            .route("/_fail", post(fail))
            .route("/_credentials", post(credentials))
            .with_state(self.clone())
    }

    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        crate::fakes::serve(self.router(), addr).await
    }
}

fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn form_object(pairs: &[(String, String)], skip: &[&str]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if !skip.contains(&k.as_str()) {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

// ---- Twilio ----

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let h = headers.get("authorization")?.to_str().ok()?;
    let raw = h.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn twilio_error(status: u16, code: i64, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

async fn twilio_send(
    State(f): State<FakeSms>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{sid}/Messages.json");
    let form = form_pairs(&body);
    let to = first(&form, "To").map(str::to_owned);
    let text = first(&form, "Body").map(str::to_owned);
    let (status, reply) = twilio_answer(&f, &sid, &headers, &form);
    f.record(
        "twilio",
        &path,
        Some(sid),
        to,
        text,
        form_object(&form, &[]),
        status,
    );
    json_response(status, reply)
}

fn twilio_answer(
    f: &FakeSms,
    sid: &str,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> (u16, Value) {
    let authenticated = basic_auth(headers)
        .is_some_and(|(user, token)| user == sid && f.secret("twilio", sid) == Some(token));
    if !authenticated {
        return (401, twilio_error(401, 20003, "Authenticate"));
    }
    if let Some(fail) = f.take_failure("twilio") {
        let code = fail.code.parse().unwrap_or(20500);
        return (
            fail.status,
            twilio_error(fail.status, code, "injected failure"),
        );
    }
    let to = first(form, "To").unwrap_or_default();
    if to.is_empty() {
        return (
            400,
            twilio_error(400, 21604, "A 'To' phone number is required."),
        );
    }
    let from = first(form, "From").or_else(|| first(form, "MessagingServiceSid"));
    if from.unwrap_or_default().is_empty() {
        return (
            400,
            twilio_error(400, 21603, "A 'From' phone number is required."),
        );
    }
    let body = first(form, "Body").unwrap_or_default();
    let media = first(form, "MediaUrl").unwrap_or_default();
    if body.is_empty() && media.is_empty() {
        return (400, twilio_error(400, 21602, "Message body is required."));
    }
    if body.chars().count() > TWILIO_MAX_BODY {
        return (
            400,
            twilio_error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            ),
        );
    }
    let n = f.next_id();
    let segments = kefu_domain::channels::sms::segments::segments(body).count;
    (
        201,
        json!({
            "account_sid": sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": chrono::Utc::now().to_rfc2822(),
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": first(form, "From"),
            "messaging_service_sid": first(form, "MessagingServiceSid"),
            "num_media": if media.is_empty() { "0" } else { "1" },
            "num_segments": segments.to_string(),
            "price": null,
            "sid": format!("SM{n:032x}"),
            "status": "queued",
            "to": to,
            "uri": format!("/2010-04-01/Accounts/{sid}/Messages/SM{n:032x}.json"),
        }),
    )
}

// ---- Aliyun and Tencent share the root path ----

async fn rpc_or_api3(State(f): State<FakeSms>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.contains_key("x-tc-action") {
        tencent_send(&f, &headers, &body)
    } else {
        aliyun_send(&f, &body)
    }
}

fn aliyun_error(code: &str, message: &str) -> Value {
    json!({"Code": code, "Message": message, "RequestId": format!("{:032X}", rand::random::<u128>())})
}

fn aliyun_send(f: &FakeSms, body: &[u8]) -> Response {
    let form = form_pairs(body);
    let key_id = first(&form, "AccessKeyId").map(str::to_owned);
    let to = first(&form, "PhoneNumbers").map(str::to_owned);
    let param: Option<Value> =
        first(&form, "TemplateParam").and_then(|p| serde_json::from_str(p).ok());
    let text = param
        .as_ref()
        .and_then(|p| p.get("content"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, reply) = aliyun_answer(f, &form, param.as_ref());
    f.record(
        "aliyun",
        "/",
        key_id,
        to,
        text,
        form_object(&form, &["Signature"]),
        status,
    );
    json_response(status, reply)
}

fn aliyun_answer(f: &FakeSms, form: &[(String, String)], param: Option<&Value>) -> (u16, Value) {
    let key_id = first(form, "AccessKeyId").unwrap_or_default();
    let Some(secret) = f.secret("aliyun", key_id) else {
        return (
            404,
            aliyun_error(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ),
        );
    };
    if !aliyun_rpc::verify("POST", form, &secret) {
        return (
            400,
            aliyun_error(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            ),
        );
    }
    let fresh = first(form, "Timestamp")
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| (chrono::Utc::now().timestamp() - t.timestamp()).abs() <= 15 * 60);
    if !fresh {
        return (
            400,
            aliyun_error(
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ),
        );
    }
    if first(form, "Action") != Some("SendSms") || first(form, "Version") != Some("2017-05-25") {
        return (
            400,
            aliyun_error("InvalidAction.NotFound", "Specified api is not found."),
        );
    }
    if let Some(fail) = f.take_failure("aliyun") {
        return (fail.status, aliyun_error(&fail.code, "injected failure"));
    }
    let phones = first(form, "PhoneNumbers").unwrap_or_default();
    if phones.is_empty()
        || !phones
            .split(',')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return (200, aliyun_error("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"));
    }
    let sign = first(form, "SignName").unwrap_or_default();
    if sign.is_empty() {
        return (200, aliyun_error("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法"));
    }
    if first(form, "TemplateCode").unwrap_or_default().is_empty() {
        return (200, aliyun_error("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法"));
    }
    let Some(Value::Object(vars)) = param else {
        return (
            200,
            aliyun_error("isv.INVALID_JSON_PARAM", "JSON参数不合法"),
        );
    };
    let text_len: usize = vars.values().filter_map(Value::as_str).map(chars).sum();
    if chars(sign) + 2 + text_len > MAINLAND_MAX_CHARS {
        return (
            200,
            aliyun_error("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制"),
        );
    }
    let n = f.next_id();
    (
        200,
        json!({
            "Code": "OK",
            "Message": "OK",
            "BizId": format!("{n:06}^0"),
            "RequestId": format!("{:032X}", rand::random::<u128>()),
        }),
    )
}

fn tencent_error(code: &str, message: &str) -> Value {
    json!({"Response": {"Error": {"Code": code, "Message": message},
           "RequestId": format!("{:032x}", rand::random::<u128>())}})
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn tencent_send(f: &FakeSms, headers: &HeaderMap, body: &[u8]) -> Response {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let account = tc3::parse_authorization(header(headers, "authorization")).map(|a| a.0);
    let to = request["PhoneNumberSet"][0].as_str().map(str::to_owned);
    let text = request["TemplateParamSet"][0].as_str().map(str::to_owned);
    let (status, reply) = tencent_answer(f, headers, body, &request);
    f.record("tencent", "/", account, to, text, request, status);
    json_response(status, reply)
}

fn tencent_answer(f: &FakeSms, headers: &HeaderMap, body: &[u8], request: &Value) -> (u16, Value) {
    let Some((secret_id, date, service, signed, signature)) =
        tc3::parse_authorization(header(headers, "authorization"))
    else {
        return (
            200,
            tencent_error(
                "AuthFailure.InvalidAuthorization",
                "Authorization header is invalid.",
            ),
        );
    };
    let Some(secret_key) = f.secret("tencent", &secret_id) else {
        return (
            200,
            tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found."),
        );
    };
    let Ok(timestamp) = header(headers, "x-tc-timestamp").parse::<i64>() else {
        return (
            200,
            tencent_error("MissingParameter", "X-TC-Timestamp is missing."),
        );
    };
    if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
        return (
            200,
            tencent_error("AuthFailure.SignatureExpire", "Signature expired."),
        );
    }
    let canonical = tc3::canonical_request(
        header(headers, "content-type"),
        header(headers, "host"),
        body,
    );
    let to_sign = tc3::string_to_sign(timestamp, &service, &canonical);
    let expected = tc3::signature(&secret_key, timestamp, &service, &to_sign);
    let valid = signed == tc3::SIGNED_HEADERS
        && service == TENCENT_SMS_SERVICE
        && date == tc3::utc_date(timestamp)
        && ct_eq(expected.as_bytes(), signature.as_bytes());
    if !valid {
        return (
            200,
            tencent_error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            ),
        );
    }
    if header(headers, "x-tc-action") != "SendSms"
        || header(headers, "x-tc-version") != TENCENT_SMS_VERSION
    {
        return (
            200,
            tencent_error("InvalidAction", "The action or version is not supported."),
        );
    }
    if let Some(fail) = f.take_failure("tencent") {
        return (fail.status, tencent_error(&fail.code, "injected failure"));
    }
    let phones: Vec<&str> = request["PhoneNumberSet"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if phones.is_empty() {
        return (
            200,
            tencent_error("MissingParameter", "PhoneNumberSet is missing."),
        );
    }
    for key in ["SmsSdkAppId", "SignName", "TemplateId"] {
        if request[key].as_str().unwrap_or_default().is_empty() {
            return (
                200,
                tencent_error("MissingParameter", &format!("{key} is missing.")),
            );
        }
    }
    let sign = request["SignName"].as_str().unwrap_or_default();
    let params: Vec<&str> = request["TemplateParamSet"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let len: usize = params.iter().map(|p| chars(p)).sum::<usize>() + chars(sign) + 2;
    if len > MAINLAND_MAX_CHARS {
        return (
            200,
            tencent_error(
                "InvalidParameterValue.ContentLengthLimit",
                "The content is too long.",
            ),
        );
    }
    let parts = if len <= 70 { 1 } else { len.div_ceil(67) };
    let statuses: Vec<Value> = phones
        .iter()
        .map(|p| {
            let ok =
                p.starts_with('+') && p[1..].bytes().all(|b| b.is_ascii_digit()) && p.len() > 4;
            let n = f.next_id();
            if ok {
                json!({"SerialNo": format!("2028:{n:020}"), "PhoneNumber": p, "Fee": parts,
                       "SessionContext": "", "Code": "Ok", "Message": "send success",
                       "IsoCode": if p.starts_with("+86") { "CN" } else { "" }})
            } else {
                json!({"SerialNo": "", "PhoneNumber": p, "Fee": 0, "SessionContext": "",
                       "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                       "Message": "invalid mobile number", "IsoCode": ""})
            }
        })
        .collect();
    (
        200,
        json!({"Response": {"SendStatusSet": statuses, "RequestId": format!("{:032x}", rand::random::<u128>())}}),
    )
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- hooks ----

async fn list(State(f): State<FakeSms>) -> Json<Vec<Recorded>> {
    Json(f.sent())
}

async fn clear(State(f): State<FakeSms>) -> Json<Value> {
    f.inner.lock().expect("fake lock").sent.clear();
    Json(json!({"cleared": true}))
}

#[derive(Deserialize)]
struct FailReq {
    #[serde(default)]
    provider: Option<String>,
    #[serde(default = "default_status")]
    status: u16,
    #[serde(default)]
    code: Option<String>,
    #[serde(default = "one")]
    count: u32,
}

fn default_status() -> u16 {
    503
}

fn one() -> u32 {
    1
}

async fn fail(State(f): State<FakeSms>, Json(req): Json<FailReq>) -> Json<Value> {
    f.fail_next(
        req.provider.as_deref(),
        req.status,
        req.code.as_deref().unwrap_or("InternalError"),
        req.count,
    );
    Json(json!({"armed": true}))
}

#[derive(Deserialize)]
struct CredentialsReq {
    provider: String,
    id: String,
    secret: String,
}

async fn credentials(State(f): State<FakeSms>, Json(req): Json<CredentialsReq>) -> Response {
    if !matches!(req.provider.as_str(), "twilio" | "aliyun" | "tencent") || req.id.is_empty() {
        return json_response(
            400,
            json!({"error": "provider must be twilio, aliyun or tencent"}),
        );
    }
    f.register(&req.provider, &req.id, &req.secret);
    json_response(200, json!({"registered": true}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_aws::sms_api::{AliyunSmsClient, SmsClients, TencentSmsClient, TwilioClient};
    use kefu_domain::messages::{Origin, OutboundBody, OutboundMessage, FORMAT_VERSION};
    use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets, GreetingKind};
    use kefu_domain::ports::{ChannelApi, SendError};

    fn channel(kind: ChannelKind, external_id: &str) -> Channel {
        Channel {
            channel_id: "c1".into(),
            account_id: "a1".into(),
            kind,
            external_id: external_id.into(),
            name: "SMS".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    fn message(to: &str, text: &str) -> OutboundMessage {
        OutboundMessage {
            v: FORMAT_VERSION,
            message_id: format!("m-{}", rand::random::<u32>()),
            account_id: "a1".into(),
            channel_id: "c1".into(),
            customer: to.into(),
            conversation_id: None,
            body: OutboundBody::Text { text: text.into() },
            origin: Origin::Greeting {
                kind: GreetingKind::Offline,
            },
            kf_account: None,
            created_ms: 0,
        }
    }

    async fn fake() -> (FakeSms, String) {
        let f = FakeSms::default();
        let (addr, _task) = f.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        (f, format!("http://{addr}"))
    }

    fn twilio_secrets(sid: &str, token: &str) -> ChannelSecrets {
        ChannelSecrets {
            account_sid: Some(sid.into()),
            app_secret: Some(token.into()),
            ..Default::default()
        }
    }

    fn mainland_secrets(id: &str, secret: &str) -> ChannelSecrets {
        ChannelSecrets {
            access_key_id: Some(id.into()),
            access_key_secret: Some(secret.into()),
            sign_name: Some("酒店".into()),
            template_id: Some("SMS_1".into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn twilio_client_and_fake_agree_on_auth_and_form() {
        let (f, base) = fake().await;
        f.register("twilio", "AC1", "token-1");
        let client = TwilioClient::new(&base);
        let ch = channel(ChannelKind::SmsTwilio, "+14155550100");
        client
            .send(
                &ch,
                &twilio_secrets("AC1", "token-1"),
                &message("+14155550123", "Hello"),
            )
            .await
            .unwrap();
        let sent = f.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status, 201);
        assert_eq!(
            sent[0].request,
            json!({"To": "+14155550123", "From": "+14155550100", "Body": "Hello"})
        );

        let wrong = client
            .send(&ch, &twilio_secrets("AC1", "wrong"), &message("+1", "x"))
            .await;
        assert!(
            matches!(wrong, Err(SendError::Misconfigured(_))),
            "{wrong:?}"
        );

        f.fail_next(Some("twilio"), 429, "20429", 1);
        let busy = client
            .send(&ch, &twilio_secrets("AC1", "token-1"), &message("+1", "x"))
            .await;
        assert!(matches!(busy, Err(SendError::Retryable(_))), "{busy:?}");
        f.fail_next(Some("twilio"), 400, "21211", 1);
        let refused = client
            .send(&ch, &twilio_secrets("AC1", "token-1"), &message("+1", "x"))
            .await;
        assert!(
            matches!(&refused, Err(SendError::Rejected(r)) if r.contains("21211")),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn aliyun_client_signature_is_verified_by_the_fake() {
        let (f, base) = fake().await;
        f.register("aliyun", "LTAI1", "secret-1");
        let client = AliyunSmsClient::new(&base);
        let ch = channel(ChannelKind::SmsAliyun, "demo");
        client
            .send(
                &ch,
                &mainland_secrets("LTAI1", "secret-1"),
                &message("+8613800000000", "您好"),
            )
            .await
            .unwrap();
        let sent = f.sent();
        assert_eq!(
            (
                sent[0].status,
                sent[0].to.as_deref(),
                sent[0].text.as_deref()
            ),
            (200, Some("13800000000"), Some("您好"))
        );
        assert_eq!(sent[0].request["SignName"], "酒店");
        let forged = client
            .send(
                &ch,
                &mainland_secrets("LTAI1", "other"),
                &message("+8613800000000", "x"),
            )
            .await;
        assert!(
            matches!(&forged, Err(SendError::Misconfigured(r)) if r.contains("SignatureDoesNotMatch")),
            "{forged:?}"
        );
    }

    #[tokio::test]
    async fn tencent_client_signature_is_verified_by_the_fake() {
        let (f, base) = fake().await;
        f.register("tencent", "AKID1", "key-1");
        let client = TencentSmsClient::new(&base);
        let ch = channel(ChannelKind::SmsTencent, "1400006666");
        client
            .send(
                &ch,
                &mainland_secrets("AKID1", "key-1"),
                &message("+8613800000000", "您好"),
            )
            .await
            .unwrap();
        let sent = f.sent();
        assert_eq!(sent[0].request["TemplateParamSet"], json!(["您好"]));
        assert_eq!(sent[0].request["SmsSdkAppId"], "1400006666");
        let forged = client
            .send(
                &ch,
                &mainland_secrets("AKID1", "other"),
                &message("+8613800000000", "x"),
            )
            .await;
        assert!(
            matches!(&forged, Err(SendError::Misconfigured(r)) if r.contains("SignatureFailure")),
            "{forged:?}"
        );
        f.fail_next(None, 200, "LimitExceeded.PhoneNumberThirtySecondLimit", 1);
        let limited = client
            .send(
                &ch,
                &mainland_secrets("AKID1", "key-1"),
                &message("+8613800000000", "x"),
            )
            .await;
        assert!(
            matches!(limited, Err(SendError::Retryable(_))),
            "{limited:?}"
        );
    }

    #[tokio::test]
    async fn long_mainland_text_is_cut_into_requests_that_fit() {
        let (f, base) = fake().await;
        f.register("aliyun", "LTAI1", "secret-1");
        f.register("tencent", "AKID1", "key-1");
        let sms = SmsClients::new(&base, &base, &base);
        let text = "您好，欢迎入住。".repeat(150); // 1 200 characters
        for (kind, id) in [
            (ChannelKind::SmsAliyun, "LTAI1"),
            (ChannelKind::SmsTencent, "AKID1"),
        ] {
            let secret = if id == "LTAI1" { "secret-1" } else { "key-1" };
            sms.send(
                &channel(kind, "1400006666"),
                &mainland_secrets(id, secret),
                &message("+8613800000000", &text),
            )
            .await
            .unwrap();
        }
        let sent = f.sent();
        for provider in ["aliyun", "tencent"] {
            let pieces: Vec<String> = sent
                .iter()
                .filter(|r| r.provider == provider)
                .map(|r| r.text.clone().unwrap())
                .collect();
            assert_eq!(pieces.len(), 3, "{provider}");
            assert!(pieces.iter().all(|p| chars(p) + 4 <= 500), "{provider}");
            assert_eq!(pieces.concat(), text, "{provider}");
        }
    }
}
