//! WeChat Official Account / Mini Program customer-service API client (outbound).
//!
//! - Access tokens come from `POST /cgi-bin/stable_token` (the "stable" token: every caller with the same
//!   app id gets the same token while it is valid, so the functions never invalidate each other's token).
//!   They are cached in memory and in the runtime table, shared by all functions and containers, and
//!   renewed five minutes before they expire.
//! - Messages go to `POST /cgi-bin/message/custom/send?access_token=…`; token errors (40001, 40014, 42001)
//!   drop the cached token, fetch a new one and retry once.
//! - The base URL is configurable (`WECHAT_API_BASE`): the local fake in development and tests.

use crate::dynamo::DynamoStore;
use crate::edge::now_ms;
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

impl Reply for ApiReply {
    fn errcode(&self) -> i64 {
        self.errcode
    }
    fn errmsg(&self) -> &str {
        &self.errmsg
    }
}

pub use crate::token_call::ErrClass;
use crate::token_call::{Api, Reply, TokenSource};

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
    /// Where customers' last interaction is read for WeChat's reply rules; `None` leaves them to WeChat.
    customers: Option<DynamoStore>,
}

/// WeChat's customer-service rules: replies only within 48 hours of the customer's last interaction
/// (a message, a follow, a menu click…), and at most five replies per interaction.
pub const REPLY_WINDOW_MS: i64 = 48 * 3600 * 1000;
pub const REPLIES_PER_INTERACTION: u32 = 5;

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
            customers: None,
        }
    }

    /// Enforces WeChat's reply window and per-interaction quota before calling WeChat, so an exhausted
    /// quota is a clear refusal (recorded on the conversation) instead of errcode 45015 / 45047.
    pub fn with_reply_rules(mut self, customers: DynamoStore) -> Self {
        self.customers = Some(customers);
        self
    }

    /// Checks the window and takes one unit of the quota; returns the quota scope and window to refund
    /// if the send then fails.
    async fn take_reply_quota(
        &self,
        channel: &Channel,
        openid: &str,
    ) -> Result<Option<(String, i64)>, SendError> {
        let Some(store) = &self.customers else {
            return Ok(None);
        };
        let now = now_ms();
        let customer = store
            .customer(&channel.channel_id, openid)
            .await
            .map_err(|e| SendError::Retryable(e.to_string()))?;
        let last = customer.and_then(|c| c.last_inbound_ms).ok_or_else(|| {
            SendError::Rejected(
                "the customer never wrote: WeChat allows replies only after an interaction".into(),
            )
        })?;
        if now - last > REPLY_WINDOW_MS {
            return Err(SendError::Rejected(
                "outside WeChat's 48-hour reply window".into(),
            ));
        }
        let scope = format!("wechat#{}#{openid}", channel.channel_id);
        let expires = (last + REPLY_WINDOW_MS) / 1000 + 3600;
        let granted = self
            .tokens
            .take_quota(&scope, last, REPLIES_PER_INTERACTION, expires)
            .await
            .map_err(|e| SendError::Retryable(e.to_string()))?;
        if !granted {
            return Err(SendError::Rejected(format!(
                "reply quota exhausted: WeChat allows {REPLIES_PER_INTERACTION} messages per customer interaction"
            )));
        }
        Ok(Some((scope, last)))
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
        let app_id = channel.external_id.as_str();
        let token = self.access_token(app_id, secret, None).await?;
        let api = Api {
            http: &self.http,
            classify,
            unreachable: http_error,
        };
        let renew = Renew {
            client: self,
            app_id,
            secret,
        };
        api.post_with_token::<ApiReply>(&format!("{}{path}", self.base), path, body, token, &renew)
            .await
            .map(|_| ())
    }
}

/// Renews an app's token after WeChat refused `stale`: forget the cached one, fetch (forcing a new one if
/// WeChat still hands out the refused token).
struct Renew<'a> {
    client: &'a WechatClient,
    app_id: &'a str,
    secret: &'a str,
}

#[async_trait]
impl TokenSource for Renew<'_> {
    async fn renewed(&self, stale: &str) -> Result<String, SendError> {
        self.client
            .memory
            .lock()
            .expect("token lock")
            .remove(self.app_id);
        self.client
            .access_token(self.app_id, self.secret, Some(stale))
            .await
    }
}

