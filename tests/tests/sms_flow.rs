//! SMS end to end: real HTTP into the local host, the AWS emulator, the functions and the fake SMS APIs.
//!
//! Twilio is an international channel and Aliyun / Tencent Cloud mainland ones, and each stack exposes only
//! its own providers' routes (see `infra/template.yaml`). So this binary runs two hosts, each with its own
//! fake SMS APIs: one from the international stack (`KEFU_TEST_MANIFEST`) for Twilio and one from the
//! mainland stack (`KEFU_TEST_MANIFEST_MAINLAND`) for Aliyun and Tencent.

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::sqs::SqsQueue;
use kefu_aws::{Clients, Env};
use kefu_domain::channels::sms::{aliyun, tencent, twilio};
use kefu_domain::messages::{Content, Origin, OutboundBody, OutboundMessage, FORMAT_VERSION};
use kefu_domain::model::{ChannelKind, Direction, StoredMessage};
use kefu_domain::ports::{Conversations, Queue};
use kefu_e2e::{manifest_from, now_s};
use kefu_local::fake_sms::Recorded;
use kefu_local::manifest::Manifest;
use kefu_local::seed::{SmsSeed, WechatSeed};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(25);

/// One local host with its fake SMS APIs.
struct Host {
    base_url: String,
    fake_sms_url: String,
    manifest: Manifest,
    env: Env,
}

static INTERNATIONAL: OnceLock<Host> = OnceLock::new();
static MAINLAND: OnceLock<Host> = OnceLock::new();

fn international() -> &'static Host {
    INTERNATIONAL.get_or_init(|| start_host("KEFU_TEST_MANIFEST"))
}

fn mainland() -> &'static Host {
    MAINLAND.get_or_init(|| start_host("KEFU_TEST_MANIFEST_MAINLAND"))
}

/// Starts a host from the manifest named by `var` on its own thread and runtime, for the whole binary.
fn start_host(var: &str) -> Host {
    let h = kefu_e2e::spawn_host(manifest_from(var));
    Host {
        base_url: h.base_url,
        fake_sms_url: h.fake_sms_url,
        manifest: h.manifest,
        env: h.env,
    }
}

impl Host {
    async fn clients(&self) -> Clients {
        Clients::new(&kefu_local::sdk_config(&self.manifest.endpoint, &self.manifest.region).await)
    }

    async fn store(&self) -> DynamoStore {
        DynamoStore::new(self.clients().await.dynamo, &self.env.data_table)
    }

