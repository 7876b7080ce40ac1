//! WeChat Official Account → routing → greeting, end to end: real HTTP into the local host, the AWS
//! emulator, the functions, and the fake WeChat API.

use kefu_aws::dynamo::DynamoStore;
use kefu_domain::channels::wechat;
use kefu_domain::messages::{Content, InboundEvent, FORMAT_VERSION};
use kefu_domain::model::{ChannelKind, ConversationStatus, Direction};
use kefu_domain::ports::Conversations;
use kefu_e2e::{harness, now_s, openid, push, signed_query};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(25);

fn standard(kind: &str) -> String {
    let kind = kefu_domain::model::GreetingKind::parse(kind).unwrap();
    kefu_local::seed::standard_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kind && l.as_str() == "en")
        .unwrap()
        .2
}

async fn post(url: &str, query: &str, body: String) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}?{query}"))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// Waits for the conversation of a customer and returns (conversation, messages).
async fn conversation_of(
    store: &DynamoStore,
    channel: &str,
    customer: &str,
) -> (
    kefu_domain::model::Conversation,
    Vec<kefu_domain::model::StoredMessage>,
) {
    let start = std::time::Instant::now();
    loop {
        // An error is a record read half-written (the emulator creates items in two steps): look again.
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

#[tokio::test]
async fn url_check_echoes_echostr_only_when_signed() {
    let h = harness();
    let seed = h.seed("urlcheck").await;
    let url = h.webhook_url(&seed);
    let ok = reqwest::get(format!(
        "{url}?{}&echostr=4793592386476289",
        signed_query(&seed.token)
    ))
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "4793592386476289");
    let bad = reqwest::get(format!("{url}?{}&echostr=1", signed_query("another-token")))
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn subscribe_yields_exactly_one_new_follower_greeting() {
    let h = harness();
    let seed = h.seed("follow").await;
    let customer = openid();
    let (status, body) = post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::subscribe("gh_test", &customer, now_s()),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "success"));

    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1, "one greeting expected: {sent:?}");
    assert_eq!(sent[0].body["msgtype"], "text");
    assert_eq!(sent[0].body["text"]["content"], standard("new_follower"));
    assert_eq!(
        sent[0].appid.as_deref(),
        Some(seed.app_id.as_str()),
        "sent with the channel's own access token"
    );
    // Nothing more arrives later (no second greeting, no conversation greeting for a follow).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.messages_to(&customer).await.len(), 1);

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let c = store
        .customer(&seed.channel_id, &customer)
        .await
        .unwrap()
        .expect("customer stored");
    assert!(c.following);
    assert!(
        c.open_conversation_id.is_none(),
        "a follow opens no conversation"
    );
}

#[tokio::test]
async fn first_message_with_nobody_online_gets_the_offline_greeting_and_waits() {
    let h = harness();
    let seed = h.seed("offline").await;
    let customer = openid();
    let (status, _) = post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text(
            "gh_test",
            &customer,
            now_s(),
            "你好，我想订房",
            7_000_000_000_000_001,
        ),
    )
    .await;
    assert_eq!(status, 200);

    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["text"]["content"], standard("offline"));
    assert!(
        sent[0].body.get("customservice").is_none(),
        "no agent identity without an agent"
    );

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let (conv, msgs) = conversation_of(&store, &seed.channel_id, &customer).await;
    assert_eq!(conv.status, ConversationStatus::Waiting);
    assert_eq!(conv.agent_id, None);
    let inbound: Vec<_> = msgs
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1);
    assert_eq!(
        inbound[0].content,
        Content::Text {
            text: "你好，我想订房".into()
        }
    );
    assert_eq!(inbound[0].message_key, "msg:7000000000000001");
    // The greeting is recorded on the conversation too, once the sender has run.
    let start = std::time::Instant::now();
    while store
        .messages(&conv.conversation_id)
        .await
        .unwrap()
        .iter()
        .all(|m| m.direction != Direction::Outbound)
    {
        assert!(start.elapsed() < WAIT, "outbound greeting not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(store.count_waiting(&seed.account_id).await.unwrap(), 1);
}

#[tokio::test]
async fn with_an_agent_online_the_chat_is_assigned_and_the_online_greeting_names_the_agent() {
    let h = harness();
    let seed = h.seed("online").await;
    let view = h.set_presence(&seed, 0, "online").await;
    assert_eq!(view["presence"], "online");
    let customer = openid();
    let (status, _) = post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text(
            "gh_test",
            &customer,
            now_s(),
            "hello",
            7_000_000_000_000_002,
        ),
    )
    .await;
    assert_eq!(status, 200);

    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    // "$username" is unknown for a WeChat customer: removed cleanly; "$agentname" is the agent's name.
    assert_eq!(
        sent[0].body["text"]["content"],
        "Hi, I'm Amy. How can I help you today?"
    );
    assert_eq!(sent[0].body["customservice"]["kf_account"], "amy@test");

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let (conv, _) = conversation_of(&store, &seed.channel_id, &customer).await;
    assert_eq!(conv.status, ConversationStatus::Assigned);
    assert_eq!(conv.agent_id.as_deref(), Some("agent1"));
    assert_eq!(store.count_waiting(&seed.account_id).await.unwrap(), 0);
    let agent: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/accounts/{}/agents/agent1",
            h.base_url, seed.account_id
        ))
        .bearer_auth(&seed.agents[0].token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agent["active_chats"], 1);
}

