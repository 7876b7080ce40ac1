//! WeCom (企业微信) app message API client (outbound), for `wecom` channels.
//!
//! - A channel is one self-built app (自建应用) of a corp: the corp id is the channel's `external_id`, the
//!   app's AgentId and Secret are `agent_id` and `app_secret` of its credentials ([`ChannelSecrets`]).
//! - Access tokens come from `GET /cgi-bin/gettoken?corpid=…&corpsecret=…` (one token per app; WeCom
//!   hands out the same token while it is valid). They are cached in memory and in the runtime table
//!   (`TOKEN#wecom#{corp id}:{agent id}`), shared by all functions and containers, and renewed five minutes
//!   before they expire.
//! - Messages go to `POST /cgi-bin/message/send?access_token=…` as
//!   `{"touser": "<UserID>", "msgtype": "text", "agentid": 1000002, "text": {"content": "…"}}`; token errors
//!   (40014 invalid, 42001 expired) drop the cached token, fetch a new one and retry once. WeCom answers
//!   errcode 0 with `invaliduser` when the member cannot be reached: that is a refusal.
//! - WeCom calls come from a fixed egress IP (the app's 企业可信IP): the channel sender's NAT.
//! - The base URL is configurable (`WECOM_API_BASE`): the local fake in development and tests.

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

/// Renew this long before WeCom says the token expires.
const EARLY_RENEW_MS: i64 = 5 * 60 * 1000;

/// The provider name of WeCom tokens in the runtime table.
const PROVIDER: &str = "wecom";

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
    /// `message/send`: members the message could not be delivered to (`user1|user2`).
    #[serde(default)]
    invaliduser: Option<String>,
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

/// Classifies WeCom global error codes (全局错误码).
pub fn classify(errcode: i64) -> ErrClass {
    match errcode {
        0 => ErrClass::Ok,
        // 40014: invalid access_token; 42001: access_token expired.
        40014 | 42001 => ErrClass::Token,
        // -1: system busy; 45009: API frequency limit; 45033: too many concurrent calls.
        -1 | 45009 | 45033 => ErrClass::Retryable,
        // 40001: invalid secret; 40013: invalid corp id; 40056: invalid agent id; 41001/41002/41004:
        // missing token / corp id / secret; 48002: API not allowed for this app; 60020: caller IP not a
        // trusted IP of the app; 301002: the app may not reach this member; 40091: secret invalid.
        40001 | 40013 | 40056 | 40091 | 41001 | 41002 | 41004 | 48002 | 60020 | 301002 => {
            ErrClass::Misconfigured
        }
        // 81013: user, party and tag all invalid; 40003: invalid UserID; 82001: no recipient;
        // 45002: content too long; others: refused as well.
        _ => ErrClass::Rejected,
    }
}

#[derive(Debug)]
pub struct WecomClient {
    http: reqwest::Client,
    base: String,
    tokens: RuntimeStore,
    memory: Mutex<HashMap<String, (String, i64)>>,
}

fn http_error(e: reqwest::Error) -> SendError {
    SendError::Retryable(format!("WeCom API unreachable: {e}"))
}

/// The app a channel sends as: corp id, numeric agent id, secret.
struct App<'a> {
    corp_id: &'a str,
    agent_id: i64,
    secret: &'a str,
}

impl App<'_> {
    /// The key of the app's token in the caches.
    fn key(&self) -> String {
        format!("{}:{}", self.corp_id, self.agent_id)
    }
}

fn app<'a>(channel: &'a Channel, secrets: &'a ChannelSecrets) -> Result<App<'a>, SendError> {
    let secret = secrets
        .app_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SendError::Misconfigured("no WeCom app secret (app_secret)".into()))?;
    let agent_id = secrets
        .agent_id
        .as_deref()
        .and_then(|a| a.trim().parse::<i64>().ok())
        .ok_or_else(|| SendError::Misconfigured("no numeric WeCom agent_id".into()))?;
    if channel.external_id.is_empty() {
        return Err(SendError::Misconfigured(
            "no corp id (the channel's external_id)".into(),
        ));
    }
    Ok(App {
        corp_id: &channel.external_id,
        agent_id,
        secret,
    })
}

