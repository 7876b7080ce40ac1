//! WeChat Mini Program customer service: JSON pushes and the enter-session event, end to end.

use kefu_aws::dynamo::DynamoStore;
use kefu_domain::messages::Content;
use kefu_domain::model::{Channel, ChannelKind, ConversationStatus, Direction};
use kefu_domain::ports::Conversations;
use kefu_e2e::{harness, now_s, openid, signed_query};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(25);

/// A seeded account whose channel is a Mini Program.
async fn mini_program(prefix: &str) -> kefu_local::seed::WechatSeed {
    let h = harness();
    let seed = h.seed(prefix).await;
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    store
        .put_channel(&Channel {
            channel_id: seed.channel_id.clone(),
            account_id: seed.account_id.clone(),
            kind: ChannelKind::WechatMiniProgram,
            external_id: seed.app_id.clone(),
            name: "Mini Program".into(),
            secret_ref: seed.secret_ref(&h.env),
            enabled: true,
        })
        .await
        .unwrap();
    seed
}

async fn post_json(url: &str, query: &str, body: serde_json::Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}?{query}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn a_json_text_push_is_stored_and_greeted() {
    let h = harness();
    let seed = mini_program("mp-text").await;
    let customer = openid();
    let body = serde_json::json!({
        "ToUserName": "gh_mini", "FromUserName": customer, "CreateTime": now_s(),
        "MsgType": "text", "Content": "订单什么时候发货？", "MsgId": 7_200_000_000_000_001u64
    });
    let (status, text) = post_json(&h.webhook_url(&seed), &signed_query(&seed.token), body).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    let sent = h.wait_messages(&customer, 1, WAIT).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/cgi-bin/message/custom/send");
    assert!(sent[0].body["text"]["content"]
        .as_str()
        .unwrap()
        .contains("offline"));

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let c = store
        .customer(&seed.channel_id, &customer)
        .await
        .unwrap()
        .unwrap();
    let conv = c.open_conversation_id.unwrap();
    let msgs = store.messages(&conv).await.unwrap();
    let inbound: Vec<_> = msgs
        .iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(
        inbound[0].content,
        Content::Text {
            text: "订单什么时候发货？".into()
        }
    );
    assert_eq!(inbound[0].message_key, "msg:7200000000000001");
}

#[tokio::test]
async fn entering_the_session_opens_a_waiting_conversation_with_one_greeting() {
    let h = harness();
    let seed = mini_program("mp-enter").await;
    let customer = openid();
    let body = serde_json::json!({
        "ToUserName": "gh_mini", "FromUserName": customer, "CreateTime": now_s(),
        "MsgType": "event", "Event": "user_enter_tempsession", "SessionFrom": "order-page"
    });
    let q = signed_query(&seed.token);
    for _ in 0..2 {
        let (status, _) = post_json(&h.webhook_url(&seed), &q, body.clone()).await;
        assert_eq!(status, 200);
    }
    assert_eq!(h.wait_messages(&customer, 1, WAIT).await.len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        h.messages_to(&customer).await.len(),
        1,
        "one greeting for a repeated event"
    );

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let c = store
        .customer(&seed.channel_id, &customer)
        .await
        .unwrap()
        .unwrap();
    let conv = store
        .conversation(&c.open_conversation_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.status, ConversationStatus::Waiting);
    let msgs = store.messages(&conv.conversation_id).await.unwrap();
    assert!(
        msgs.iter().all(|m| m.direction == Direction::Outbound),
        "entering stores no customer message"
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let h = harness();
    let seed = mini_program("mp-bad").await;
    let resp = reqwest::Client::new()
        .post(format!(
            "{}?{}",
            h.webhook_url(&seed),
            signed_query(&seed.token)
        ))
        .header("content-type", "application/json")
        .body("{\"ToUserName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
