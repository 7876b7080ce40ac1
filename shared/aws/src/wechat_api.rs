//! WeChat Official Account / Mini Program customer-service API client (outbound).
//!
//! - Access tokens come from `POST /cgi-bin/stable_token` (the "stable" token: every caller with the same
//!   app id gets the same token while it is valid, so the functions never invalidate each other's token).
//!   They are cached in memory and in the runtime table, shared by all functions and containers, and
//!   renewed five minutes before they expire.
//! - Messages go to `POST /cgi-bin/message/custom/send?access_token=…`; token errors (40001, 40014, 42001)
//!   drop the cached token, fetch a new one and retry once.
//! - The base URL is configurable (`WECHAT_API_BASE`): the local fake in development and tests.

use crate::runtime::RuntimeStore;
use async_trait::async_trait;
use kefu_domain::messages::{OutboundBody, OutboundMessage};
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{ChannelApi, SendError};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Renew this long before WeChat says the token expires.
const EARLY_RENEW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Deserialize)]
struct ApiReply {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// What an `errcode` means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrClass {
    Ok,
    /// The access token is invalid or expired: renew and retry once.
    Token,
    Retryable,
    Rejected,
    Misconfigured,
}

/// Classifies WeChat global return codes (全局返回码).
pub fn classify(errcode: i64) -> ErrClass {
    match errcode {
        0 => ErrClass::Ok,
        40001 | 40014 | 42001 => ErrClass::Token,
        // system busy, API frequency limits
        -1 | 45009 | 45011 => ErrClass::Retryable,
        // bad credentials, IP not whitelisted, API not authorised for this account
        40013 | 40125 | 40164 | 41002 | 41004 | 48001 | 61004 => ErrClass::Misconfigured,
        // 45015: outside the 48-hour window; 45047: more than 5 replies since the customer's last message;
        // 43004: not following; 40003: invalid openid; 45002: content too long; others: refused as well.
        _ => ErrClass::Rejected,
    }
}

