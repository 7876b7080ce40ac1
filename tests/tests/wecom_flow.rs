//! WeCom (企业微信) → routing → greeting by business hours, end to end on the **mainland** stack: real HTTP
//! into a local host started from `KEFU_TEST_MANIFEST_MAINLAND`, the AWS emulator, the functions, and the fake
//! WeCom API.

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::{Clients, Env};
use kefu_domain::channels::wechat::{msg_signature, Cipher};
use kefu_domain::messages::Content;
use kefu_domain::model::{Direction, GreetingKind};
use kefu_domain::ports::Conversations;
use kefu_domain::rules::business_hours::{BusinessHours, Interval, Weekly};
use kefu_e2e::{manifest_from, now_s};
use kefu_local::fake_wecom::Recorded;
use kefu_local::manifest::Manifest;
use kefu_local::seed::{wecom_greetings, WechatSeed, WecomSeed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(25);

/// A local host of the mainland stack, started once for this test binary.
struct Mainland {
    base_url: String,
    fake_wecom_url: String,
    manifest: Manifest,
    env: Env,
}

static MAINLAND: OnceLock<Mainland> = OnceLock::new();

fn mainland() -> &'static Mainland {
    MAINLAND.get_or_init(|| {
        let h = kefu_e2e::spawn_host(manifest_from("KEFU_TEST_MANIFEST_MAINLAND"));
        assert_eq!(h.manifest.edition, "mainland");
        Mainland {
            base_url: h.base_url,
            fake_wecom_url: h.fake_wecom_url,
            manifest: h.manifest,
            env: h.env,
        }
    })
}

impl Mainland {
    async fn clients(&self) -> Clients {
        Clients::new(&kefu_local::sdk_config(&self.manifest.endpoint, &self.manifest.region).await)
    }

    async fn store(&self) -> DynamoStore {
        DynamoStore::new(self.clients().await.dynamo, &self.env.data_table)
    }

    /// A fresh account with a WeCom channel and the given business hours (`None`: always open).
    async fn seed(&self, prefix: &str, hours: Option<BusinessHours>) -> WechatSeed {
        let mut seed = WechatSeed::unique_with_wecom(prefix);
        seed.business_hours = hours;
        seed.apply(&self.clients().await, &self.env)
            .await
            .expect("seed");
        seed
    }

    fn url(&self, channel_id: &str) -> String {
        format!("{}/wecom/{channel_id}", self.base_url)
    }

