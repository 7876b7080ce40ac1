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
                },
                AgentSeed {
                    agent_id: "lei".into(),
                    display_name: "Li Lei".into(),
                    token: "demo-token-lei".into(),
                    capacity: 3,
                    kf_account: None,
                },
            ],
            greetings: standard_greetings(),
        }
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
        }];
        s
    }

    pub fn secret_ref(&self, env: &Env) -> String {
        format!("{}channels/{}", env.secrets_prefix, self.channel_id)
    }

    /// Writes the account, channel, credentials, agents (offline) and greetings.
    pub async fn apply(&self, clients: &Clients, env: &Env) -> Result<(), String> {
        let store = DynamoStore::new(clients.dynamo.clone(), &env.data_table);
        let e = |e: kefu_domain::ports::StoreError| e.to_string();
        store
            .put_account(&Account {
                account_id: self.account_id.clone(),
                name: self.account_name.clone(),
                default_lang: self.default_lang.clone(),
                busy_threshold: self.busy_threshold,
            })
            .await
            .map_err(e)?;
        SsmSecrets::new(clients.ssm.clone())
            .put(
                &self.secret_ref(env),
                &ChannelSecrets {
                    token: Some(self.token.clone()),
                    app_secret: Some(self.app_secret.clone()),
                    encoding_aes_key: Some(self.encoding_aes_key.clone()),
                    previous_encoding_aes_key: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        store
            .put_channel(&Channel {
                channel_id: self.channel_id.clone(),
                account_id: self.account_id.clone(),
                kind: ChannelKind::WechatOa,
                external_id: self.app_id.clone(),
                name: format!("{} WeChat", self.account_name),
                secret_ref: self.secret_ref(env),
                enabled: true,
            })
            .await
            .map_err(e)?;
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
