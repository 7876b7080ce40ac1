//! Web chat visitor API, end to end: real HTTP into the local host (`/webchat/...`), the AWS emulator, the
//! router, greeting dispatch and channel sender, and back to the visitor through long polls.

use kefu_aws::dynamo::DynamoStore;
use kefu_domain::channels::webchat;
use kefu_domain::model::Direction;
use kefu_domain::ports::Conversations;
use kefu_e2e::harness;
use kefu_local::seed::WechatSeed;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ORIGIN: &str = "https://www.example.test";
const WAIT: Duration = Duration::from_secs(30);

fn standard(kind: &str) -> String {
    let kind = kefu_domain::model::GreetingKind::parse(kind).unwrap();
    kefu_local::seed::standard_greetings()
        .into_iter()
        .find(|(k, l, _)| *k == kind && l.as_str() == "en")
        .unwrap()
        .2
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn call(
    method: Method,
    url: &str,
    origin: Option<&str>,
    token: Option<&str>,
    body: Option<String>,
) -> Answer {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn site_key(seed: &WechatSeed) -> String {
    seed.webchat.as_ref().unwrap().site_key.clone()
}

async fn open_session(api: &str, seed: &WechatSeed, extra: Value) -> Answer {
    let mut body = json!({ "site_key": site_key(seed), "lang": "en" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    call(
        Method::POST,
        &format!("{api}/sessions"),
        Some(ORIGIN),
        None,
        Some(body.to_string()),
    )
    .await
}

/// A session's (token, visitor id).
async fn session(api: &str, seed: &WechatSeed) -> (String, String) {
    let a = open_session(api, seed, json!({})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    (
        a.body["session_token"].as_str().unwrap().to_string(),
        a.body["visitor_id"].as_str().unwrap().to_string(),
    )
}

async fn send(api: &str, token: &str, client_id: &str, text: &str) -> Answer {
    call(
        Method::POST,
        &format!("{api}/messages"),
        Some(ORIGIN),
        Some(token),
        Some(json!({ "client_id": client_id, "text": text }).to_string()),
    )
    .await
}

async fn poll(api: &str, token: &str, cursor: &str, wait: u32) -> Answer {
    call(
        Method::GET,
        &format!("{api}/messages?after={cursor}&wait={wait}"),
        Some(ORIGIN),
        Some(token),
        None,
    )
    .await
}

/// Long-polls until a message satisfying `until` arrived; returns every message received and the cursor.
async fn poll_until(
    api: &str,
    token: &str,
    until: impl Fn(&Value) -> bool,
) -> (Vec<Value>, String, Value) {
    let start = Instant::now();
    let mut cursor = String::new();
    let mut got = Vec::new();
    loop {
        let a = poll(api, token, &cursor, 10).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("access-control-allow-origin"), Some(ORIGIN));
        cursor = a.body["cursor"].as_str().unwrap().to_string();
        got.extend(a.body["messages"].as_array().unwrap().iter().cloned());
        if got.iter().any(&until) {
            return (got, cursor, a.body["agent"].clone());
        }
        assert!(start.elapsed() < WAIT, "nothing arrived: {got:?}");
    }
}

fn text_of(m: &Value) -> &str {
    m["text"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn widget_script_is_served_as_javascript() {
    let h = harness();
    let resp = reqwest::get(format!("{}/webchat/widget.js", h.base_url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    assert!(resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    assert!(resp.text().await.unwrap().contains("kefu-launcher"));
}

#[tokio::test]
async fn sessions_need_the_site_key_and_an_allowed_origin() {
    let h = harness();
    let seed = h.seed_webchat("wcsess", &[]).await;
    let api = h.webchat_url(&seed);

    let ok = open_session(&api, &seed, json!({"name": "Wang Wei"})).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.header("access-control-allow-origin"), Some(ORIGIN));
    let visitor = ok.body["visitor_id"].as_str().unwrap().to_string();
    assert!(webchat::is_visitor_id(&visitor), "{visitor}");
    assert!(ok.body["session_token"]
        .as_str()
        .unwrap()
        .starts_with("wc1."));
    assert!(ok.body["agent"].is_null(), "nobody is assigned yet");

    // A returning visitor keeps the id; an id kefu did not make is replaced.
    let again = open_session(&api, &seed, json!({ "visitor_id": visitor })).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body["visitor_id"], visitor.as_str());
    let forged = open_session(&api, &seed, json!({ "visitor_id": "admin" })).await;
    assert_eq!(forged.status, 201);
    assert_ne!(forged.body["visitor_id"], "admin");

    let bad_key = open_session(&api, &seed, json!({ "site_key": "not-the-key" })).await;
    assert_eq!(bad_key.status, 403, "{}", bad_key.body);

    let body = json!({ "site_key": site_key(&seed) }).to_string();
    let url = format!("{api}/sessions");
    let foreign = call(
        Method::POST,
        &url,
        Some("https://evil.example"),
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    let no_origin = call(Method::POST, &url, None, None, Some(body.clone())).await;
    assert_eq!(no_origin.status, 403);

    let malformed = call(
        Method::POST,
        &url,
        Some(ORIGIN),
        None,
        Some("{\"site_key\":".into()),
    )
    .await;
    assert_eq!(malformed.status, 400);

    // Not a web chat channel, or no channel at all.
    let wechat = format!("{}/webchat/{}/sessions", h.base_url, seed.channel_id);
    let a = call(
        Method::POST,
        &wechat,
        Some(ORIGIN),
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, 404);
    let none = format!("{}/webchat/no-such-site/sessions", h.base_url);
    assert_eq!(
        call(Method::POST, &none, Some(ORIGIN), None, Some(body))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_message_is_stored_and_the_offline_greeting_arrives_by_long_poll() {
    let h = harness();
    let seed = h.seed_webchat("wcoffline", &[]).await;
    let api = h.webchat_url(&seed);
    let (token, visitor) = session(&api, &seed).await;

    let sent = send(&api, &token, "c-1", "Is breakfast included?").await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(sent.body["id"], format!("web:{visitor}:c-1").as_str());

    let offline = standard("offline");
    let (got, cursor, agent) = poll_until(&api, &token, |m| text_of(m) == offline).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0]["direction"].as_str(), got[0]["from"].as_str()),
        (Some("inbound"), Some("visitor"))
    );
    assert_eq!(got[0]["client_id"], "c-1");
    assert_eq!(text_of(&got[0]), "Is breakfast included?");
    assert_eq!(
        (got[1]["direction"].as_str(), got[1]["from"].as_str()),
        (Some("outbound"), Some("auto"))
    );
    assert!(agent.is_null());

    // Stored on the conversation, in order.
    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let w = seed.webchat.as_ref().unwrap();
    let customer = store
        .customer(&w.channel_id, &visitor)
        .await
        .unwrap()
        .unwrap();
    let conv = customer.open_conversation_id.expect("conversation");
    let stored = store.messages(&conv).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].message_key, format!("web:{visitor}:c-1"));
    assert_eq!(stored[0].direction, Direction::Inbound);
    assert_eq!(stored[1].direction, Direction::Outbound);

    // Nothing new after the cursor; the history has both.
    let a = poll(&api, &token, &cursor, 1).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["messages"], json!([]));
    let history = call(
        Method::GET,
        &format!("{api}/history"),
        Some(ORIGIN),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(history.status, 200);
    let ids: Vec<&str> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            got[0]["id"].as_str().unwrap(),
            got[1]["id"].as_str().unwrap()
        ]
    );
}

#[tokio::test]
async fn an_assigned_chat_shows_the_agent_name_and_second_line() {
    let h = harness();
    let seed = h.seed_webchat("wconline", &[]).await;
    h.set_presence(&seed, 0, "online").await;
    let api = h.webchat_url(&seed);
    let (token, visitor) = session(&api, &seed).await;
    assert_eq!(send(&api, &token, "c-1", "hello").await.status, 202);

    let (got, _, agent) = poll_until(&api, &token, |m| m["from"] == "auto").await;
    let amy = json!({"name": "Amy", "line2": "Reservations · Test"});
    assert_eq!(agent, amy, "the agent of the chat");
    let greeting = got.iter().find(|m| m["from"] == "auto").unwrap();
    assert_eq!(text_of(greeting), "Hi, I'm Amy. How can I help you today?");

    // A new session of the same visitor knows the agent at once.
    let a = open_session(&api, &seed, json!({ "visitor_id": visitor })).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["agent"], amy);
}

#[tokio::test]
async fn the_same_client_id_twice_is_one_message() {
    let h = harness();
    let seed = h.seed_webchat("wcdedupe", &[]).await;
    let api = h.webchat_url(&seed);
    let (token, visitor) = session(&api, &seed).await;
    assert_eq!(send(&api, &token, "c-7", "only once").await.status, 202);
    assert_eq!(send(&api, &token, "c-7", "only once").await.status, 202);
    let offline = standard("offline");
    poll_until(&api, &token, |m| text_of(m) == offline).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let store = DynamoStore::new(h.clients().await.dynamo, &h.env.data_table);
    let w = seed.webchat.as_ref().unwrap();
    let conv = store
        .customer(&w.channel_id, &visitor)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id
        .unwrap();
    let inbound: Vec<_> = store
        .messages(&conv)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::Inbound)
        .collect();
    assert_eq!(inbound.len(), 1, "{inbound:?}");
}

#[tokio::test]
async fn a_long_poll_returns_within_wait_when_nothing_arrives() {
    let h = harness();
    let seed = h.seed_webchat("wcwait", &[]).await;
    let api = h.webchat_url(&seed);
    let (token, _) = session(&api, &seed).await;

    let start = Instant::now();
    let a = poll(&api, &token, "", 2).await;
    let took = start.elapsed();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["messages"], json!([]));
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(6),
        "took {took:?}"
    );

    assert_eq!(poll(&api, &token, "", 0).await.status, 200);
    assert_eq!(
        poll(&api, &token, "%21%21", 1).await.status,
        400,
        "bad cursor"
    );
    let bad_wait = call(
        Method::GET,
        &format!("{api}/messages?wait=soon"),
        Some(ORIGIN),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(bad_wait.status, 400);

    // No token, a forged one, another channel's.
    let url = format!("{api}/messages");
    assert_eq!(
        call(Method::GET, &url, Some(ORIGIN), None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        call(Method::GET, &url, Some(ORIGIN), Some("wc1.e30.AAAA"), None)
            .await
            .status,
        401
    );
    let other = h.seed_webchat("wcwait2", &[]).await;
    let (other_token, _) = session(&h.webchat_url(&other), &other).await;
    assert_eq!(
        call(Method::GET, &url, Some(ORIGIN), Some(&other_token), None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn too_many_messages_or_sessions_get_429_with_retry_after() {
    let h = harness();
    let seed = h.seed_webchat("wcrate", &[]).await;
    let api = h.webchat_url(&seed);
    let (token, _) = session(&api, &seed).await;

    // 20 messages a minute per visitor. A minute boundary may pass during the burst: at most 41 sends
    // reach a second full window.
    let mut accepted = 0;
    let mut limited = None;
    for i in 0..45 {
        let a = send(&api, &token, &format!("r-{i}"), "again").await;
        match a.status {
            202 => accepted += 1,
            429 => {
                limited = Some(a);
                break;
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    let limited = limited.expect("no 429");
    assert!(accepted >= 20, "{accepted} accepted before the limit");
    let retry: i64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.header("access-control-allow-origin"), Some(ORIGIN));

    // 5 sessions a minute per client IP and channel (one was opened above).
    let mut limited = None;
    for _ in 0..12 {
        let a = open_session(&api, &seed, json!({})).await;
        match a.status {
            201 => {}
            429 => {
                limited = Some(a);
                break;
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    let limited = limited.expect("no 429 for sessions");
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn cors_preflight_answers_allowed_origins_only() {
    let h = harness();
    let seed = h.seed_webchat("wccors", &["http://localhost:8080"]).await;
    let api = h.webchat_url(&seed);
    for path in ["sessions", "messages", "history"] {
        let url = format!("{api}/{path}");
        for origin in [ORIGIN, "http://localhost:8080"] {
            let a = call(Method::OPTIONS, &url, Some(origin), None, None).await;
            assert_eq!(a.status, 204, "{path} {origin}");
            assert_eq!(a.header("access-control-allow-origin"), Some(origin));
            let allowed = a.header("access-control-allow-headers").unwrap();
            assert!(allowed.contains("authorization") && allowed.contains("content-type"));
            assert!(a
                .header("access-control-allow-methods")
                .unwrap()
                .contains("POST"));
        }
        for origin in ["https://evil.example", "http://localhost:8081", "null"] {
            let a = call(Method::OPTIONS, &url, Some(origin), None, None).await;
            assert_eq!(a.status, 403, "{path} {origin}");
            assert_eq!(a.header("access-control-allow-origin"), None);
        }
        let a = call(Method::OPTIONS, &url, None, None, None).await;
        assert_eq!(a.status, 403);
    }
    // A session used from a foreign page is refused too.
    let (token, _) = session(&api, &seed).await;
    let a = call(
        Method::GET,
        &format!("{api}/messages"),
        Some("https://evil.example"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn malformed_messages_are_400() {
    let h = harness();
    let seed = h.seed_webchat("wcbad", &[]).await;
    let api = h.webchat_url(&seed);
    let (token, _) = session(&api, &seed).await;
    let url = format!("{api}/messages");
    for body in [
        "not json".to_string(),
        json!({ "text": "no client id" }).to_string(),
        json!({ "client_id": "c 1", "text": "bad client id" }).to_string(),
        json!({ "client_id": "c-1", "text": "   " }).to_string(),
        json!({ "client_id": "c-1", "text": "x".repeat(2001) }).to_string(),
        json!({ "client_id": "c-1", "text": 5 }).to_string(),
    ] {
        let a = call(
            Method::POST,
            &url,
            Some(ORIGIN),
            Some(&token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.body["error"].is_string());
    }
    let longest = json!({ "client_id": "c-1", "text": "好".repeat(2000) }).to_string();
    assert_eq!(
        call(
            Method::POST,
            &url,
            Some(ORIGIN),
            Some(&token),
            Some(longest)
        )
        .await
        .status,
        202
    );
}
