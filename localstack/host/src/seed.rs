//! Seeding: the demo account of `localstack/run.sh`, and the same builder for tests (each test seeds its own
//! account so tests never share state).

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::ssm::SsmSecrets;
use kefu_aws::{Clients, Env};
use kefu_domain::model::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize)]
pub struct AgentSeed {
    pub agent_id: String,
    pub display_name: String,
    /// The agent's API token (only its SHA-256 is stored).
    pub token: String,
    pub capacity: u32,
    pub kf_account: Option<String>,
    /// The second line under the agent's name in web chat (team, location).
    pub line2: Option<String>,
}

/// A Facebook Messenger channel of a seeded account (international edition).
#[derive(Debug, Clone, Serialize)]
pub struct MessengerSeed {
    pub channel_id: String,
    /// The Facebook Page id: the channel's `external_id`, the `entry[].id` of its webhooks.
    pub page_id: String,
    /// The verify token entered in the Meta app dashboard (`hub.verify_token`).
    pub verify_token: String,
    /// The Meta app's secret (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The Page access token of the Send API.
    pub page_access_token: String,
}

impl MessengerSeed {
    /// The demo page `demo-messenger`.
    pub fn demo() -> MessengerSeed {
        MessengerSeed {
            channel_id: "demo-messenger".into(),
            page_id: "100000000000001".into(),
            verify_token: "kefu-demo-verify-token".into(),
            app_secret: "kefu-demo-messenger-app-secret".into(),
            page_access_token: "EAAkefuDemoPageAccessToken".into(),
        }
    }

    /// A page with ids and credentials of its own, for a test account `tag`.
    pub fn unique(tag: &str) -> MessengerSeed {
        MessengerSeed {
            channel_id: format!("{tag}-messenger"),
            page_id: format!("{}", 100_000_000_000_000u64 + rand::random::<u32>() as u64),
            verify_token: format!("verify-{tag}"),
            app_secret: format!("app-secret-{tag}-{:016x}", rand::random::<u64>()),
            page_access_token: format!("EAA{tag}{:016x}", rand::random::<u64>()),
        }
    }
}

/// A web chat channel of a seeded account (both editions).
#[derive(Debug, Clone, Serialize)]
pub struct WebChatSeed {
    pub channel_id: String,
    /// The site the widget is on: the channel's `external_id`.
    pub site: String,
    /// The widget tag's `data-site-key`.
    pub site_key: String,
    /// Browser origins allowed to use the visitor API.
    pub allowed_origins: Vec<String>,
    /// The HMAC key of visitor session tokens.
    pub session_secret: String,
}

impl WebChatSeed {
    /// The demo site `demo-webchat`: pages on the local host (`localstack/run.sh` serves the demo page at
    /// `http://127.0.0.1:3000/_local/webchat-demo.html`) may use it.
    pub fn demo() -> WebChatSeed {
        WebChatSeed {
            channel_id: "demo-webchat".into(),
            site: "127.0.0.1:3000".into(),
            site_key: "kefu-demo-site-key".into(),
            allowed_origins: vec![
                "http://127.0.0.1:3000".into(),
                "http://localhost:3000".into(),
            ],
            session_secret: "kefu-demo-session-secret-0123456789abcdef0123456789abcdef".into(),
        }
    }

    /// A site with ids and keys of its own, for a test account `tag`; pages of `https://www.example.test`
    /// may use it (tests add their own origins).
    pub fn unique(tag: &str) -> WebChatSeed {
        WebChatSeed {
            channel_id: format!("{tag}-webchat"),
            site: "www.example.test".into(),
            site_key: format!("site-key-{tag}-{:016x}", rand::random::<u64>()),
            allowed_origins: vec!["https://www.example.test".into()],
            session_secret: format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            ),
        }
    }
}

/// A WeCom self-built app channel of a seeded account (mainland edition).
#[derive(Debug, Clone, Serialize)]
pub struct WecomSeed {
    pub channel_id: String,
    /// The corp id (`ww…`): the channel's `external_id`, the receive id of its callbacks.
    pub corp_id: String,
    /// The app's AgentId.
    pub agent_id: String,
    /// The app's Secret (`corpsecret`).
    pub secret: String,
    /// The callback Token and EncodingAESKey (接收消息 → API 接收).
    pub token: String,
    pub encoding_aes_key: String,
    /// (kind, lang, text) greetings of this channel only (they win over the account-wide ones).
    pub greetings: Vec<(GreetingKind, Lang, String)>,
}

