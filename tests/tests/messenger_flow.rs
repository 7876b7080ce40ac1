//! Facebook Messenger → routing → greeting → Send API, end to end: real HTTP into the local host, the AWS
//! emulator, the functions, and the fake Graph API. Notification bodies are signed as Meta signs them
//! (`X-Hub-Signature-256` over the exact bytes, non-ASCII characters sent as `\uXXXX` escapes).

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::sqs::SqsQueue;
use kefu_domain::channels::messenger;
use kefu_domain::messages::{Content, Origin, OutboundBody, OutboundMessage, FORMAT_VERSION};
use kefu_domain::model::{Conversation, ConversationStatus, Direction, StoredMessage};
use kefu_domain::ports::{Conversations, Queue};
use kefu_e2e::{harness, psid};
use kefu_local::seed::WechatSeed;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(25);
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn offline_greeting() -> String {
    kefu_local::seed::standard_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kefu_domain::model::GreetingKind::Offline && l.as_str() == "en")
        .unwrap()
        .2
}

/// JSON as Meta sends it: compact, every non-ASCII character as a `\uXXXX` escape.
fn meta_json(value: &Value) -> Vec<u8> {
    let text = serde_json::to_string(value).unwrap();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out.into_bytes()
}

fn text_event(page: &str, psid: &str, mid: &str, text: &str, ts: i64) -> Value {
    json!({
        "sender": {"id": psid},
        "recipient": {"id": page},
        "timestamp": ts,
        "message": {"mid": mid, "text": text}
    })
}

/// A notification body with one entry per list of events.
fn notification(page: &str, entries: Vec<Vec<Value>>) -> Vec<u8> {
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|events| json!({"id": page, "time": now_ms(), "messaging": events}))
        .collect();
    meta_json(&json!({"object": "page", "entry": entries}))
}

fn signature(seed: &WechatSeed, body: &[u8]) -> String {
    let m = seed.messenger.as_ref().unwrap();
    messenger::sign(m.app_secret.as_bytes(), body)
}