#[tokio::test]
async fn the_same_push_three_times_is_stored_and_greeted_once() {
    let h = harness();
    let seed = h.seed("dupe").await;
    let customer = openid();
    let body = push::text("gh_test", &customer, now_s(), "same", 7_000_000_000_000_003);
    let query = signed_query(&seed.token);
    for _ in 0..3 {
        let (status, text) = post(&h.webhook_url(&seed), &query, body.clone()).await;
        assert_eq!((status, text.as_str()), (200, "success"));
    }
    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.messages_to(&customer).await.len(), 1, "one greeting");
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let (_, msgs) = conversation_of(&store, &seed.channel_id, &customer).await;
    assert_eq!(
        msgs.iter()
            .filter(|m| m.direction == Direction::Inbound)
            .count(),
        1,
        "one stored message"
    );
}

#[tokio::test]
async fn a_duplicate_that_slips_past_queue_deduplication_is_still_handled_once() {
    // SQS FIFO deduplicates for five minutes only; a later redelivery must be harmless on its own.
    let h = harness();
    let seed = h.seed("late-dupe").await;
    let clients = h.clients().await;
    let customer = openid();
    let ev = InboundEvent {
        v: FORMAT_VERSION,
        event_id: "msg:7000000000000004".into(),
        account_id: seed.account_id.clone(),
        channel_id: seed.channel_id.clone(),
        channel_kind: ChannelKind::WechatOa,
        customer: customer.clone(),
        occurred_ms: now_s() * 1000,
        received_ms: now_s() * 1000,
        lang: None,
        content: Content::Text {
            text: "late".into(),
        },
    };
    // Two sends with different deduplication ids, as if delivered twice more than 5 minutes apart.
    for i in 0..2 {
        clients
            .sqs
            .send_message()
            .queue_url(&h.env.inbound_queue_url)
            .message_body(serde_json::to_string(&ev).unwrap())
            .message_group_id(ev.group_id())
            .message_deduplication_id(format!("late-{customer}-{i}"))
            .send()
            .await
            .unwrap();
    }
    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(h.messages_to(&customer).await.len(), 1, "one greeting");
    let store = DynamoStore::new(clients.dynamo, &h.env.data_table);
    let (_, msgs) = conversation_of(&store, &seed.channel_id, &customer).await;
    assert_eq!(
        msgs.iter()
            .filter(|m| m.direction == Direction::Inbound)
            .count(),
        1
    );
}

#[tokio::test]
async fn busy_greeting_when_the_queue_reaches_the_threshold() {
    let h = harness();
    let mut seed = kefu_local::seed::WechatSeed::unique("busy");
    seed.busy_threshold = Some(1);
    seed.agents[0].capacity = 1;
    seed.apply(&h.clients().await, &h.env).await.unwrap();
    h.set_presence(&seed, 0, "online").await;

    let first = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text("gh", &first, now_s(), "1", 7_000_000_000_000_005),
    )
    .await;
    let sent = h.wait_messages(&first, 1, WAIT).await;
    assert_eq!(
        sent[0].body["text"]["content"],
        "Hi, I'm Amy. How can I help you today?"
    );

    // The only agent is now full: the second customer waits, and one waiting chat is the threshold.
    let second = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text("gh", &second, now_s(), "2", 7_000_000_000_000_006),
    )
    .await;
    let sent = h.wait_messages(&second, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["text"]["content"], standard("busy"));
}