/// Greetings for a WeCom channel: WeCom has no agent presence, so online / offline mean inside / outside
/// business hours and no agent's name is known when the greeting goes out.
pub fn wecom_greetings() -> Vec<(GreetingKind, Lang, String)> {
    use GreetingKind::*;
    [
        (Online, Lang::en(), "Hi $username, thanks for your message. Our team is here and will answer you shortly."),
        (Online, Lang::zh_hans(), "您好$username，感谢您的留言，客服会尽快回复您。"),
        (Offline, Lang::en(), "Thanks for your message. We are outside our business hours right now and will reply when we are open."),
        (Offline, Lang::zh_hans(), "感谢您的留言。现在是非工作时间，我们上班后会尽快回复您。"),
    ]
    .into_iter()
    .map(|(k, l, t)| (k, l, t.to_string()))
    .collect()
}

impl WecomSeed {
    /// The demo app `demo-wecom`.
    pub fn demo() -> WecomSeed {
        WecomSeed {
            channel_id: "demo-wecom".into(),
            corp_id: "wwd0e0000000000001".into(),
            agent_id: "1000002".into(),
            secret: "kefu-demo-wecom-secret".into(),
            token: "kefu-demo-wecom-token".into(),
            encoding_aes_key: "kefuLocalWecomDemoKey0123456789ABCDEFGHIJKL".into(),
            greetings: wecom_greetings(),
        }
    }

    /// An app with ids and credentials of its own, for a test account `tag`.
    pub fn unique(tag: &str) -> WecomSeed {
        WecomSeed {
            channel_id: format!("{tag}-wecom"),
            corp_id: format!("ww{:016x}", rand::random::<u64>()),
            agent_id: format!("{}", 1_000_000 + rand::random::<u16>() as u32),
            secret: format!("wecom-secret-{tag}"),
            token: format!("wecom-token-{tag}"),
            encoding_aes_key: WecomSeed::demo().encoding_aes_key,
            greetings: wecom_greetings(),
        }
    }
}

/// An SMS channel of a seeded account: Twilio (international), Aliyun or Tencent Cloud (mainland).
#[derive(Debug, Clone, Serialize)]
pub struct SmsSeed {
    pub channel_id: String,
    /// `sms_twilio`, `sms_aliyun` or `sms_tencent`.
    pub kind: ChannelKind,
    /// The channel's `external_id`: the Twilio number, an Aliyun label, the Tencent `SmsSdkAppId`.
    pub external_id: String,
    /// The API credential pair: Twilio Account SID / auth token, Aliyun AccessKey id / secret, Tencent
    /// SecretId / SecretKey.
    pub key_id: String,
    pub key_secret: String,
    /// Twilio: the webhook URL Twilio signs (`<API>/sms/twilio/<channel id>`).
    pub public_url: Option<String>,
    /// Mainland: the approved signature, template and the callback URL token.
    pub sign_name: Option<String>,
    pub template_id: Option<String>,
    pub url_token: Option<String>,
}

impl SmsSeed {
    /// The demo Twilio number `demo-sms-twilio`, webhook on the local host at `api`.
    pub fn demo_twilio(api: &str) -> SmsSeed {
        SmsSeed {
            channel_id: "demo-sms-twilio".into(),
            kind: ChannelKind::SmsTwilio,
            external_id: "+15005550006".into(),
            key_id: "ACd0e00000000000000000000000000001".into(),
            key_secret: "kefu-demo-twilio-auth-token".into(),
            public_url: Some(format!("{api}/sms/twilio/demo-sms-twilio")),
            sign_name: None,
            template_id: None,
            url_token: None,
        }
    }

    /// The demo Aliyun SMS channel `demo-sms-aliyun`.
    pub fn demo_aliyun() -> SmsSeed {
        SmsSeed {
            channel_id: "demo-sms-aliyun".into(),
            kind: ChannelKind::SmsAliyun,
            external_id: "demo-hotel".into(),
            key_id: "LTAIkefuDemoAccessKey".into(),
            key_secret: "kefu-demo-aliyun-access-key-secret".into(),
            public_url: None,
            sign_name: Some("演示酒店".into()),
            template_id: Some("SMS_000000001".into()),
            url_token: Some("kefu-demo-aliyun-url-token".into()),
        }
    }

