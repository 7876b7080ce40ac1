//! Harness of the end-to-end tests: one local host per test binary (started once, on its own thread and
//! runtime, on ephemeral 127.0.0.1 ports) against the emulator that `localstack/test.sh` started and
//! deployed into (`KEFU_TEST_MANIFEST`). Each test seeds its own account, so tests run in parallel without
//! sharing state.

use kefu_aws::{Clients, Env};
use kefu_domain::channels::wechat;
use kefu_local::fake_meta;
use kefu_local::fake_wechat::Recorded;
use kefu_local::manifest::Manifest;
use kefu_local::seed::WechatSeed;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A local host started by the tests, and where its parts listen.
pub struct Harness {
    pub base_url: String,
    pub fake_wechat_url: String,
    /// The fake Graph API's root (`/_sent`, `/_tokens`, `/_fail`).
    pub fake_meta_url: String,
    pub fake_wecom_url: String,
    pub fake_sms_url: String,
    pub manifest: Manifest,
    pub env: Env,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// An address where nothing listens (an AWS endpoint that is down).
pub fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Starts a local host for `manifest` on its own thread and runtime (alive for the whole test binary, so
/// every test's runtime can use it) with [`kefu_local::HostOptions::ephemeral`].
pub fn spawn_host(manifest: Manifest) -> Harness {
    // Function logs (warnings and up unless RUST_LOG says otherwise) go to stderr: they explain a failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,aws=error".into()),
        )
        .with_test_writer()
        .try_init();
    let (tx, rx) = std::sync::mpsc::channel();
    let m = manifest.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let running = kefu_local::start(kefu_local::HostOptions::ephemeral(m))
                .await
                .expect("local host");
            let url = |u: Option<String>| u.expect("fake served");
            tx.send((
                running.base_url(),
                url(running.fake_wechat_url()),
                url(running.fake_meta_url()),
                url(running.fake_wecom_url()),
                url(running.fake_sms_url()),
                running.env.clone(),
            ))
            .unwrap();
            std::future::pending::<()>().await;
            drop(running);
        });
    });
    let (base_url, fake_wechat_url, fake_meta_url, fake_wecom_url, fake_sms_url, env) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("host started");
    Harness {
        base_url,
        fake_wechat_url,
        fake_meta_url,
        fake_wecom_url,
        fake_sms_url,
        manifest,
        env,
    }
}

pub fn manifest_from(var: &str) -> Manifest {
    let path = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with `bash localstack/test.sh`, which starts the AWS emulator and deploys the stack")
    });
    Manifest::load(std::path::Path::new(&path)).expect("manifest")
}

/// The shared local host, started on first use.
pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| spawn_host(manifest_from("KEFU_TEST_MANIFEST")))
}

impl Harness {
    /// AWS clients for this test's runtime (SDK clients must not outlive the runtime they were made on).
    pub async fn clients(&self) -> Clients {
        Clients::new(&kefu_local::sdk_config(&self.manifest.endpoint, &self.manifest.region).await)
    }

    /// Seeds a fresh account with one WeChat channel, one offline agent and the standard greetings.
    pub async fn seed(&self, prefix: &str) -> WechatSeed {
        let seed = WechatSeed::unique(prefix);
        seed.apply(&self.clients().await, &self.env)
            .await
            .expect("seed");
        seed
    }

    pub fn webhook_url(&self, seed: &WechatSeed) -> String {
        format!("{}/wechat/{}", self.base_url, seed.channel_id)
    }