async fn post(
    url: &str,
    body: &[u8],
    signature: Option<&str>,
    content_type: &str,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn store() -> DynamoStore {
    let h = harness();
    DynamoStore::new(h.clients().await.dynamo, &h.env.data_table)
}

/// Waits for the open conversation of a customer and returns it with its messages.
async fn conversation_of(
    store: &DynamoStore,
    channel: &str,
    customer: &str,
) -> (Conversation, Vec<StoredMessage>) {
    let start = Instant::now();
    loop {
        // The emulator creates an item by an update in two steps (the key, then the attributes): a read in
        // between sees an incomplete customer, which is "not yet" here.
        if let Ok(Some(c)) = store.customer(channel, customer).await {
            if let Some(id) = c.open_conversation_id {
                let conv = store.conversation(&id).await.unwrap().unwrap();
                let msgs = store.messages(&id).await.unwrap();
                return (conv, msgs);
            }
        }
        assert!(start.elapsed() < WAIT, "no conversation for {customer}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the conversation holds an outbound message, and returns it.
async fn outbound_of(store: &DynamoStore, conversation_id: &str) -> StoredMessage {
    let start = Instant::now();
    loop {
        let msgs = store.messages(conversation_id).await.unwrap();
        if let Some(m) = msgs
            .into_iter()
            .find(|m| m.direction == Direction::Outbound)
        {
            return m;
        }
        assert!(start.elapsed() < WAIT, "no outbound message recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_nothing_stored(channel: &str, customer: &str) {
    let h = harness();
    // Give a wrongly accepted event time to travel through the queues before looking.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        store()
            .await
            .customer(channel, customer)
            .await
            .unwrap()
            .is_none(),
        "{customer} must not be stored"
    );
    assert!(
        h.meta_messages_to(customer).await.is_empty(),
        "{customer} must get nothing"
    );
}

#[tokio::test]
async fn verification_answers_the_challenge_only_with_the_verify_token() {
    let h = harness();
    let seed = h.seed_messenger("fb-verify").await;
    let m = seed.messenger.as_ref().unwrap();
    let url = h.messenger_url(&seed);
    let get = |query: String| {
        let url = format!("{url}?{query}");
        async move {
            let resp = reqwest::get(url).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    assert_eq!(
        get(format!(
            "hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444",
            m.verify_token
        ))
        .await,
        (200, "1158201444".to_string())
    );
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444".into())
            .await
            .0,
        403
    );
    assert_eq!(
        get(format!(
            "hub.mode=unsubscribe&hub.verify_token={}&hub.challenge=1",
            m.verify_token
        ))
        .await
        .0,
        403
    );
    // Unknown channels, and channels of another kind, are not Messenger webhooks.
    for channel in ["no-such-channel", seed.channel_id.as_str()] {
        let resp = reqwest::get(format!(
            "{}/messenger/{channel}?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1",
            h.base_url, m.verify_token
        ))
        .await
        .unwrap();
        assert_eq!(resp.status(), 404, "{channel}");
    }
}

#[tokio::test]
async fn a_batched_notification_greets_three_customers_once_each() {
    let h = harness();
    let seed = h.seed_messenger("fb-batch").await;
    let m = seed.messenger.as_ref().unwrap();
    let channel = m.channel_id.clone();
    let customers = [psid(), psid(), psid()];
    let texts = [
        "Do you have a room for tonight?",
        "今晚还有房间吗？",
        "Une chambre pour deux nuits, s'il vous plaît 🙏",
    ];
    let ts = now_ms() - 1000;
    let mids: Vec<String> = customers.iter().map(|c| format!("m_{c}")).collect();
    let event = |i: usize| text_event(&m.page_id, &customers[i], &mids[i], texts[i], ts + i as i64);
    // Two entries, three message events from three customers, and a read receipt that must be skipped.
    let read = json!({"sender": {"id": customers[0]}, "recipient": {"id": m.page_id},
                      "timestamp": ts, "read": {"watermark": ts}});
    let body = notification(
        &m.page_id,
        vec![vec![event(0), event(1), read], vec![event(2)]],
    );
    assert!(
        !body.iter().any(|b| !b.is_ascii()),
        "sent with escapes, as Meta does"
    );
    let sig = signature(&seed, &body);
    let url = h.messenger_url(&seed);
    assert_eq!(
        post(&url, &body, Some(&sig), "application/json").await,
        (200, messenger_webhook::EVENT_RECEIVED.to_string())
    );

    let store = store().await;
    for (i, customer) in customers.iter().enumerate() {
        let sent = h.wait_meta_messages(customer, 1, WAIT).await;
        assert_eq!(sent.len(), 1, "one greeting for {customer}: {sent:?}");
        assert_eq!(sent[0].status, 200);
        assert_eq!(sent[0].page_id.as_deref(), Some(m.page_id.as_str()));
        assert_eq!(sent[0].query["access_token"], m.page_access_token);
        assert_eq!(
            sent[0].body,
            json!({"recipient": {"id": customer}, "messaging_type": "RESPONSE",
                   "message": {"text": offline_greeting()}})
        );
        let (conv, msgs) = conversation_of(&store, &channel, customer).await;
        assert_eq!(conv.status, ConversationStatus::Waiting);
        let inbound: Vec<_> = msgs
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .collect();
        assert_eq!(inbound.len(), 1);
        assert_eq!(inbound[0].message_key, format!("mid:{}", mids[i]));
        assert_eq!(
            inbound[0].content,
            Content::Text {
                text: texts[i].into()
            }
        );
        let c = store.customer(&channel, customer).await.unwrap().unwrap();
        assert_eq!(c.last_inbound_ms, Some(ts + i as i64));
    }
    assert_eq!(store.count_waiting(&seed.account_id).await.unwrap(), 3);

    // Meta delivers the same body again (here as a binary body, which API Gateway base64-encodes: the
    // signature is still over the same bytes). Nothing new is stored or sent.
    assert_eq!(
        post(&url, &body, Some(&sig), "application/octet-stream").await,
        (200, messenger_webhook::EVENT_RECEIVED.to_string())
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    for customer in &customers {
        assert_eq!(
            h.meta_messages_to(customer).await.len(),
            1,
            "no second greeting"
        );
        let (_, msgs) = conversation_of(&store, &channel, customer).await;
        assert_eq!(
            msgs.iter()
                .filter(|m| m.direction == Direction::Inbound)
                .count(),
            1,
            "no second copy"
        );
    }
    assert_eq!(store.count_waiting(&seed.account_id).await.unwrap(), 3);
}

#[tokio::test]
async fn forged_missing_and_malformed_notifications_are_refused_and_nothing_is_stored() {
    let h = harness();
    let seed = h.seed_messenger("fb-refuse").await;
    let m = seed.messenger.as_ref().unwrap();
    let url = h.messenger_url(&seed);
    let customer = psid();
    let body = notification(
        &m.page_id,
        vec![vec![text_event(
            &m.page_id,
            &customer,
            &format!("m_{customer}"),
            "hi",
            now_ms(),
        )]],
    );

    let forged = messenger::sign(b"not-the-app-secret", &body);
    assert_eq!(
        post(&url, &body, Some(&forged), "application/json").await.0,
        403,
        "signed with another secret"
    );
    let mut tampered = body.clone();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'1' { b'2' } else { b'1' };
    assert_eq!(
        post(
            &url,
            &tampered,
            Some(&signature(&seed, &body)),
            "application/json"
        )
        .await
        .0,
        403,
        "changed after signing"
    );
    assert_eq!(
        post(&url, &body, Some("sha1=0123"), "application/json")
            .await
            .0,
        403,
        "malformed header"
    );
    assert_eq!(
        post(&url, &body, None, "application/json").await.0,
        401,
        "no signature"
    );
    let malformed = format!(
        "{{\"object\":\"page\",\"entry\":[{{\"id\":\"{}\",\"messaging\":[{{\"sender\":{{\"id\":\"{customer}\"}}",
        m.page_id
    )
    .into_bytes();
    assert_eq!(
        post(
            &url,
            &malformed,
            Some(&signature(&seed, &malformed)),
            "application/json"
        )
        .await
        .0,
        400,
        "truncated JSON, correctly signed"
    );
    let no_mid = meta_json(
        &json!({"object": "page", "entry": [{"id": m.page_id, "time": 1, "messaging": [
        {"sender": {"id": customer}, "recipient": {"id": m.page_id}, "timestamp": 1, "message": {"text": "x"}}]}]}),
    );
    assert_eq!(
        post(
            &url,
            &no_mid,
            Some(&signature(&seed, &no_mid)),
            "application/json"
        )
        .await
        .0,
        400,
        "a message without mid"
    );
    let not_page = br#"{"object":"instagram","entry":[]}"#;
    assert_eq!(
        post(
            &url,
            not_page,
            Some(&signature(&seed, not_page)),
            "application/json"
        )
        .await
        .0,
        400
    );
    assert_nothing_stored(&m.channel_id, &customer).await;
}

#[tokio::test]
async fn echoes_reads_and_other_pages_events_are_acknowledged_and_not_stored() {
    let h = harness();
    let seed = h.seed_messenger("fb-echo").await;
    let m = seed.messenger.as_ref().unwrap();
    let customer = psid();
    let ts = now_ms();
    let echo = json!({
        "sender": {"id": m.page_id}, "recipient": {"id": customer}, "timestamp": ts,
        "message": {"is_echo": true, "app_id": 1517776481860111u64, "mid": format!("m_echo_{customer}"),
                    "text": "Thanks for your message."}
    });
    let delivery = json!({"sender": {"id": customer}, "recipient": {"id": m.page_id},
                          "delivery": {"mids": [format!("m_echo_{customer}")], "watermark": ts}});
    let body = notification(&m.page_id, vec![vec![echo, delivery]]);
    assert_eq!(
        post(
            &h.messenger_url(&seed),
            &body,
            Some(&signature(&seed, &body)),
            "application/json"
        )
        .await,
        (200, messenger_webhook::EVENT_RECEIVED.to_string())
    );
    // A customer's message in an entry of another page than the channel's.
    let other = notification(
        "999999999",
        vec![vec![text_event(
            "999999999",
            &customer,
            &format!("m_other_{customer}"),
            "hi",
            ts,
        )]],
    );
    assert_eq!(
        post(
            &h.messenger_url(&seed),
            &other,
            Some(&signature(&seed, &other)),
            "application/json"
        )
        .await
        .0,
        200
    );
    assert_nothing_stored(&m.channel_id, &customer).await;
}

/// A customer whose last message is `age_ms` old, with an open conversation, and an agent's reply to them
/// queued for the channel sender. Returns (customer, conversation id, message id).
async fn agent_reply_after(seed: &WechatSeed, age_ms: i64, text: &str) -> (String, String, String) {
    let h = harness();
    let m = seed.messenger.as_ref().unwrap();
    let clients = h.clients().await;
    let store = DynamoStore::new(clients.dynamo.clone(), &h.env.data_table);
    let customer = psid();
    let now = now_ms();
    store
        .note_inbound(
            &seed.account_id,
            &m.channel_id,
            &customer,
            now - age_ms,
            now - age_ms,
        )
        .await
        .unwrap();
    let stored = store
        .customer(&m.channel_id, &customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_inbound_ms, Some(now - age_ms));
    let (conv, _) = store
        .open_conversation(&stored, &format!("cv_t{customer}"), "test", now)
        .await
        .unwrap();
    let message_id = format!("agent:{customer}:1");
    let msg = OutboundMessage {
        v: FORMAT_VERSION,
        message_id: message_id.clone(),
        account_id: seed.account_id.clone(),
        channel_id: m.channel_id.clone(),
        customer: customer.clone(),
        conversation_id: Some(conv.conversation_id.clone()),
        body: OutboundBody::Text { text: text.into() },
        origin: Origin::Agent {
            agent_id: "agent1".into(),
        },
        kf_account: None,
        created_ms: now,
    };
    SqsQueue::new(clients.sqs.clone(), &h.env.outbound_queue_url)
        .send(&msg)
        .await
        .unwrap();
    (customer, conv.conversation_id, message_id)
}

#[tokio::test]
async fn two_days_after_the_customers_last_message_an_agent_answers_with_the_human_agent_tag() {
    let h = harness();
    let seed = h.seed_messenger("fb-2days").await;
    let (customer, conv, _) = agent_reply_after(
        &seed,
        2 * DAY_MS,
        "Sorry for the wait: yes, we have a room.",
    )
    .await;
    let sent = h.wait_meta_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].status, 200);
    assert_eq!(
        sent[0].body,
        json!({"recipient": {"id": customer}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
               "message": {"text": "Sorry for the wait: yes, we have a room."}})
    );
    let recorded = outbound_of(&store().await, &conv).await;
    assert_eq!(recorded.agent_id.as_deref(), Some("agent1"));
    assert_eq!(recorded.error, None);
}

#[tokio::test]
async fn eight_days_after_the_customers_last_message_nothing_is_sent_and_the_refusal_is_recorded() {
    let h = harness();
    let seed = h.seed_messenger("fb-8days").await;
    let (customer, conv, message_id) = agent_reply_after(&seed, 8 * DAY_MS, "Hello again").await;
    let recorded = outbound_of(&store().await, &conv).await;
    assert_eq!(
        recorded.error.as_deref(),
        Some(kefu_aws::messenger_api::WINDOW_CLOSED)
    );
    assert_eq!(
        recorded.content,
        Content::Text {
            text: "Hello again".into()
        }
    );
    // Refused for good: the send is completed (not retried) and Meta was never called. The refusal is
    // recorded just before the idempotency record completes, so wait for the latter.
    let clients = h.clients().await;
    let start = std::time::Instant::now();
    loop {
        let idem = clients
            .dynamo
            .get_item()
            .table_name(&h.env.runtime_table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("IDEM#send:{message_id}")),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("idempotency record");
        if idem["status"].as_s().unwrap() == "COMPLETED" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the refused send never completed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(h.meta_messages_to(&customer).await.is_empty());
}

#[tokio::test]
async fn with_storage_down_the_notification_is_not_acknowledged() {
    // A second host whose AWS endpoint is down, called over real HTTP: Meta must deliver again.
    let h = harness();
    let seed = h.seed_messenger("fb-down").await;
    let m = seed.messenger.as_ref().unwrap();
    let mut manifest = h.manifest.clone();
    manifest.endpoint = kefu_e2e::dead_endpoint();
    let down = kefu_local::start(kefu_local::HostOptions {
        pollers: false,
        ..kefu_local::HostOptions::ephemeral(manifest)
    })
    .await
    .unwrap();
    let customer = psid();
    let body = notification(
        &m.page_id,
        vec![vec![text_event(
            &m.page_id,
            &customer,
            &format!("m_{customer}"),
            "x",
            now_ms(),
        )]],
    );
    let url = format!("{}/messenger/{}", down.base_url(), m.channel_id);
    let (status, text) = post(
        &url,
        &body,
        Some(&signature(&seed, &body)),
        "application/json",
    )
    .await;
    assert_eq!(status, 503);
    assert_ne!(text, messenger_webhook::EVENT_RECEIVED);
    assert_nothing_stored(&m.channel_id, &customer).await;
}

#[tokio::test]
async fn with_the_queue_down_the_batch_is_refused_and_nothing_is_half_written() {
    // Storage reachable, queue not: the channel and its secrets are found, the events cannot be made durable.
    use kefu_aws::ssm::SsmSecrets;
    use lambda_http::http::{HeaderMap, Method, Uri};
    let h = harness();
    let seed = h.seed_messenger("fb-queue-down").await;
    let m = seed.messenger.as_ref().unwrap();
    let clients = h.clients().await;
    let dead = kefu_aws::Clients::new(
        &kefu_local::sdk_config(&kefu_e2e::dead_endpoint(), &h.manifest.region).await,
    );
    let state = messenger_webhook::State {
        store: DynamoStore::new(clients.dynamo.clone(), &h.env.data_table),
        secrets: SsmSecrets::new(clients.ssm.clone()),
        inbound: SqsQueue::new(dead.sqs.clone(), &h.env.inbound_queue_url),
    };
    let (a, b) = (psid(), psid());
    let body = notification(
        &m.page_id,
        vec![vec![
            text_event(&m.page_id, &a, &format!("m_{a}"), "x", now_ms()),
            text_event(&m.page_id, &b, &format!("m_{b}"), "y", now_ms()),
        ]],
    );
    let uri: Uri = format!("/messenger/{}", m.channel_id).parse().unwrap();
    let mut params = serde_json::Map::new();
    params.insert("channelId".into(), m.channel_id.clone().into());
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert(
        "x-hub-signature-256",
        signature(&seed, &body).parse().unwrap(),
    );
    let event = kefu_local::gateway::build_event(
        &Method::POST,
        &uri,
        &headers,
        &body,
        "POST /messenger/{channelId}",
        params,
        "req-1",
    );
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = messenger_webhook::handle(&state, req).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_ne!(
        resp.body().as_ref(),
        messenger_webhook::EVENT_RECEIVED.as_bytes()
    );
    assert_nothing_stored(&m.channel_id, &a).await;
    assert_nothing_stored(&m.channel_id, &b).await;
}