    /// App messages the fake WeCom API received for `user`.
    async fn messages_to(&self, user: &str) -> Vec<Recorded> {
        let all: Vec<Recorded> = reqwest::get(format!("{}/_sent", self.fake_wecom_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter()
            .filter(|r| r.path == "/cgi-bin/message/send" && r.body["touser"] == user)
            .collect()
    }

    async fn wait_messages(&self, user: &str, n: usize) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let got = self.messages_to(user).await;
            if got.len() >= n || start.elapsed() > WAIT {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn wecom(seed: &WechatSeed) -> &WecomSeed {
    seed.wecom.as_ref().expect("a WeCom channel")
}

fn greeting(kind: GreetingKind) -> String {
    wecom_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kind && l.as_str() == "en")
        .unwrap()
        .2
}

/// Open all day every day (UTC), so "now" is always inside.
fn always_open() -> BusinessHours {
    let all_day: Interval = "00:00-24:00".parse().unwrap();
    let day = vec![all_day];
    BusinessHours::new(
        "Etc/UTC",
        Weekly {
            mon: day.clone(),
            tue: day.clone(),
            wed: day.clone(),
            thu: day.clone(),
            fri: day.clone(),
            sat: day.clone(),
            sun: day,
        },
    )
    .unwrap()
}

/// Hours with no open interval at all, so "now" is always outside.
fn never_open() -> BusinessHours {
    BusinessHours::new("Asia/Shanghai", Weekly::default()).unwrap()
}

fn member() -> String {
    format!("member{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// What WeCom posts for a member's text: the encrypted envelope and its signed query.
fn text_callback(
    w: &WecomSeed,
    user: &str,
    text: &str,
    msg_id: u64,
) -> (Vec<(String, String)>, String) {
    let plain = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>\
         <CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{msg_id}</MsgId><AgentID>{agent}</AgentID></xml>",
        corp = w.corp_id,
        ts = now_s(),
        agent = w.agent_id,
    );
    let encrypt = Cipher::new(&w.encoding_aes_key, &w.corp_id)
        .unwrap()
        .encrypt_random(plain.as_bytes());
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><AgentID><![CDATA[{}]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
        w.corp_id, w.agent_id
    );
    (signed(&w.token, &encrypt), body)
}

/// `msg_signature`, `timestamp`, `nonce` over `encrypt` at the current time.
fn signed(token: &str, encrypt: &str) -> Vec<(String, String)> {
    let ts = now_s().to_string();
    let nonce = rand::random::<u32>().to_string();
    vec![
        (
            "msg_signature".into(),
            msg_signature(token, &ts, &nonce, encrypt),
        ),
        ("timestamp".into(), ts),
        ("nonce".into(), nonce),
    ]
}

async fn post(url: &str, query: &[(String, String)], body: String) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .query(query)
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The stored messages of `user`'s conversation, once it exists.
async fn conversation_messages(
    m: &Mainland,
    channel: &str,
    user: &str,
) -> Vec<kefu_domain::model::StoredMessage> {
    let store = m.store().await;
    let start = Instant::now();
    loop {
        if let Some(c) = store.customer(channel, user).await.unwrap() {
            if let Some(id) = c.open_conversation_id {
                return store.messages(&id).await.unwrap();
            }
        }
        assert!(start.elapsed() < WAIT, "no conversation for {user}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn url_verification_answers_the_decrypted_echostr_only_when_signed() {
    let m = mainland();
    let seed = m.seed("wecom-verify", None).await;
    let w = wecom(&seed);
    let plain = format!("{}", rand::random::<u64>());
    // WeCom's echostr is base64 (with `+`, `/`, `=`): reqwest percent-encodes it as WeCom does.
    let echostr = Cipher::new(&w.encoding_aes_key, &w.corp_id)
        .unwrap()
        .encrypt_random(plain.as_bytes());
    let mut query = signed(&w.token, &echostr);
    query.push(("echostr".into(), echostr.clone()));

    let started = Instant::now();
    let ok = reqwest::Client::new()
        .get(m.url(&w.channel_id))
        .query(&query)
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), plain);
    assert!(
        took < Duration::from_secs(1),
        "WeCom needs the answer within 1 s, took {took:?}"
    );

    let mut wrong = signed("another-token", &echostr);
    wrong.push(("echostr".into(), echostr.clone()));
    let bad = reqwest::Client::new()
        .get(m.url(&w.channel_id))
        .query(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert_ne!(bad.text().await.unwrap(), plain);

    // Unknown channel, and a channel of another kind (the account's WeChat channel).
    for channel in ["no-such-channel", seed.channel_id.as_str()] {
        let resp = reqwest::Client::new()
            .get(m.url(channel))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{channel}");
    }
}

#[tokio::test]
async fn inside_business_hours_a_message_gets_the_online_greeting() {
    let m = mainland();
    let seed = m.seed("wecom-open", Some(always_open())).await;
    let w = wecom(&seed);
    let user = member();
    let (query, body) = text_callback(w, &user, "会议室的投影仪坏了", 7_300_000_000_000_001);
    let (status, answer) = post(&m.url(&w.channel_id), &query, body).await;
    assert_eq!((status, answer.as_str()), (200, ""));

    let sent = m.wait_messages(&user, 1).await;
    assert_eq!(sent.len(), 1, "one greeting expected: {sent:?}");
    let expected = greeting(GreetingKind::Online).replace("Hi $username,", "Hi,");
    assert_eq!(sent[0].body["msgtype"], "text");
    assert_eq!(sent[0].body["text"]["content"], expected.as_str());
    assert_eq!(
        sent[0].body["agentid"].as_i64(),
        Some(w.agent_id.parse::<i64>().unwrap()),
        "sent as the channel's app"
    );
    assert_eq!(sent[0].corpid.as_deref(), Some(w.corp_id.as_str()));

    let msgs = conversation_messages(m, &w.channel_id, &user).await;
    let inbound: Vec<_> = msgs
        .iter()
        .filter(|x| x.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1);
    assert_eq!(
        inbound[0].content,
        Content::Text {
            text: "会议室的投影仪坏了".into()
        }
    );
}

#[tokio::test]
async fn outside_business_hours_a_message_gets_the_offline_greeting() {
    let m = mainland();
    let seed = m.seed("wecom-closed", Some(never_open())).await;
    let w = wecom(&seed);
    let user = member();
    let (query, body) = text_callback(w, &user, "hello", 7_300_000_000_000_002);
    let (status, _) = post(&m.url(&w.channel_id), &query, body).await;
    assert_eq!(status, 200);

    let sent = m.wait_messages(&user, 1).await;
    assert_eq!(sent.len(), 1, "one greeting expected: {sent:?}");
    assert_eq!(
        sent[0].body["text"]["content"],
        greeting(GreetingKind::Offline).as_str()
    );
}

#[tokio::test]
async fn the_same_callback_three_times_is_one_message_and_one_greeting() {
    let m = mainland();
    let seed = m.seed("wecom-replay", Some(always_open())).await;
    let w = wecom(&seed);
    let user = member();
    let (query, body) = text_callback(w, &user, "hi", 7_300_000_000_000_003);
    for attempt in 0..3 {
        let (status, _) = post(&m.url(&w.channel_id), &query, body.clone()).await;
        assert_eq!(status, 200, "attempt {attempt}");
    }
    let sent = m.wait_messages(&user, 1).await;
    assert_eq!(sent.len(), 1);
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(m.messages_to(&user).await.len(), 1, "exactly one greeting");
    let msgs = conversation_messages(m, &w.channel_id, &user).await;
    assert_eq!(
        msgs.iter()
            .filter(|x| x.direction == Direction::Inbound)
            .count(),
        1,
        "exactly one stored message: {msgs:?}"
    );
}

#[tokio::test]
async fn a_tampered_callback_is_401_and_nothing_is_stored() {
    let m = mainland();
    let seed = m.seed("wecom-tamper", Some(always_open())).await;
    let w = wecom(&seed);
    let user = member();
    let (query, body) = text_callback(w, &user, "hi", 7_300_000_000_000_004);
    // Flip one base64 character of the ciphertext: the signature no longer matches.
    let start = body.find("<Encrypt><![CDATA[").unwrap() + "<Encrypt><![CDATA[".len() + 10;
    let mut bytes = body.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let (status, answer) = post(&m.url(&w.channel_id), &query, tampered).await;
    assert_eq!(status, 401, "{answer}");

    // A stale timestamp is refused too, even when signed.
    let (mut stale, body) = text_callback(w, &user, "hi", 7_300_000_000_000_005);
    let old = (now_s() - 3600).to_string();
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .and_then(|r| r.split("]]>").next())
        .unwrap()
        .to_string();
    stale[0].1 = msg_signature(&w.token, &old, &stale[2].1, &encrypt);
    stale[1].1 = old;
    assert_eq!(post(&m.url(&w.channel_id), &stale, body).await.0, 401);

    // Give a wrongly accepted event time to travel through the queues before looking.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let store = m.store().await;
    assert!(
        store
            .customer(&w.channel_id, &user)
            .await
            .unwrap()
            .is_none(),
        "nothing stored"
    );
    assert!(m.messages_to(&user).await.is_empty(), "nothing sent");
}