#[derive(Debug)]
pub struct WechatClient {
    http: reqwest::Client,
    base: String,
    tokens: RuntimeStore,
    memory: Mutex<HashMap<String, (String, i64)>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn http_error(e: reqwest::Error) -> SendError {
    SendError::Retryable(format!("WeChat API unreachable: {e}"))
}

impl WechatClient {
    pub fn new(base: impl Into<String>, tokens: RuntimeStore) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(8))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("HTTP client");
        WechatClient {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            tokens,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// A valid access token for the app, from memory, the shared cache, or WeChat.
    pub async fn access_token(
        &self,
        app_id: &str,
        secret: &str,
        stale: Option<&str>,
    ) -> Result<String, SendError> {
        let now = now_ms();
        if stale.is_none() {
            if let Some((t, exp)) = self.memory.lock().expect("token lock").get(app_id).cloned() {
                if exp - EARLY_RENEW_MS > now {
                    return Ok(t);
                }
            }
            if let Ok(Some((t, exp))) = self
                .tokens
                .cached_token("wechat", app_id, now + EARLY_RENEW_MS)
                .await
            {
                self.memory
                    .lock()
                    .expect("token lock")
                    .insert(app_id.to_string(), (t.clone(), exp));
                return Ok(t);
            }
        }
        let mut token = self.fetch_token(app_id, secret, false).await?;
        if stale.is_some_and(|s| s == token.0) {
            // WeChat still hands out the token it just refused: force a new one.
            token = self.fetch_token(app_id, secret, true).await?;
        }
        let (t, exp) = token;
        self.memory
            .lock()
            .expect("token lock")
            .insert(app_id.to_string(), (t.clone(), exp));
        if let Err(e) = self.tokens.store_token("wechat", app_id, &t, exp).await {
            tracing::warn!(error = %e, "could not share the access token; continuing with the local copy");
        }
        Ok(t)
    }

    async fn fetch_token(
        &self,
        app_id: &str,
        secret: &str,
        force: bool,
    ) -> Result<(String, i64), SendError> {
        let reply: ApiReply = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base))
            .json(&json!({"grant_type": "client_credential", "appid": app_id, "secret": secret, "force_refresh": force}))
            .send()
            .await
            .map_err(http_error)?
            .json()
            .await
            .map_err(http_error)?;
        match (reply.errcode, reply.access_token) {
            (0, Some(t)) => Ok((t, now_ms() + reply.expires_in.unwrap_or(7200) * 1000)),
            (code, _) => match classify(code) {
                ErrClass::Retryable => Err(SendError::Retryable(format!(
                    "stable_token {code} {}",
                    reply.errmsg
                ))),
                _ => Err(SendError::Misconfigured(format!(
                    "stable_token {code} {}",
                    reply.errmsg
                ))),
            },
        }
    }

    async fn post_with_token(
        &self,
        path: &str,
        channel: &Channel,
        secrets: &ChannelSecrets,
        body: &serde_json::Value,
    ) -> Result<(), SendError> {
        let secret = secrets
            .app_secret
            .as_deref()
            .ok_or_else(|| SendError::Misconfigured("no app secret".into()))?;
        let mut token = self
            .access_token(&channel.external_id, secret, None)
            .await?;
        for attempt in 0..2 {
            let reply: ApiReply = self
                .http
                .post(format!("{}{path}", self.base))
                .query(&[("access_token", token.as_str())])
                .json(body)
                .send()
                .await
                .map_err(http_error)?
                .json()
                .await
                .map_err(http_error)?;
            let detail = || format!("{path} errcode {} {}", reply.errcode, reply.errmsg);
            match classify(reply.errcode) {
                ErrClass::Ok => return Ok(()),
                ErrClass::Token if attempt == 0 => {
                    self.memory
                        .lock()
                        .expect("token lock")
                        .remove(&channel.external_id);
                    token = self
                        .access_token(&channel.external_id, secret, Some(&token))
                        .await?;
                }
                ErrClass::Token | ErrClass::Retryable => {
                    return Err(SendError::Retryable(detail()))
                }
                ErrClass::Rejected => return Err(SendError::Rejected(detail())),
                ErrClass::Misconfigured => return Err(SendError::Misconfigured(detail())),
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}

/// The JSON body of a customer-service message.
pub fn custom_message(
    to: &str,
    body: &OutboundBody,
    kf_account: Option<&str>,
) -> serde_json::Value {
    let mut v = match body {
        OutboundBody::Text { text } => {
            json!({"touser": to, "msgtype": "text", "text": {"content": text}})
        }
    };
    if let Some(kf) = kf_account {
        v["customservice"] = json!({"kf_account": kf});
    }
    v
}

#[async_trait]
impl ChannelApi for WechatClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::WechatOa | ChannelKind::WechatMiniProgram => {}
            other => {
                return Err(SendError::Misconfigured(format!(
                    "{} is not a WeChat channel",
                    other.as_str()
                )))
            }
        }
        let body = custom_message(&msg.customer, &msg.body, msg.kf_account.as_deref());
        self.post_with_token("/cgi-bin/message/custom/send", channel, secrets, &body)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes() {
        assert_eq!(classify(0), ErrClass::Ok);
        assert_eq!(classify(40001), ErrClass::Token);
        assert_eq!(classify(42001), ErrClass::Token);
        assert_eq!(classify(-1), ErrClass::Retryable);
        assert_eq!(classify(45015), ErrClass::Rejected);
        assert_eq!(classify(45047), ErrClass::Rejected);
        assert_eq!(classify(40164), ErrClass::Misconfigured);
    }

    #[test]
    fn message_body_matches_the_documented_shape() {
        let v = custom_message(
            "OPENID",
            &OutboundBody::Text {
                text: "Hello World".into(),
            },
            Some("test1@kftest"),
        );
        assert_eq!(
            v,
            json!({"touser": "OPENID", "msgtype": "text", "text": {"content": "Hello World"},
                   "customservice": {"kf_account": "test1@kftest"}})
        );
        assert!(
            custom_message("o", &OutboundBody::Text { text: "x".into() }, None)
                .get("customservice")
                .is_none()
        );
    }
}