    /// The demo Tencent Cloud SMS channel `demo-sms-tencent`.
    pub fn demo_tencent() -> SmsSeed {
        SmsSeed {
            channel_id: "demo-sms-tencent".into(),
            kind: ChannelKind::SmsTencent,
            external_id: "1400000001".into(),
            key_id: "AKIDkefuDemoSecretId".into(),
            key_secret: "kefu-demo-tencent-secret-key".into(),
            public_url: None,
            sign_name: Some("演示酒店".into()),
            template_id: Some("1000001".into()),
            url_token: Some("kefu-demo-tencent-url-token".into()),
        }
    }

    /// A channel of `kind` with ids and credentials of its own, for a test account `tag`; a Twilio one
    /// has its webhook on the host at `api`.
    pub fn unique(tag: &str, kind: ChannelKind, api: &str) -> SmsSeed {
        let r = || rand::random::<u64>();
        let mut s = match kind {
            ChannelKind::SmsTwilio => SmsSeed::demo_twilio(api),
            ChannelKind::SmsAliyun => SmsSeed::demo_aliyun(),
            _ => SmsSeed::demo_tencent(),
        };
        s.channel_id = format!("{tag}-{}", kind.as_str().replace('_', "-"));
        match kind {
            ChannelKind::SmsTwilio => {
                s.external_id = format!("+1500555{:04}", r() % 10_000);
                s.key_id = format!("AC{:016x}{:016x}", r(), r());
                s.public_url = Some(format!("{api}/sms/twilio/{}", s.channel_id));
            }
            ChannelKind::SmsAliyun => s.key_id = format!("LTAI{:016x}", r()),
            _ => {
                s.external_id = format!("14{:08}", r() % 100_000_000);
                s.key_id = format!("AKID{:016x}", r());
            }
        }
        s.key_secret = format!("secret-{tag}-{:016x}", r());
        if s.url_token.is_some() {
            s.url_token = Some(format!("{:016x}{:016x}", r(), r()));
        }
        s
    }

    /// The provider name the fake SMS APIs register credentials under.
    pub fn provider(&self) -> &'static str {
        match self.kind {
            ChannelKind::SmsTwilio => "twilio",
            ChannelKind::SmsAliyun => "aliyun",
            _ => "tencent",
        }
    }

    /// The route of the channel's webhook (`/sms/<provider>/<channel id>`; mainland ones with `?token=`).
    pub fn webhook_path(&self) -> String {
        let path = format!("/sms/{}/{}", self.provider(), self.channel_id);
        match &self.url_token {
            Some(t) => format!("{path}?token={t}"),
            None => path,
        }
    }

    /// The channel's credentials as stored in SSM.
    pub fn secrets(&self) -> ChannelSecrets {
        match self.kind {
            ChannelKind::SmsTwilio => ChannelSecrets {
                account_sid: Some(self.key_id.clone()),
                app_secret: Some(self.key_secret.clone()),
                public_url: self.public_url.clone(),
                ..ChannelSecrets::default()
            },
            _ => ChannelSecrets {
                access_key_id: Some(self.key_id.clone()),
                access_key_secret: Some(self.key_secret.clone()),
                sign_name: self.sign_name.clone(),
                template_id: self.template_id.clone(),
                url_token: self.url_token.clone(),
                ..ChannelSecrets::default()
            },
        }
    }

    /// [`SmsSeed::secrets`] as JSON without the fields SMS leaves empty (for `demo.json`).
    pub fn secrets_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.secrets()).unwrap_or_default();
        if let Some(fields) = v.as_object_mut() {
            fields.retain(|_, x| !x.is_null() && x.as_array().is_none_or(|a| !a.is_empty()));
        }
        v
    }

    /// Writes the channel (of `account_id`) and its credentials.
    pub async fn apply(
        &self,
        account_id: &str,
        account_name: &str,
        clients: &Clients,
        env: &Env,
    ) -> Result<(), String> {
        let secret_ref = format!("{}channels/{}", env.secrets_prefix, self.channel_id);
        SsmSecrets::new(clients.ssm.clone())
            .put(&secret_ref, &self.secrets())
            .await
            .map_err(|e| e.to_string())?;
        DynamoStore::new(clients.dynamo.clone(), &env.data_table)
            .put_channel(&Channel {
                channel_id: self.channel_id.clone(),
                account_id: account_id.to_string(),
                kind: self.kind,
                external_id: self.external_id.clone(),
                name: format!("{account_name} SMS ({})", self.provider()),
                secret_ref,
                enabled: true,
            })
            .await
            .map_err(|e| e.to_string())
    }
}

