//! Bad input at the WeChat webhook: the right status, and nothing stored.

use kefu_aws::dynamo::DynamoStore;
use kefu_e2e::{harness, now_s, openid, push, signed_query};
use std::time::Duration;

async fn post(url: &str, query: &str, body: impl Into<reqwest::Body>) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}?{query}"))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn assert_nothing_stored(channel: &str, customer: &str) {
    let h = harness();
    // Give a wrongly accepted event time to travel through the queues before looking.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    assert!(
        store.customer(channel, customer).await.unwrap().is_none(),
        "{customer} must not be stored"
    );
    assert!(
        h.messages_to(customer).await.is_empty(),
        "{customer} must get nothing"
    );
}

#[tokio::test]
async fn missing_wrong_and_stale_signatures_are_401_and_nothing_is_stored() {
    let h = harness();
    let seed = h.seed("badsig").await;
    let url = h.webhook_url(&seed);
    let customer = openid();
    let body = push::text("gh", &customer, now_s(), "x", 7_100_000_000_000_001);
    assert_eq!(post(&url, "", body.clone()).await, 401, "no query at all");
    let ts = now_s().to_string();
    assert_eq!(
        post(&url, &format!("timestamp={ts}&nonce=1"), body.clone()).await,
        401,
        "no signature"
    );
    assert_eq!(
        post(&url, &signed_query("not-the-token"), body.clone()).await,
        401,
        "wrong token"
    );
    let old = (now_s() - 3600).to_string();
    let sig = kefu_domain::channels::wechat::signature(&seed.token, &old, "1");
    assert_eq!(
        post(
            &url,
            &format!("signature={sig}&timestamp={old}&nonce=1"),
            body
        )
        .await,
        401,
        "an hour old"
    );
    assert_nothing_stored(&seed.channel_id, &customer).await;
}

#[tokio::test]
async fn malformed_unsafe_and_oversized_bodies_are_400() {
    let h = harness();
    let seed = h.seed("badxml").await;
    let url = h.webhook_url(&seed);
    let customer = openid();
    let q = || signed_query(&seed.token);
    assert_eq!(
        post(&url, &q(), "<xml><ToUserName>".to_string()).await,
        400,
        "truncated"
    );
    assert_eq!(post(&url, &q(), "not xml at all".to_string()).await, 400);
    assert_eq!(
        post(
            &url,
            &q(),
            format!("<xml><FromUserName>{customer}</FromUserName></xml>")
        )
        .await,
        400,
        "missing fields"
    );
    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
         <xml><ToUserName>gh</ToUserName><FromUserName>{customer}</FromUserName><CreateTime>{}</CreateTime>\
         <MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>",
        now_s()
    );
    assert_eq!(
        post(&url, &q(), doctype).await,
        400,
        "DOCTYPE / external entity"
    );
    let entity = push::text("gh", &customer, now_s(), "&undefined;", 2)
        .replace("<![CDATA[&undefined;]]>", "&undefined;");
    assert_eq!(
        post(&url, &q(), entity).await,
        400,
        "undefined entity reference"
    );
    let huge = push::text("gh", &customer, now_s(), &"x".repeat(70 * 1024), 3);
    assert_eq!(post(&url, &q(), huge).await, 400, "over 64 KiB");
    assert_nothing_stored(&seed.channel_id, &customer).await;
}

