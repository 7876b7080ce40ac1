//! WeChat outbound: message kinds, typing, the 48-hour reply window and the five-replies-per-interaction quota.

use kefu_aws::dynamo::DynamoStore;
use kefu_aws::sqs::SqsQueue;
use kefu_domain::messages::{Origin, OutboundBody, OutboundMessage, FORMAT_VERSION};
use kefu_domain::model::Direction;
use kefu_domain::ports::{Conversations, Queue};
use kefu_e2e::{harness, now_s, openid, push, signed_query};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(25);

fn agent_message(
    seed: &kefu_local::seed::WechatSeed,
    customer: &str,
    conv: Option<String>,
    n: u32,
    body: OutboundBody,
) -> OutboundMessage {
    OutboundMessage {
        v: FORMAT_VERSION,
        message_id: format!("agent:{customer}:{n}"),
        account_id: seed.account_id.clone(),
        channel_id: seed.channel_id.clone(),
        customer: customer.to_string(),
        conversation_id: conv,
        body,
        origin: Origin::Agent {
            agent_id: "agent1".into(),
        },
        kf_account: Some("amy@test".into()),
        created_ms: now_s() * 1000 + i64::from(n),
    }
}

async fn customer_writes(seed: &kefu_local::seed::WechatSeed, customer: &str, msg_id: u64) {
    let h = harness();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}?{}",
            h.webhook_url(seed),
            signed_query(&seed.token)
        ))
        .body(push::text("gh", customer, now_s(), "hello", msg_id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn five_replies_per_customer_message_then_a_clear_refusal() {
    let h = harness();
    let seed = h.seed("quota").await;
    let customer = openid();
    customer_writes(&seed, &customer, 7_300_000_000_000_001).await;
    // The offline greeting is the first of the five replies.
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let conv = store
        .customer(&seed.channel_id, &customer)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id;
    let queue = SqsQueue::<OutboundMessage>::new(h.clients().await.sqs, &h.env.outbound_queue_url);
    for n in 1..=5 {
        let text = OutboundBody::Text {
            text: format!("reply {n}"),
        };
        queue
            .send(&agent_message(&seed, &customer, conv.clone(), n, text))
            .await
            .unwrap();
    }
    let sent = h.wait_messages(&customer, 5, WAIT).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent_now = h.messages_to(&customer).await;
    assert_eq!(sent_now.len(), 5, "WeChat allows five: {sent:?}");
    let texts: Vec<&str> = sent_now
        .iter()
        .filter_map(|r| r.body["text"]["content"].as_str())
        .collect();
    assert_eq!(
        &texts[1..],
        ["reply 1", "reply 2", "reply 3", "reply 4"],
        "in order"
    );

    // The refused one is on the conversation with its reason.
    let conv_id = conv.clone().unwrap();
    let start = std::time::Instant::now();
    let refused = loop {
        let msgs = store.messages(&conv_id).await.unwrap();
        if let Some(m) = msgs
            .iter()
            .find(|m| m.direction == Direction::Outbound && m.error.is_some())
        {
            break m.clone();
        }
        assert!(start.elapsed() < WAIT, "refusal not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(refused.error.unwrap().contains("quota"));

    // A new message from the customer opens a new window.
    customer_writes(&seed, &customer, 7_300_000_000_000_002).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    queue
        .send(&agent_message(
            &seed,
            &customer,
            conv,
            6,
            OutboundBody::Text {
                text: "after".into(),
            },
        ))
        .await
        .unwrap();
    let sent = h.wait_messages(&customer, 6, WAIT).await;
    assert_eq!(sent.last().unwrap().body["text"]["content"], "after");
}

#[tokio::test]
async fn nothing_is_sent_outside_the_48_hour_window() {
    let h = harness();
    let seed = h.seed("window").await;
    let customer = openid();
    customer_writes(&seed, &customer, 7_300_000_000_000_003).await;
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);
    // The customer's last interaction becomes 49 hours old.
    let clients = h.clients().await;
    let (pk, sk) = kefu_aws::dynamo::keys::customer(&seed.channel_id, &customer);
    clients
        .dynamo
        .update_item()
        .table_name(&h.env.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("SET last_inbound_ms = :old")
        .expression_attribute_values(
            ":old",
            aws_sdk_dynamodb::types::AttributeValue::N(((now_s() - 49 * 3600) * 1000).to_string()),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(clients.dynamo.clone(), &h.env.data_table);
    let conv = store
        .customer(&seed.channel_id, &customer)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id;
    let queue = SqsQueue::<OutboundMessage>::new(clients.sqs.clone(), &h.env.outbound_queue_url);
    queue
        .send(&agent_message(
            &seed,
            &customer,
            conv.clone(),
            1,
            OutboundBody::Text {
                text: "late".into(),
            },
        ))
        .await
        .unwrap();
    let conv_id = conv.unwrap();
    let start = std::time::Instant::now();
    loop {
        let msgs = store.messages(&conv_id).await.unwrap();
        if let Some(m) = msgs.iter().find(|m| m.error.is_some()) {
            assert!(m.error.as_deref().unwrap().contains("48-hour"));
            break;
        }
        assert!(start.elapsed() < WAIT, "refusal not recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        h.messages_to(&customer).await.len(),
        1,
        "only the greeting reached WeChat"
    );
}

#[tokio::test]
async fn images_cards_and_typing_reach_wechat_in_its_formats() {
    let h = harness();
    let seed = h.seed("kinds").await;
    let customer = openid();
    customer_writes(&seed, &customer, 7_300_000_000_000_004).await;
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);
    let queue = SqsQueue::<OutboundMessage>::new(h.clients().await.sqs, &h.env.outbound_queue_url);
    let image = OutboundBody::Image {
        media_id: Some("MEDIA_1".into()),
        url: None,
    };
    let card = OutboundBody::Card {
        title: "Spring offer".into(),
        description: Some("20% off".into()),
        url: "https://example.com/offer".into(),
        image_url: Some("https://example.com/offer.jpg".into()),
    };
    queue
        .send(&agent_message(
            &seed,
            &customer,
            None,
            1,
            OutboundBody::Typing,
        ))
        .await
        .unwrap();
    queue
        .send(&agent_message(&seed, &customer, None, 2, image))
        .await
        .unwrap();
    queue
        .send(&agent_message(&seed, &customer, None, 3, card))
        .await
        .unwrap();
    let sent = h.wait_messages(&customer, 3, WAIT).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].body["msgtype"], "image");
    assert_eq!(sent[1].body["image"]["media_id"], "MEDIA_1");
    assert_eq!(sent[2].body["msgtype"], "news");
    assert_eq!(
        sent[2].body["news"]["articles"][0]["picurl"],
        "https://example.com/offer.jpg"
    );
    let typing: Vec<_> = h
        .sent()
        .await
        .into_iter()
        .filter(|r| {
            r.path == "/cgi-bin/message/custom/typing" && r.body["touser"] == customer.as_str()
        })
        .collect();
    assert_eq!(typing.len(), 1);
    assert_eq!(typing[0].body["command"], "Typing");
}