impl WecomClient {
    pub fn new(base: impl Into<String>, tokens: RuntimeStore) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(8))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("HTTP client");
        WecomClient {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            tokens,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// A valid access token for the app, from memory, the shared cache, or WeCom. With `refresh`, the caches
    /// are skipped (the cached token was refused).
    async fn access_token(&self, app: &App<'_>, refresh: bool) -> Result<String, SendError> {
        let key = app.key();
        let now = now_ms();
        if !refresh {
            if let Some((t, exp)) = self.memory.lock().expect("token lock").get(&key).cloned() {
                if exp - EARLY_RENEW_MS > now {
                    return Ok(t);
                }
            }
            if let Ok(Some((t, exp))) = self
                .tokens
                .cached_token(PROVIDER, &key, now + EARLY_RENEW_MS)
                .await
            {
                self.memory
                    .lock()
                    .expect("token lock")
                    .insert(key, (t.clone(), exp));
                return Ok(t);
            }
        }
        let (t, exp) = self.fetch_token(app).await?;
        self.memory
            .lock()
            .expect("token lock")
            .insert(key.clone(), (t.clone(), exp));
        if let Err(e) = self.tokens.store_token(PROVIDER, &key, &t, exp).await {
            tracing::warn!(error = %e, "could not share the WeCom access token; continuing with the local copy");
        }
        Ok(t)
    }

    async fn fetch_token(&self, app: &App<'_>) -> Result<(String, i64), SendError> {
        let reply: ApiReply = self
            .http
            .get(format!("{}/cgi-bin/gettoken", self.base))
            .query(&[("corpid", app.corp_id), ("corpsecret", app.secret)])
            .send()
            .await
            .map_err(http_error)?
            .json()
            .await
            .map_err(http_error)?;
        match (reply.errcode, reply.access_token) {
            (0, Some(t)) => Ok((t, now_ms() + reply.expires_in.unwrap_or(7200) * 1000)),
            (code, _) => {
                let detail = format!("gettoken errcode {code} {}", reply.errmsg);
                Err(match classify(code) {
                    ErrClass::Retryable => SendError::Retryable(detail),
                    _ => SendError::Misconfigured(detail),
                })
            }
        }
    }

    /// Posts `body` to the app message API with the app's token, renewing the token once if WeCom refuses it.
    async fn post_message(&self, app: &App<'_>, body: &serde_json::Value) -> Result<(), SendError> {
        let token = self.access_token(app, false).await?;
        let api = Api {
            http: &self.http,
            classify,
            unreachable: http_error,
        };
        let renew = Renew { client: self, app };
        let url = format!("{}/cgi-bin/message/send", self.base);
        let reply: ApiReply = api
            .post_with_token(&url, "message/send", body, token, &renew)
            .await?;
        match reply.invaliduser.as_deref().filter(|u| !u.is_empty()) {
            // Never log the UserID itself at info level: it identifies a person.
            Some(_) => Err(SendError::Rejected(
                "message/send: the member is not reachable by this app (invaliduser)".into(),
            )),
            None => Ok(()),
        }
    }
}

/// Renews an app's token after WeCom refused one: forget the cached one and fetch a new one.
struct Renew<'a> {
    client: &'a WecomClient,
    app: &'a App<'a>,
}

#[async_trait]
impl TokenSource for Renew<'_> {
    async fn renewed(&self, _stale: &str) -> Result<String, SendError> {
        self.client
            .memory
            .lock()
            .expect("token lock")
            .remove(&self.app.key());
        self.client.access_token(self.app, true).await
    }
}

/// The JSON body of an app message to member `to`, or `None` for what WeCom has no message for (typing).
/// Media must be WeCom media ids (`media/upload` of the same corp); a media reference that is only a URL
/// is refused.
pub fn app_message(
    to: &str,
    agent_id: i64,
    body: &OutboundBody,
) -> Result<Option<serde_json::Value>, SendError> {
    let media = |kind: &str, media_id: &Option<String>| {
        media_id
            .as_deref()
            .filter(|m| !m.is_empty())
            .map(|m| {
                let mut v = json!({"touser": to, "msgtype": kind, "agentid": agent_id});
                v[kind] = json!({"media_id": m});
                v
            })
            .ok_or_else(|| {
                SendError::Rejected(format!("WeCom sends {kind} messages by media id only"))
            })
    };
    Ok(Some(match body {
        OutboundBody::Text { text } => {
            json!({"touser": to, "msgtype": "text", "agentid": agent_id, "text": {"content": text}})
        }
        OutboundBody::Image { media_id, .. } => media("image", media_id)?,
        OutboundBody::Voice { media_id, .. } => media("voice", media_id)?,
        OutboundBody::Card {
            title,
            description,
            url,
            image_url,
        } => {
            let mut article = json!({"title": title, "url": url});
            if let Some(d) = description {
                article["description"] = json!(d);
            }
            if let Some(p) = image_url {
                article["picurl"] = json!(p);
            }
            json!({"touser": to, "msgtype": "news", "agentid": agent_id, "news": {"articles": [article]}})
        }
        OutboundBody::Typing => return Ok(None),
    }))
}