#[tokio::test]
async fn unknown_channel_is_404() {
    let h = harness();
    let status = post(
        &format!("{}/wechat/no-such-channel", h.base_url),
        &signed_query("t"),
        "<xml/>",
    )
    .await;
    assert_eq!(status, 404);
    let status = reqwest::get(format!(
        "{}/wechat/no-such-channel?{}&echostr=1",
        h.base_url,
        signed_query("t")
    ))
    .await
    .unwrap()
    .status();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn agent_api_refuses_missing_and_wrong_tokens_and_bad_bodies() {
    let h = harness();
    let seed = h.seed("agentauth").await;
    let url = format!(
        "{}/accounts/{}/agents/agent1/presence",
        h.base_url, seed.account_id
    );
    let c = reqwest::Client::new();
    let body = serde_json::json!({"presence": "online"});
    assert_eq!(c.put(&url).json(&body).send().await.unwrap().status(), 401);
    assert_eq!(
        c.put(&url)
            .bearer_auth("wrong")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let other = format!(
        "{}/accounts/{}/agents/nobody/presence",
        h.base_url, seed.account_id
    );
    assert_eq!(
        c.put(&other)
            .bearer_auth(&seed.agents[0].token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let bad = c
        .put(&url)
        .bearer_auth(&seed.agents[0].token)
        .body("{\"presence\": \"away\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    use kefu_domain::ports::Directory;
    let agent = store
        .agent(&seed.account_id, "agent1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        agent.presence,
        kefu_domain::model::Presence::Offline,
        "refused calls change nothing"
    );
}

#[tokio::test]
async fn with_the_emulator_down_the_webhook_does_not_answer_success() {
    // A second host whose AWS endpoint is down, called over real HTTP.
    let h = harness();
    let seed = h.seed("down").await;
    let mut manifest = h.manifest.clone();
    manifest.endpoint = kefu_e2e::dead_endpoint();
    let down = kefu_local::start(kefu_local::HostOptions {
        pollers: false,
        ..kefu_local::HostOptions::ephemeral(manifest)
    })
    .await
    .unwrap();
    let customer = openid();
    let url = format!("{}/wechat/{}", down.base_url(), seed.channel_id);
    let resp = reqwest::Client::new()
        .post(format!("{url}?{}", signed_query(&seed.token)))
        .body(push::text(
            "gh",
            &customer,
            now_s(),
            "x",
            7_100_000_000_000_010,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_ne!(resp.text().await.unwrap(), "success", "WeChat must retry");
    assert_nothing_stored(&seed.channel_id, &customer).await;
}

#[tokio::test]
async fn with_the_queue_down_the_push_is_refused_and_nothing_is_half_written() {
    // Storage reachable, queue not: the channel lookup succeeds, the event cannot be made durable.
    use kefu_aws::sqs::SqsQueue;
    use kefu_aws::ssm::SsmSecrets;
    let h = harness();
    let seed = h.seed("queue-down").await;
    let clients = h.clients().await;
    let dead = kefu_aws::Clients::new(
        &kefu_local::sdk_config(&kefu_e2e::dead_endpoint(), &h.manifest.region).await,
    );
    let state = wechat_webhook::State {
        store: DynamoStore::new(clients.dynamo.clone(), &h.env.data_table),
        secrets: SsmSecrets::new(clients.ssm.clone()),
        inbound: SqsQueue::new(dead.sqs.clone(), &h.env.inbound_queue_url),
    };
    let customer = openid();
    let uri: axum_uri::Uri = format!("/wechat/{}?{}", seed.channel_id, signed_query(&seed.token))
        .parse()
        .unwrap();
    let mut params = serde_json::Map::new();
    params.insert("channelId".into(), seed.channel_id.clone().into());
    let mut headers = axum_uri::HeaderMap::new();
    headers.insert("content-type", "text/xml".parse().unwrap());
    let body = push::text("gh", &customer, now_s(), "x", 7_100_000_000_000_011);
    let event = kefu_local::gateway::build_event(
        &axum_uri::Method::POST,
        &uri,
        &headers,
        body.as_bytes(),
        "POST /wechat/{channelId}",
        params,
        "req-1",
    );
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = wechat_webhook::handle(&state, req).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_ne!(resp.body().as_ref(), b"success");
    assert_nothing_stored(&seed.channel_id, &customer).await;
}

mod axum_uri {
    pub use lambda_http::http::{HeaderMap, Method, Uri};
}