/// Office hours of the demo account: Asia/Shanghai, Monday to Friday 09:00-18:00.
pub fn demo_business_hours() -> kefu_domain::rules::BusinessHours {
    use kefu_domain::rules::business_hours::{BusinessHours, Weekly};
    BusinessHours::new(
        "Asia/Shanghai",
        Weekly::weekdays(&["09:00-18:00".parse().expect("interval")]),
    )
    .expect("known time zone")
}

#[derive(Debug, Clone, Serialize)]
pub struct WechatSeed {
    pub account_id: String,
    pub account_name: String,
    pub default_lang: Lang,
    pub busy_threshold: Option<u32>,
    pub channel_id: String,
    pub app_id: String,
    pub token: String,
    pub app_secret: String,
    pub encoding_aes_key: String,
    pub agents: Vec<AgentSeed>,
    /// (kind, lang, text) greetings for every channel of the account.
    pub greetings: Vec<(GreetingKind, Lang, String)>,
    /// A Messenger channel of the same account, if any.
    pub messenger: Option<MessengerSeed>,
    /// A web chat channel of the same account, if any.
    pub webchat: Option<WebChatSeed>,
    /// A WeCom channel of the same account, if any.
    pub wecom: Option<WecomSeed>,
    /// The account's business hours (`None`: always open), used by channels without agent presence.
    pub business_hours: Option<kefu_domain::rules::BusinessHours>,
    /// SMS channels of the same account.
    pub sms: Vec<SmsSeed>,
}

/// The standard greetings in English and Simplified Chinese.
pub fn standard_greetings() -> Vec<(GreetingKind, Lang, String)> {
    use GreetingKind::*;
    [
        (NewFollower, Lang::en(), "Welcome, and thanks for following! Send us a message any time and an agent will help you."),
        (NewFollower, Lang::zh_hans(), "感谢关注！有任何问题请随时留言，客服会尽快为您服务。"),
        (Online, Lang::en(), "Hi $username, I'm $agentname. How can I help you today?"),
        (Online, Lang::zh_hans(), "您好$username，我是客服$agentname，很高兴为您服务。"),
        (Offline, Lang::en(), "Thanks for your message. Our agents are offline right now; we will reply as soon as we are back."),
        (Offline, Lang::zh_hans(), "感谢您的留言。客服暂时不在线，我们上线后会尽快回复您。"),
        (Busy, Lang::en(), "All our agents are busy right now. You are in the queue and will be answered shortly."),
        (Busy, Lang::zh_hans(), "客服正忙，您已在排队中，请稍候。"),
    ]
    .into_iter()
    .map(|(k, l, t)| (k, l, t.to_string()))
    .collect()
}

impl WechatSeed {
    /// The demo account: one WeChat Official Account channel, two agents who start offline.
    pub fn demo() -> WechatSeed {
        WechatSeed {
            account_id: "demo".into(),
            account_name: "Demo Hotel Group".into(),
            default_lang: Lang::en(),
            busy_threshold: Some(5),
            channel_id: "demo-wechat".into(),
            app_id: "wxd0e0000000000001".into(),
            token: "kefu-demo-token".into(),
            app_secret: "kefu-demo-app-secret".into(),
            encoding_aes_key: "kefuLocalDemoKey0123456789ABCDEFGHIJKLMNOPQ".into(),
            agents: vec![
                AgentSeed {
                    agent_id: "amy".into(),
                    display_name: "Amy".into(),
                    token: "demo-token-amy".into(),
                    capacity: 3,
                    kf_account: Some("amy@demo".into()),
                    line2: Some("Reservations · Shanghai".into()),
                },
                AgentSeed {
                    agent_id: "lei".into(),
                    display_name: "Li Lei".into(),
                    token: "demo-token-lei".into(),
                    capacity: 3,
                    kf_account: None,
                    line2: Some("Front desk · Beijing".into()),
                },
            ],
            greetings: standard_greetings(),
            messenger: None,
            webchat: None,
            wecom: None,
            business_hours: None,
            sms: Vec::new(),
        }
    }