    /// A fresh account (standard greetings, its agent offline) with one SMS channel of each `kinds`, whose
    /// credentials the fake SMS APIs accept.
    async fn seed(&self, prefix: &str, kinds: &[ChannelKind]) -> WechatSeed {
        let mut seed = WechatSeed::unique(prefix);
        seed.sms = kinds
            .iter()
            .map(|k| SmsSeed::unique(&seed.account_id, *k, &self.base_url))
            .collect();
        seed.apply(&self.clients().await, &self.env)
            .await
            .expect("seed");
        for s in &seed.sms {
            let resp = reqwest::Client::new()
                .post(format!("{}/_credentials", self.fake_sms_url))
                .json(&json!({"provider": s.provider(), "id": s.key_id, "secret": s.key_secret}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
        seed
    }

    /// Calls recorded by the fake SMS APIs to `to` (as the provider writes the number).
    async fn sent_to(&self, to: &str) -> Vec<Recorded> {
        let all: Vec<Recorded> = reqwest::get(format!("{}/_sent", self.fake_sms_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter()
            .filter(|r| r.to.as_deref() == Some(to) && r.status < 300)
            .collect()
    }

    async fn wait_sent(&self, to: &str, n: usize) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let got = self.sent_to(to).await;
            if got.len() >= n || start.elapsed() > WAIT {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the customer's open conversation; returns its id and messages.
    async fn conversation_of(&self, channel: &str, customer: &str) -> (String, Vec<StoredMessage>) {
        let store = self.store().await;
        let start = Instant::now();
        loop {
            if let Some(c) = store.customer(channel, customer).await.unwrap() {
                if let Some(id) = c.open_conversation_id {
                    let msgs = store.messages(&id).await.unwrap();
                    if !msgs.is_empty() {
                        return (id, msgs);
                    }
                }
            }
            assert!(start.elapsed() < WAIT, "no conversation for {customer}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn assert_nothing_stored(&self, channel: &str, customer: &str) {
        // Give a wrongly accepted event time to travel through the queues before looking.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let store = self.store().await;
        assert!(
            store.customer(channel, customer).await.unwrap().is_none(),
            "{customer} must not be stored"
        );
    }

    /// An agent's reply to `customer`, put on the outbound queue as the agent API would.
    async fn reply(
        &self,
        seed: &WechatSeed,
        sms: &SmsSeed,
        customer: &str,
        conv: &str,
        text: &str,
    ) {
        let msg = OutboundMessage {
            v: FORMAT_VERSION,
            message_id: format!("agent:{:016x}", rand::random::<u64>()),
            account_id: seed.account_id.clone(),
            channel_id: sms.channel_id.clone(),
            customer: customer.to_string(),
            conversation_id: Some(conv.to_string()),
            body: OutboundBody::Text {
                text: text.to_string(),
            },
            origin: Origin::Agent {
                agent_id: seed.agents[0].agent_id.clone(),
            },
            kf_account: None,
            created_ms: now_s() * 1000,
        };
        SqsQueue::new(self.clients().await.sqs, &self.env.outbound_queue_url)
            .send(&msg)
            .await
            .unwrap();
    }
}

fn offline_greeting() -> String {
    kefu_local::seed::standard_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kefu_domain::model::GreetingKind::Offline && l.as_str() == "en")
        .unwrap()
        .2
}

fn inbound(msgs: &[StoredMessage]) -> Vec<&StoredMessage> {
    msgs.iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect()
}

fn us_number() -> String {
    format!("+1415555{:04}", rand::random::<u16>() % 10_000)
}

fn mainland_number() -> String {
    format!("139{:08}", rand::random::<u32>() % 100_000_000)
}

// ---------------------------------------------------------------------------------------------------------
// Twilio (international stack)
// ---------------------------------------------------------------------------------------------------------

/// The form Twilio posts for an incoming SMS.
fn twilio_form(sms: &SmsSeed, from: &str, sid: &str, body: &str) -> Vec<(String, String)> {
    [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", &sms.external_id),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", &sms.key_id),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

fn message_sid() -> String {
    format!("SM{:032x}", rand::random::<u128>())
}

/// POSTs a form to the Twilio route with `signature` (if any); returns (status, content type, body).
async fn post_twilio(
    h: &Host,
    channel: &str,
    form: &[(String, String)],
    signature: Option<&str>,
) -> (u16, String, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/sms/twilio/{channel}", h.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(twilio::encode_form(form));
    if let Some(sig) = signature {
        req = req.header("x-twilio-signature", sig);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn twilio_sms_is_stored_and_greeted_through_the_messages_api() {
    let h = international();
    let seed = h.seed("sms-twilio", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let customer = us_number();
    let form = twilio_form(
        sms,
        &customer,
        &message_sid(),
        "Do you have a room tonight?",
    );
    let sig = twilio::signature(&sms.key_secret, sms.public_url.as_deref().unwrap(), &form);
    let (status, ct, body) = post_twilio(h, &sms.channel_id, &form, Some(&sig)).await;
    assert_eq!((status, body.as_str()), (200, twilio::twiml_empty()));
    assert!(ct.starts_with("text/xml"), "{ct}");

    let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
    let inbound = inbound(&msgs);
    assert_eq!(inbound.len(), 1);
    assert_eq!(
        inbound[0].content,
        Content::Text {
            text: "Do you have a room tonight?".into()
        }
    );

    let sent = h.wait_sent(&customer, 1).await;
    assert_eq!(sent.len(), 1, "one offline greeting: {sent:?}");
    let call = &sent[0];
    assert_eq!(call.provider, "twilio");
    assert_eq!(
        call.path,
        format!("/2010-04-01/Accounts/{}/Messages.json", sms.key_id)
    );
    assert_eq!(
        call.request,
        json!({"To": customer, "From": sms.external_id, "Body": offline_greeting()})
    );
}

#[tokio::test]
async fn the_same_message_sid_twice_is_stored_once() {
    let h = international();
    let seed = h.seed("sms-dup", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let customer = us_number();
    let form = twilio_form(sms, &customer, &message_sid(), "hello?");
    let sig = twilio::signature(&sms.key_secret, sms.public_url.as_deref().unwrap(), &form);
    for _ in 0..2 {
        let (status, _, _) = post_twilio(h, &sms.channel_id, &form, Some(&sig)).await;
        assert_eq!(status, 200);
    }
    let (_, _) = h.conversation_of(&sms.channel_id, &customer).await;
    assert_eq!(h.wait_sent(&customer, 1).await.len(), 1);
    // Nothing more arrives later: no second message, no second greeting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
    assert_eq!(inbound(&msgs).len(), 1, "stored once");
    assert_eq!(h.sent_to(&customer).await.len(), 1, "greeted once");
}

#[tokio::test]
async fn forged_twilio_requests_are_refused_and_nothing_is_stored() {
    let h = international();
    let seed = h.seed("sms-forged", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let customer = us_number();
    let form = twilio_form(sms, &customer, &message_sid(), "x");
    let url = sms.public_url.as_deref().unwrap();
    let forged = twilio::signature("not-the-auth-token", url, &form);
    assert_eq!(
        post_twilio(h, &sms.channel_id, &form, Some(&forged))
            .await
            .0,
        403,
        "wrong auth token"
    );
    assert_eq!(
        post_twilio(h, &sms.channel_id, &form, None).await.0,
        403,
        "no signature"
    );
    let internal = twilio::signature(
        &sms.key_secret,
        &format!("https://internal.example/sms/twilio/{}", sms.channel_id),
        &form,
    );
    assert_eq!(
        post_twilio(h, &sms.channel_id, &form, Some(&internal))
            .await
            .0,
        403,
        "signed over another URL"
    );
    let mut tampered = form.clone();
    tampered.retain(|(n, _)| n != "Body");
    tampered.push(("Body".into(), "changed".into()));
    let sig = twilio::signature(&sms.key_secret, url, &form);
    assert_eq!(
        post_twilio(h, &sms.channel_id, &tampered, Some(&sig))
            .await
            .0,
        403,
        "body changed after signing"
    );
    let mut missing = form.clone();
    missing.retain(|(n, _)| n != "MessageSid");
    let sig = twilio::signature(&sms.key_secret, url, &missing);
    assert_eq!(
        post_twilio(h, &sms.channel_id, &missing, Some(&sig))
            .await
            .0,
        400,
        "signed but malformed"
    );
    let sig = twilio::signature(&sms.key_secret, url, &form);
    assert_eq!(
        post_twilio(h, "no-such-channel", &form, Some(&sig)).await.0,
        404
    );
    assert_eq!(
        post_twilio(h, &seed.channel_id, &form, Some(&sig)).await.0,
        404,
        "a WeChat channel on the Twilio route"
    );
    h.assert_nothing_stored(&sms.channel_id, &customer).await;
    assert!(h.sent_to(&customer).await.is_empty());
}

#[tokio::test]
async fn twilio_bodies_are_accepted_base64_encoded_or_plain() {
    use lambda_http::http::{HeaderMap, Method, Uri};
    let h = international();
    let seed = h.seed("sms-b64", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let mut customers = Vec::new();
    for base64 in [true, false] {
        let customer = us_number();
        let form = twilio_form(sms, &customer, &message_sid(), "encoded 编码 +&=");
        let sig = twilio::signature(&sms.key_secret, sms.public_url.as_deref().unwrap(), &form);
        let raw = twilio::encode_form(&form);
        let uri: Uri = format!("/sms/twilio/{}", sms.channel_id).parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        headers.insert("x-twilio-signature", sig.parse().unwrap());
        let mut params = serde_json::Map::new();
        params.insert("channelId".into(), sms.channel_id.clone().into());
        // The event API Gateway builds: form bodies arrive base64-encoded.
        let mut event = kefu_local::gateway::build_event(
            &Method::POST,
            &uri,
            &headers,
            raw.as_bytes(),
            "POST /sms/twilio/{channelId}",
            params,
            "req-sms",
        );
        assert_eq!(event["isBase64Encoded"], true);
        if !base64 {
            event["isBase64Encoded"] = json!(false);
            event["body"] = json!(raw);
        }
        let result: Value = reqwest::Client::new()
            .post(format!("{}/_local/invoke/SmsWebhookFunction", h.base_url))
            .json(&event)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(result["statusCode"], 200, "base64 {base64}: {result}");
        assert_eq!(result["body"], twilio::twiml_empty());
        customers.push(customer);
    }
    for customer in customers {
        let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
        assert_eq!(
            inbound(&msgs)[0].content,
            Content::Text {
                text: "encoded 编码 +&=".into()
            }
        );
    }
}

#[tokio::test]
async fn long_twilio_replies_are_cut_at_1600_characters() {
    let h = international();
    let seed = h.seed("sms-long", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let customer = us_number();
    let form = twilio_form(sms, &customer, &message_sid(), "hi");
    let sig = twilio::signature(&sms.key_secret, sms.public_url.as_deref().unwrap(), &form);
    assert_eq!(
        post_twilio(h, &sms.channel_id, &form, Some(&sig)).await.0,
        200
    );
    let (conv, _) = h.conversation_of(&sms.channel_id, &customer).await;
    assert_eq!(h.wait_sent(&customer, 1).await.len(), 1, "greeting");

    let short = "欢迎光临本酒店谢谢！".repeat(30); // 300 Chinese characters: one request
    h.reply(&seed, sms, &customer, &conv, &short).await;
    let sent = h.wait_sent(&customer, 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].text.as_deref(), Some(short.as_str()));

    let long = "欢迎光临本酒店谢谢！".repeat(200); // 2 000 characters: two requests
    h.reply(&seed, sms, &customer, &conv, &long).await;
    let sent = h.wait_sent(&customer, 4).await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    let pieces: Vec<&str> = sent[2..]
        .iter()
        .map(|r| r.text.as_deref().unwrap())
        .collect();
    assert!(pieces.iter().all(|p| p.chars().count() <= 1600));
    assert_eq!(pieces.concat(), long);
}

// ---------------------------------------------------------------------------------------------------------
// Aliyun and Tencent Cloud (mainland stack)
// ---------------------------------------------------------------------------------------------------------

async fn post_json(url: &str, body: &Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn beijing_now() -> String {
    // Unix time + 8 h, written as a civil date-time.
    let t = now_s() + 8 * 3600;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn sms_up(phone: &str, content: &str, sequence_id: u64) -> Value {
    json!({"phone_number": phone, "content": content, "send_time": beijing_now(),
           "dest_code": "1234", "sequence_id": sequence_id, "sign_name": "演示酒店"})
}

#[tokio::test]
async fn an_aliyun_batch_of_two_is_two_customers_and_the_ack_is_exact() {
    let h = mainland();
    let seed = h.seed("sms-aliyun", &[ChannelKind::SmsAliyun]).await;
    let sms = &seed.sms[0];
    let (a, b) = (mainland_number(), mainland_number());
    let seq: u64 = rand::random::<u32>().into();
    let batch = json!([
        sms_up(&a, "请问有空房吗？", seq),
        sms_up(&b, "几点退房？", seq + 1)
    ]);
    let url = format!("{}{}", h.base_url, sms.webhook_path());
    let (status, body) = post_json(&url, &batch).await;
    assert_eq!((status, body.as_str()), (200, aliyun::ACK_BODY));
    // Aliyun retries a batch it did not see acknowledged: the retry changes nothing.
    assert_eq!(
        post_json(&url, &batch).await,
        (200, aliyun::ACK_BODY.to_string())
    );

    for (phone, text) in [(&a, "请问有空房吗？"), (&b, "几点退房？")] {
        let customer = format!("+86{phone}");
        let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
        let inbound = inbound(&msgs);
        assert_eq!(inbound.len(), 1);
        assert_eq!(inbound[0].content, Content::Text { text: text.into() });
        // The offline greeting goes back through Aliyun SendSms, signed and templated.
        let sent = h.wait_sent(phone, 1).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].provider, "aliyun");
        assert_eq!(sent[0].request["SignName"], sms.sign_name.clone().unwrap());
        assert_eq!(
            sent[0].request["TemplateCode"],
            sms.template_id.clone().unwrap()
        );
        assert_eq!(sent[0].text.as_deref(), Some(offline_greeting().as_str()));
    }
}

#[tokio::test]
async fn a_wrong_or_missing_url_token_is_403_and_nothing_is_stored() {
    let h = mainland();
    let seed = h
        .seed(
            "sms-token",
            &[ChannelKind::SmsAliyun, ChannelKind::SmsTencent],
        )
        .await;
    let phone = mainland_number();
    for sms in &seed.sms {
        let body = if sms.kind == ChannelKind::SmsAliyun {
            json!([sms_up(&phone, "x", 1)])
        } else {
            json!({"extend": "", "mobile": phone, "nationcode": "86", "sign": "演示酒店", "text": "x", "time": now_s()})
        };
        let base = format!("{}/sms/{}/{}", h.base_url, sms.provider(), sms.channel_id);
        assert_eq!(
            post_json(&format!("{base}?token=wrong"), &body).await.0,
            403
        );
        assert_eq!(post_json(&base, &body).await.0, 403, "no token");
        let token = sms.url_token.clone().unwrap();
        assert_eq!(
            post_json(
                &format!("{base}?token={}", &token[..token.len() - 1]),
                &body
            )
            .await
            .0,
            403,
            "a prefix of the token"
        );
        // The right token on another provider's route: that channel does not exist there.
        let other = if sms.provider() == "aliyun" {
            "tencent"
        } else {
            "aliyun"
        };
        assert_eq!(
            post_json(
                &format!(
                    "{}/sms/{other}/{}?token={token}",
                    h.base_url, sms.channel_id
                ),
                &body
            )
            .await
            .0,
            404
        );
        h.assert_nothing_stored(&sms.channel_id, &format!("+86{phone}"))
            .await;
    }
    // Twilio is not served by the mainland stack.
    assert_eq!(
        post_json(
            &format!("{}/sms/twilio/{}", h.base_url, seed.sms[0].channel_id),
            &json!({})
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn a_tencent_reply_is_stored_and_the_ack_is_exact() {
    let h = mainland();
    let seed = h.seed("sms-tencent", &[ChannelKind::SmsTencent]).await;
    let sms = &seed.sms[0];
    let phone = mainland_number();
    let body = json!({"extend": "", "mobile": phone, "nationcode": "86", "sign": "演示酒店",
                      "text": "可以加床吗？", "time": now_s()});
    let (status, ack) = post_json(&format!("{}{}", h.base_url, sms.webhook_path()), &body).await;
    assert_eq!((status, ack.as_str()), (200, tencent::ACK_BODY));
    let customer = format!("+86{phone}");
    let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
    assert_eq!(
        inbound(&msgs)[0].content,
        Content::Text {
            text: "可以加床吗？".into()
        }
    );
    let sent = h.wait_sent(&customer, 1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].provider, "tencent");
    assert_eq!(
        sent[0].request,
        json!({"PhoneNumberSet": [customer], "SmsSdkAppId": sms.external_id, "SignName": sms.sign_name,
               "TemplateId": sms.template_id, "TemplateParamSet": [offline_greeting()]})
    );
}

#[tokio::test]
async fn long_mainland_replies_are_cut_to_500_characters_with_the_signature() {
    let h = mainland();
    let seed = h
        .seed(
            "sms-cn-long",
            &[ChannelKind::SmsAliyun, ChannelKind::SmsTencent],
        )
        .await;
    let short = "欢迎光临本酒店谢谢！".repeat(30); // 300 characters: one request each
    let long = "欢迎光临本酒店谢谢！".repeat(120); // 1 200 characters: three requests each
    for sms in &seed.sms {
        let phone = mainland_number();
        let customer = format!("+86{phone}");
        let body = if sms.kind == ChannelKind::SmsAliyun {
            json!([sms_up(&phone, "你好", rand::random::<u32>().into())])
        } else {
            json!({"extend": "", "mobile": phone, "nationcode": "86", "sign": "演示酒店", "text": "你好", "time": now_s()})
        };
        let url = format!("{}{}", h.base_url, sms.webhook_path());
        assert_eq!(post_json(&url, &body).await.0, 200);
        let (conv, _) = h.conversation_of(&sms.channel_id, &customer).await;
        // As the provider writes the number: Aliyun national digits, Tencent E.164.
        let to = if sms.kind == ChannelKind::SmsAliyun {
            phone.clone()
        } else {
            customer.clone()
        };
        assert_eq!(h.wait_sent(&to, 1).await.len(), 1, "greeting");

        h.reply(&seed, sms, &customer, &conv, &short).await;
        let sent = h.wait_sent(&to, 2).await;
        assert_eq!(sent.len(), 2, "{}: {sent:?}", sms.provider());
        assert_eq!(sent[1].text.as_deref(), Some(short.as_str()));

        h.reply(&seed, sms, &customer, &conv, &long).await;
        let sent = h.wait_sent(&to, 5).await;
        assert_eq!(sent.len(), 5, "{}: {sent:?}", sms.provider());
        let sign = sms.sign_name.as_deref().unwrap().chars().count() + 2;
        let pieces: Vec<&str> = sent[2..]
            .iter()
            .map(|r| r.text.as_deref().unwrap())
            .collect();
        assert!(
            pieces.iter().all(|p| p.chars().count() + sign <= 500),
            "{}: {:?}",
            sms.provider(),
            pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>()
        );
        assert_eq!(pieces.concat(), long, "{}", sms.provider());
    }
}

// ---------------------------------------------------------------------------------------------------------
// Storage or queue down: 503, never the acknowledgement, so the provider retries
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn with_the_emulator_down_mainland_callbacks_get_503_and_no_ack() {
    let h = mainland();
    let seed = h
        .seed(
            "sms-down",
            &[ChannelKind::SmsAliyun, ChannelKind::SmsTencent],
        )
        .await;
    let mut manifest = h.manifest.clone();
    manifest.endpoint = kefu_e2e::dead_endpoint();
    let down = kefu_local::start(kefu_local::HostOptions {
        pollers: false,
        ..kefu_local::HostOptions::ephemeral(manifest)
    })
    .await
    .unwrap();
    let phone = mainland_number();
    for sms in &seed.sms {
        let body = if sms.kind == ChannelKind::SmsAliyun {
            json!([sms_up(&phone, "x", 7)])
        } else {
            json!({"extend": "", "mobile": phone, "nationcode": "86", "sign": "演示酒店", "text": "x", "time": now_s()})
        };
        let (status, answer) =
            post_json(&format!("{}{}", down.base_url(), sms.webhook_path()), &body).await;
        assert_eq!(status, 503, "{}", sms.provider());
        assert_ne!(answer, aliyun::ACK_BODY);
        assert_ne!(answer, tencent::ACK_BODY);
        h.assert_nothing_stored(&sms.channel_id, &format!("+86{phone}"))
            .await;
    }
}

#[tokio::test]
async fn with_the_queue_down_twilio_gets_503_and_nothing_is_half_written() {
    use kefu_aws::ssm::SsmSecrets;
    use lambda_http::http::{HeaderMap, Method, Uri};
    // Storage reachable, queue not: the channel and its secrets are read, the event cannot be made durable.
    let h = international();
    let seed = h.seed("sms-queue-down", &[ChannelKind::SmsTwilio]).await;
    let sms = &seed.sms[0];
    let clients = h.clients().await;
    let dead =
        Clients::new(&kefu_local::sdk_config(&kefu_e2e::dead_endpoint(), &h.manifest.region).await);
    let state = sms_webhook::State {
        store: DynamoStore::new(clients.dynamo.clone(), &h.env.data_table),
        secrets: SsmSecrets::new(clients.ssm.clone()),
        inbound: SqsQueue::new(dead.sqs.clone(), &h.env.inbound_queue_url),
    };
    let customer = us_number();
    let form = twilio_form(sms, &customer, &message_sid(), "x");
    let sig = twilio::signature(&sms.key_secret, sms.public_url.as_deref().unwrap(), &form);
    let uri: Uri = format!("/sms/twilio/{}", sms.channel_id).parse().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    headers.insert("x-twilio-signature", sig.parse().unwrap());
    let mut params = serde_json::Map::new();
    params.insert("channelId".into(), sms.channel_id.clone().into());
    let event = kefu_local::gateway::build_event(
        &Method::POST,
        &uri,
        &headers,
        twilio::encode_form(&form).as_bytes(),
        "POST /sms/twilio/{channelId}",
        params,
        "req-1",
    );
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = sms_webhook::handle(&state, req).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_ne!(resp.body().as_ref(), twilio::twiml_empty().as_bytes());
    h.assert_nothing_stored(&sms.channel_id, &customer).await;
}

#[tokio::test]
async fn a_connection_override_fragment_in_the_twilio_url_is_not_signed() {
    use kefu_aws::ssm::SsmSecrets;
    let h = international();
    let mut seed = h.seed("sms-fragment", &[ChannelKind::SmsTwilio]).await;
    let sms = &mut seed.sms[0];
    let plain = sms.public_url.clone().unwrap();
    sms.public_url = Some(format!("{plain}#rc=3&rp=all"));
    SsmSecrets::new(h.clients().await.ssm)
        .put(
            &format!("{}channels/{}", h.env.secrets_prefix, sms.channel_id),
            &sms.secrets(),
        )
        .await
        .unwrap();
    let customer = us_number();
    let form = twilio_form(sms, &customer, &message_sid(), "retry me");
    // Twilio requests (and signs) the URL without its fragment.
    let sig = twilio::signature(&sms.key_secret, &plain, &form);
    assert_eq!(
        post_twilio(h, &sms.channel_id, &form, Some(&sig)).await.0,
        200
    );
    let (_, msgs) = h.conversation_of(&sms.channel_id, &customer).await;
    assert_eq!(inbound(&msgs).len(), 1);
}