    /// Calls recorded by the fake WeChat API, read over HTTP at `/_sent`.
    pub async fn sent(&self) -> Vec<Recorded> {
        reqwest::get(format!("{}/_sent", self.fake_wechat_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Customer-service messages sent to `openid`.
    pub async fn messages_to(&self, openid: &str) -> Vec<Recorded> {
        self.sent()
            .await
            .into_iter()
            .filter(|r| r.path == "/cgi-bin/message/custom/send" && r.body["touser"] == openid)
            .collect()
    }

    /// Waits until at least `n` messages reached `openid` (or `timeout`), then returns them all.
    pub async fn wait_messages(&self, openid: &str, n: usize, timeout: Duration) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let got = self.messages_to(openid).await;
            if got.len() >= n || start.elapsed() > timeout {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Seeds a fresh account like [`Harness::seed`], with a Messenger channel too, and registers its page
    /// access token with the fake Graph API.
    pub async fn seed_messenger(&self, prefix: &str) -> WechatSeed {
        let seed = WechatSeed::unique_with_messenger(prefix);
        seed.apply(&self.clients().await, &self.env)
            .await
            .expect("seed");
        let m = seed.messenger.as_ref().expect("messenger seed");
        let resp = reqwest::Client::new()
            .post(format!("{}/_tokens", self.fake_meta_url))
            .json(&serde_json::json!({"access_token": m.page_access_token, "page_id": m.page_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token registration failed");
        seed
    }

    /// The Messenger webhook URL of a seed's Messenger channel.
    pub fn messenger_url(&self, seed: &WechatSeed) -> String {
        let m = seed.messenger.as_ref().expect("messenger seed");
        format!("{}/messenger/{}", self.base_url, m.channel_id)
    }

    /// Calls recorded by the fake Graph API, read over HTTP at `/_sent`.
    pub async fn meta_sent(&self) -> Vec<fake_meta::Recorded> {
        reqwest::get(format!("{}/_sent", self.fake_meta_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Send API calls addressed to `psid` (accepted or not).
    pub async fn meta_messages_to(&self, psid: &str) -> Vec<fake_meta::Recorded> {
        self.meta_sent()
            .await
            .into_iter()
            .filter(|r| r.path.ends_with("/me/messages") && r.body["recipient"]["id"] == psid)
            .collect()
    }

    /// Waits until at least `n` Send API calls reached `psid` (or `timeout`), then returns them all.
    pub async fn wait_meta_messages(
        &self,
        psid: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<fake_meta::Recorded> {
        let start = Instant::now();
        loop {
            let got = self.meta_messages_to(psid).await;
            if got.len() >= n || start.elapsed() > timeout {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sets an agent's presence through the agent API.
    pub async fn set_presence(
        &self,
        seed: &WechatSeed,
        agent: usize,
        presence: &str,
    ) -> serde_json::Value {
        let a = &seed.agents[agent];
        let resp = reqwest::Client::new()
            .put(format!(
                "{}/accounts/{}/agents/{}/presence",
                self.base_url, seed.account_id, a.agent_id
            ))
            .bearer_auth(&a.token)
            .json(&serde_json::json!({ "presence": presence }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "presence call failed");
        resp.json().await.unwrap()
    }
}

/// A signed WeChat query string for `token` at the current time.
pub fn signed_query(token: &str) -> String {
    let ts = now_s().to_string();
    let nonce = format!("{}", rand::random::<u32>());
    let sig = wechat::signature(token, &ts, &nonce);
    format!("signature={sig}&timestamp={ts}&nonce={nonce}")
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh PSID-like customer id (Page-scoped ids are long decimal numbers).
pub fn psid() -> String {
    format!(
        "{}",
        1_000_000_000_000_000u64 + rand::random::<u32>() as u64
    )
}

/// A fresh openid-like customer id.
pub fn openid() -> String {
    format!("oTest{:016x}", rand::random::<u64>())
}

/// WeChat push bodies in the documented format ("接收普通消息" / "接收事件推送").
pub mod push {
    pub fn text(to: &str, from: &str, create_time: i64, content: &str, msg_id: u64) -> String {
        format!(
            "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
             <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
    }

    pub fn subscribe(to: &str, from: &str, create_time: i64) -> String {
        format!(
            "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
             <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[subscribe]]></Event></xml>"
        )
    }
}

// ---- Web chat ----

impl Harness {
    /// Seeds a fresh account like [`Harness::seed`], with a web chat channel too whose pages may come from
    /// `https://www.example.test` and from `extra_origins`.
    pub async fn seed_webchat(&self, prefix: &str, extra_origins: &[&str]) -> WechatSeed {
        let mut seed = WechatSeed::unique_with_webchat(prefix);
        let w = seed.webchat.as_mut().expect("web chat seed");
        w.allowed_origins
            .extend(extra_origins.iter().map(|o| o.to_string()));
        seed.apply(&self.clients().await, &self.env)
            .await
            .expect("seed");
        seed
    }

    /// The visitor API of the seed's web chat channel: `{base}/webchat/{channel id}`.
    pub fn webchat_url(&self, seed: &WechatSeed) -> String {
        let w = seed.webchat.as_ref().expect("web chat seed");
        format!("{}/webchat/{}", self.base_url, w.channel_id)
    }
}