    /// The demo account of an edition: the international one also has the Messenger channel
    /// `demo-messenger` (Messenger is not available in mainland China), the mainland one the WeCom channel
    /// `demo-wecom` and business hours (Asia/Shanghai, Monday to Friday 09:00-18:00).
    pub fn demo_for_edition(edition: &str) -> WechatSeed {
        let mut s = WechatSeed::demo();
        if edition != "mainland" {
            s.messenger = Some(MessengerSeed::demo());
        }
        s.webchat = Some(WebChatSeed::demo());
        // WeCom is a mainland channel; it greets by the account's business hours.
        if edition == "mainland" {
            s.wecom = Some(WecomSeed::demo());
            s.business_hours = Some(demo_business_hours());
        }
        // SMS: Twilio in the international edition, Aliyun and Tencent Cloud in the mainland one.
        s.sms = if edition == "mainland" {
            vec![SmsSeed::demo_aliyun(), SmsSeed::demo_tencent()]
        } else {
            vec![SmsSeed::demo_twilio("http://127.0.0.1:3000")]
        };
        s
    }

    /// Like [`WechatSeed::unique`], with a WeCom channel of its own as well (mainland edition).
    pub fn unique_with_wecom(prefix: &str) -> WechatSeed {
        let mut s = WechatSeed::unique(prefix);
        s.wecom = Some(WecomSeed::unique(&s.account_id));
        s
    }

    /// The SSM parameter of the WeCom channel's credentials.
    pub fn wecom_secret_ref(&self, env: &Env) -> Option<String> {
        self.wecom
            .as_ref()
            .map(|w| format!("{}channels/{}", env.secrets_prefix, w.channel_id))
    }

    /// Like [`WechatSeed::unique`], with a web chat channel of its own as well.
    pub fn unique_with_webchat(prefix: &str) -> WechatSeed {
        let mut s = WechatSeed::unique(prefix);
        s.webchat = Some(WebChatSeed::unique(&s.account_id));
        s
    }

    /// Like [`WechatSeed::unique`], with a Messenger channel of its own as well.
    pub fn unique_with_messenger(prefix: &str) -> WechatSeed {
        let mut s = WechatSeed::unique(prefix);
        s.messenger = Some(MessengerSeed::unique(&s.account_id));
        s
    }

    /// A fresh account for a test: unique ids under `prefix`, one agent, standard greetings.
    pub fn unique(prefix: &str) -> WechatSeed {
        let tag = format!("{prefix}-{:08x}", rand::random::<u32>());
        let mut s = WechatSeed::demo();
        s.account_id = tag.clone();
        s.account_name = format!("Test {tag}");
        s.channel_id = format!("{tag}-wechat");
        s.app_id = format!("wx{:016x}", rand::random::<u64>());
        s.token = format!("token-{tag}");
        s.agents = vec![AgentSeed {
            agent_id: "agent1".into(),
            display_name: "Amy".into(),
            token: format!("agent-token-{tag}"),
            capacity: 2,
            kf_account: Some("amy@test".into()),
            line2: Some("Reservations · Test".into()),
        }];
        s
    }

    pub fn secret_ref(&self, env: &Env) -> String {
        format!("{}channels/{}", env.secrets_prefix, self.channel_id)
    }

    /// The SSM parameter of the web chat channel's keys.
    pub fn webchat_secret_ref(&self, env: &Env) -> Option<String> {
        self.webchat
            .as_ref()
            .map(|w| format!("{}channels/{}", env.secrets_prefix, w.channel_id))
    }

    /// The SSM parameter of the Messenger channel's credentials.
    pub fn messenger_secret_ref(&self, env: &Env) -> Option<String> {
        self.messenger
            .as_ref()
            .map(|m| format!("{}channels/{}", env.secrets_prefix, m.channel_id))
    }