/// The JSON body of a customer-service message (`/cgi-bin/message/custom/send`) for an Official Account or a
/// Mini Program. Media go by media id (uploaded to WeChat first); a card is a 图文 `news` message on an Official
/// Account and a `link` message on a Mini Program, which cannot send voice.
pub fn custom_message(
    kind: ChannelKind,
    to: &str,
    body: &OutboundBody,
    kf_account: Option<&str>,
) -> Result<serde_json::Value, SendError> {
    let mini = kind == ChannelKind::WechatMiniProgram;
    let need_media = |what: &str, media_id: &Option<String>| {
        media_id.clone().ok_or_else(|| {
            SendError::Rejected(format!(
                "WeChat sends a {what} by media id: upload it first"
            ))
        })
    };
    let mut v = match body {
        OutboundBody::Text { text } => {
            json!({"touser": to, "msgtype": "text", "text": {"content": text}})
        }
        OutboundBody::Image { media_id, .. } => {
            json!({"touser": to, "msgtype": "image", "image": {"media_id": need_media("image", media_id)?}})
        }
        OutboundBody::Voice { .. } if mini => {
            return Err(SendError::Rejected(
                "Mini Program customer service cannot send voice".into(),
            ))
        }
        OutboundBody::Voice { media_id, .. } => {
            json!({"touser": to, "msgtype": "voice", "voice": {"media_id": need_media("voice message", media_id)?}})
        }
        OutboundBody::Card {
            title,
            description,
            url,
            image_url,
        } if mini => json!({
            "touser": to, "msgtype": "link",
            "link": {"title": title, "description": description.clone().unwrap_or_default(), "url": url,
                     "thumb_url": image_url.clone().unwrap_or_default()}
        }),
        OutboundBody::Card {
            title,
            description,
            url,
            image_url,
        } => json!({
            "touser": to, "msgtype": "news",
            "news": {"articles": [{"title": title, "description": description.clone().unwrap_or_default(),
                                   "url": url, "picurl": image_url.clone().unwrap_or_default()}]}
        }),
        OutboundBody::Typing => json!({"touser": to, "command": "Typing"}),
    };
    if let (Some(kf), false) = (kf_account, matches!(body, OutboundBody::Typing)) {
        v["customservice"] = json!({"kf_account": kf});
    }
    Ok(v)
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
        let body = custom_message(
            channel.kind,
            &msg.customer,
            &msg.body,
            msg.kf_account.as_deref(),
        )?;
        if let OutboundBody::Typing = msg.body {
            return self
                .post_with_token("/cgi-bin/message/custom/typing", channel, secrets, &body)
                .await;
        }
        let taken = self.take_reply_quota(channel, &msg.customer).await?;
        let result = self
            .post_with_token("/cgi-bin/message/custom/send", channel, secrets, &body)
            .await;
        if let (Err(_), Some((scope, window))) = (&result, &taken) {
            if let Err(e) = self.tokens.refund_quota(scope, *window).await {
                tracing::warn!(error = %e, "could not give back a reply-quota unit");
            }
        }
        result
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

    // Expected bodies: the samples of WeChat's "客服消息" (customer-service message) API pages for Official
    // Accounts and Mini Programs, with their placeholder values.
    #[test]
    fn message_bodies_match_the_documented_shapes() {
        let oa = |body: OutboundBody, kf: Option<&str>| {
            custom_message(ChannelKind::WechatOa, "OPENID", &body, kf).unwrap()
        };
        assert_eq!(
            oa(
                OutboundBody::Text {
                    text: "Hello World".into()
                },
                Some("test1@kftest")
            ),
            json!({"touser": "OPENID", "msgtype": "text", "text": {"content": "Hello World"},
                   "customservice": {"kf_account": "test1@kftest"}})
        );
        assert!(oa(OutboundBody::Text { text: "x".into() }, None)
            .get("customservice")
            .is_none());
        assert_eq!(
            oa(
                OutboundBody::Image {
                    media_id: Some("MEDIA_ID".into()),
                    url: None
                },
                None
            ),
            json!({"touser": "OPENID", "msgtype": "image", "image": {"media_id": "MEDIA_ID"}})
        );
        assert_eq!(
            oa(
                OutboundBody::Voice {
                    media_id: Some("MEDIA_ID".into()),
                    url: None
                },
                None
            ),
            json!({"touser": "OPENID", "msgtype": "voice", "voice": {"media_id": "MEDIA_ID"}})
        );
        let card = OutboundBody::Card {
            title: "Happy Day".into(),
            description: Some("Is Really A Happy Day".into()),
            url: "URL".into(),
            image_url: Some("PIC_URL".into()),
        };
        assert_eq!(
            oa(card.clone(), None),
            json!({"touser": "OPENID", "msgtype": "news", "news": {"articles": [
                {"title": "Happy Day", "description": "Is Really A Happy Day", "url": "URL", "picurl": "PIC_URL"}]}})
        );
        assert_eq!(
            oa(OutboundBody::Typing, Some("kf")),
            json!({"touser": "OPENID", "command": "Typing"})
        );
        let mini = custom_message(ChannelKind::WechatMiniProgram, "OPENID", &card, None).unwrap();
        assert_eq!(
            mini,
            json!({"touser": "OPENID", "msgtype": "link", "link": {"title": "Happy Day",
                   "description": "Is Really A Happy Day", "url": "URL", "thumb_url": "PIC_URL"}})
        );
    }

    #[test]
    fn what_wechat_cannot_send_is_refused_before_calling_it() {
        let no_media = OutboundBody::Image {
            media_id: None,
            url: Some("https://x/y.png".into()),
        };
        assert!(matches!(
            custom_message(ChannelKind::WechatOa, "o", &no_media, None),
            Err(SendError::Rejected(_))
        ));
        let voice = OutboundBody::Voice {
            media_id: Some("m".into()),
            url: None,
        };
        assert!(matches!(
            custom_message(ChannelKind::WechatMiniProgram, "o", &voice, None),
            Err(SendError::Rejected(_))
        ));
    }
}