#[tokio::test]
async fn a_waiting_chat_goes_to_the_agent_who_logs_in() {
    let h = harness();
    let seed = h.seed("login").await;
    let customer = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text("gh", &customer, now_s(), "anyone?", 7_000_000_000_000_007),
    )
    .await;
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let (conv, _) = conversation_of(&store, &seed.channel_id, &customer).await;
    assert_eq!(conv.status, ConversationStatus::Waiting);
    // Routing is over once the (offline) greeting went out.
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);

    let view = h.set_presence(&seed, 0, "online").await;
    assert_eq!(view["assigned"], serde_json::json!([conv.conversation_id]));
    let conv = store
        .conversation(&conv.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.status, ConversationStatus::Assigned);
    assert!(conv.assigned_ms.unwrap() >= conv.waiting_since_ms);
}

#[tokio::test]
async fn the_scheduled_assigner_picks_up_chats_for_agents_who_became_free() {
    let h = harness();
    let seed = h.seed("sweep").await;
    let customer = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::text("gh", &customer, now_s(), "hi", 7_000_000_000_000_008),
    )
    .await;
    let clients = h.clients().await;
    let store = DynamoStore::new(clients.dynamo.clone(), &h.env.data_table);
    let (conv, _) = conversation_of(&store, &seed.channel_id, &customer).await;
    // Routing is over once the greeting went out; only then may the agent appear.
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);
    // The agent comes online without going through the API (e.g. an assignment after login failed).
    store
        .set_presence(
            &seed.account_id,
            "agent1",
            kefu_domain::model::Presence::Online,
            0,
        )
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/_local/invoke/AssignerFunction", h.base_url))
        .json(&kefu_local::scheduled_event("us-east-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.unwrap();
    assert!(report["assigned"].as_u64().unwrap() >= 1, "{report}");
    let conv = store
        .conversation(&conv.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.agent_id.as_deref(), Some("agent1"));
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_once_and_the_greeting_still_arrives_once() {
    let h = harness();
    let seed = h.seed("token").await;
    // Warm the token, then make WeChat refuse the next send with 40001 (token invalid).
    let warm = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::subscribe("gh", &warm, now_s()),
    )
    .await;
    assert_eq!(h.wait_messages(&warm, 1, WAIT).await.len(), 1);
    let fail = reqwest::Client::new()
        .post(format!("{}/_fail", h.fake_wechat_url))
        .json(&serde_json::json!({"errcode": 40001, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(fail.status(), 200);

    let customer = openid();
    post(
        &h.webhook_url(&seed),
        &signed_query(&seed.token),
        push::subscribe("gh", &customer, now_s()),
    )
    .await;
    let sent = h.wait_messages(&customer, 2, WAIT).await;
    assert_eq!(sent.len(), 2, "the refused attempt and the retry: {sent:?}");
    assert_ne!(
        sent[0].query["access_token"], sent[1].query["access_token"],
        "retried with a new token"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.messages_to(&customer).await.len(), 2, "no further resend");
}

#[tokio::test]
async fn safe_mode_pushes_are_decrypted_and_routed() {
    let h = harness();
    let seed = h.seed("aes").await;
    let customer = openid();
    let cipher = wechat::Cipher::new(&seed.encoding_aes_key, &seed.app_id).unwrap();
    let plain = push::subscribe("gh", &customer, now_s());
    let encrypt = cipher.encrypt_random(plain.as_bytes());
    let ts = now_s().to_string();
    let nonce = "1320562132";
    let msg_sig = wechat::msg_signature(&seed.token, &ts, nonce, &encrypt);
    let sig = wechat::signature(&seed.token, &ts, nonce);
    let body = format!("<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    let query = format!(
        "signature={sig}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_sig}"
    );
    let (status, text) = post(&h.webhook_url(&seed), &query, body.clone()).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);

    // A body tampered after signing is refused.
    let forged = body.replace(&encrypt[..8], "AAAAAAAA");
    let (status, _) = post(&h.webhook_url(&seed), &query, forged).await;
    assert_eq!(status, 401);
}