    /// Writes the account, channels, credentials, agents (offline) and greetings.
    pub async fn apply(&self, clients: &Clients, env: &Env) -> Result<(), String> {
        let store = DynamoStore::new(clients.dynamo.clone(), &env.data_table);
        let e = |e: kefu_domain::ports::StoreError| e.to_string();
        store
            .put_account(&Account {
                account_id: self.account_id.clone(),
                name: self.account_name.clone(),
                default_lang: self.default_lang.clone(),
                busy_threshold: self.busy_threshold,
                business_hours: self.business_hours.clone(),
            })
            .await
            .map_err(e)?;
        put_channel(
            clients,
            &store,
            Channel {
                channel_id: self.channel_id.clone(),
                account_id: self.account_id.clone(),
                kind: ChannelKind::WechatOa,
                external_id: self.app_id.clone(),
                name: format!("{} WeChat", self.account_name),
                secret_ref: self.secret_ref(env),
                enabled: true,
            },
            &ChannelSecrets {
                token: Some(self.token.clone()),
                app_secret: Some(self.app_secret.clone()),
                encoding_aes_key: Some(self.encoding_aes_key.clone()),
                ..ChannelSecrets::default()
            },
        )
        .await?;
        if let (Some(m), Some(secret_ref)) = (&self.messenger, self.messenger_secret_ref(env)) {
            put_channel(
                clients,
                &store,
                Channel {
                    channel_id: m.channel_id.clone(),
                    account_id: self.account_id.clone(),
                    kind: ChannelKind::Messenger,
                    external_id: m.page_id.clone(),
                    name: format!("{} Messenger", self.account_name),
                    secret_ref,
                    enabled: true,
                },
                &ChannelSecrets {
                    token: Some(m.verify_token.clone()),
                    app_secret: Some(m.app_secret.clone()),
                    access_token: Some(m.page_access_token.clone()),
                    ..ChannelSecrets::default()
                },
            )
            .await?;
        }
        if let (Some(w), Some(secret_ref)) = (&self.webchat, self.webchat_secret_ref(env)) {
            put_channel(
                clients,
                &store,
                Channel {
                    channel_id: w.channel_id.clone(),
                    account_id: self.account_id.clone(),
                    kind: ChannelKind::WebChat,
                    external_id: w.site.clone(),
                    name: format!("{} web chat", self.account_name),
                    secret_ref,
                    enabled: true,
                },
                &ChannelSecrets {
                    site_key: Some(w.site_key.clone()),
                    allowed_origins: w.allowed_origins.clone(),
                    session_secret: Some(w.session_secret.clone()),
                    ..ChannelSecrets::default()
                },
            )
            .await?;
        }
        if let (Some(w), Some(secret_ref)) = (&self.wecom, self.wecom_secret_ref(env)) {
            put_channel(
                clients,
                &store,
                Channel {
                    channel_id: w.channel_id.clone(),
                    account_id: self.account_id.clone(),
                    kind: ChannelKind::Wecom,
                    external_id: w.corp_id.clone(),
                    name: format!("{} WeCom", self.account_name),
                    secret_ref,
                    enabled: true,
                },
                &ChannelSecrets {
                    token: Some(w.token.clone()),
                    encoding_aes_key: Some(w.encoding_aes_key.clone()),
                    app_secret: Some(w.secret.clone()),
                    agent_id: Some(w.agent_id.clone()),
                    ..ChannelSecrets::default()
                },
            )
            .await?;
            for (kind, lang, text) in &w.greetings {
                store
                    .put_greeting(&Greeting {
                        account_id: self.account_id.clone(),
                        channel_id: Some(w.channel_id.clone()),
                        kind: *kind,
                        lang: lang.clone(),
                        text: text.clone(),
                        enabled: true,
                    })
                    .await
                    .map_err(e)?;
            }
        }
        for sms in &self.sms {
            sms.apply(&self.account_id, &self.account_name, clients, env)
                .await?;
        }
        for a in &self.agents {
            let agent = Agent {
                account_id: self.account_id.clone(),
                agent_id: a.agent_id.clone(),
                display_name: a.display_name.clone(),
                presence: Presence::Offline,
                capacity: a.capacity,
                active_chats: 0,
                last_assigned_ms: 0,
                kf_account: a.kf_account.clone(),
                enabled: true,
                line2: a.line2.clone(),
            };
            store
                .put_agent(&agent, &hex::encode(Sha256::digest(a.token.as_bytes())))
                .await
                .map_err(e)?;
        }
        for (kind, lang, text) in &self.greetings {
            store
                .put_greeting(&Greeting {
                    account_id: self.account_id.clone(),
                    channel_id: None,
                    kind: *kind,
                    lang: lang.clone(),
                    text: text.clone(),
                    enabled: true,
                })
                .await
                .map_err(e)?;
        }
        Ok(())
    }
}

/// Writes a channel's credentials (its SSM parameter, `channel.secret_ref`) and then its channel item.
async fn put_channel(
    clients: &Clients,
    store: &DynamoStore,
    channel: Channel,
    secrets: &ChannelSecrets,
) -> Result<(), String> {
    SsmSecrets::new(clients.ssm.clone())
        .put(&channel.secret_ref, secrets)
        .await
        .map_err(|e| e.to_string())?;
    store.put_channel(&channel).await.map_err(|e| e.to_string())
}