#[async_trait]
impl ChannelApi for WecomClient {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        if channel.kind != ChannelKind::Wecom {
            return Err(SendError::Misconfigured(format!(
                "{} is not a WeCom channel",
                channel.kind.as_str()
            )));
        }
        let app = app(channel, secrets)?;
        match app_message(&msg.customer, app.agent_id, &msg.body)? {
            Some(body) => self.post_message(&app, &body).await,
            // WeCom has no typing indicator: nothing to send.
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes() {
        assert_eq!(classify(0), ErrClass::Ok);
        assert_eq!(classify(40014), ErrClass::Token);
        assert_eq!(classify(42001), ErrClass::Token);
        assert_eq!(classify(-1), ErrClass::Retryable);
        assert_eq!(classify(45009), ErrClass::Retryable);
        assert_eq!(classify(60020), ErrClass::Misconfigured);
        assert_eq!(classify(40001), ErrClass::Misconfigured);
        assert_eq!(classify(81013), ErrClass::Rejected);
        assert_eq!(classify(45002), ErrClass::Rejected);
    }

    #[test]
    fn text_body_matches_the_documented_shape() {
        let v = app_message(
            "UserID1",
            1_000_002,
            &OutboundBody::Text {
                text: "你的快递已到".into(),
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            v,
            json!({"touser": "UserID1", "msgtype": "text", "agentid": 1000002, "text": {"content": "你的快递已到"}})
        );
    }

    #[test]
    fn cards_media_and_typing() {
        let card = app_message(
            "u",
            1,
            &OutboundBody::Card {
                title: "中秋节礼品领取".into(),
                description: Some("今年中秋节公司有豪礼相送".into()),
                url: "https://work.weixin.qq.com".into(),
                image_url: None,
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(card["msgtype"], "news");
        assert_eq!(card["news"]["articles"][0]["title"], "中秋节礼品领取");
        assert!(card["news"]["articles"][0].get("picurl").is_none());
        let image = app_message(
            "u",
            1,
            &OutboundBody::Image {
                media_id: Some("MEDIA_ID".into()),
                url: None,
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(image["image"]["media_id"], "MEDIA_ID");
        assert!(matches!(
            app_message(
                "u",
                1,
                &OutboundBody::Image {
                    media_id: None,
                    url: Some("https://x/y.png".into())
                }
            ),
            Err(SendError::Rejected(_))
        ));
        assert!(app_message("u", 1, &OutboundBody::Typing)
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_app_comes_from_the_channel_and_its_credentials() {
        let channel = Channel {
            channel_id: "c".into(),
            account_id: "a".into(),
            kind: ChannelKind::Wecom,
            external_id: "ww0123456789abcdef".into(),
            name: "n".into(),
            secret_ref: "/s".into(),
            enabled: true,
        };
        // `agent_id` may be stored as a number or a string.
        for json in [
            r#"{"app_secret": "s", "agent_id": 1000002}"#,
            r#"{"app_secret": "s", "agent_id": "1000002"}"#,
        ] {
            let secrets: ChannelSecrets = serde_json::from_str(json).unwrap();
            let a = app(&channel, &secrets).unwrap();
            assert_eq!(
                (a.corp_id, a.agent_id, a.secret),
                ("ww0123456789abcdef", 1_000_002, "s")
            );
            assert_eq!(a.key(), "ww0123456789abcdef:1000002");
        }
        for json in [
            r#"{"app_secret": "s"}"#,
            r#"{"app_secret": "s", "agent_id": "abc"}"#,
            r#"{"agent_id": 1}"#,
        ] {
            let secrets: ChannelSecrets = serde_json::from_str(json).unwrap();
            assert!(
                matches!(app(&channel, &secrets), Err(SendError::Misconfigured(_))),
                "{json}"
            );
        }
    }
}
