//! A local fake of the WeChat API (`api.weixin.qq.com`) for development and tests. It behaves like the
//! parts kefu uses and records every call it receives.
//!
//! - `POST /cgi-bin/stable_token` and `GET /cgi-bin/token`: access tokens (the stable token stays the same
//!   until `force_refresh`), `expires_in` 7200. An empty secret is refused with 40125.
//! - `POST /cgi-bin/message/custom/send` and `/cgi-bin/message/custom/typing`: need a current token
//!   (else 40001) and a `touser` and `msgtype`, as WeChat does.
//! - `GET /_sent`: every recorded call as JSON (`[{id, path, appid, query, body, at_ms}]`);
//!   `DELETE /_sent` clears the record.
//! - `POST /_fail` with `{"errcode": 45015, "count": 1}`: the next `count` sends answer that error
//!   (to exercise token refresh, refusals and retries).

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use kefu_aws::edge::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub id: u64,
    pub path: String,
    /// The app the call's access token belongs to (token calls: the app asking).
    pub appid: Option<String>,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub at_ms: i64,
}

#[derive(Default)]
struct Inner {
    /// appid → current token
    tokens: HashMap<String, String>,
    issued: u64,
    sent: Vec<Recorded>,
    fail: Option<(i64, u32)>,
}

#[derive(Clone, Default)]
pub struct FakeWechat {
    inner: Arc<Mutex<Inner>>,
}

impl FakeWechat {
    fn record(
        &self,
        path: &str,
        appid: Option<String>,
        query: HashMap<String, String>,
        body: Value,
    ) {
        let mut g = self.inner.lock().expect("fake lock");
        let id = g.sent.len() as u64 + 1;
        g.sent.push(Recorded {
            id,
            path: path.into(),
            appid,
            query,
            body,
            at_ms: now_ms(),
        });
    }

    fn issue(&self, appid: &str, secret: &str, force: bool) -> Value {
        if secret.is_empty() {
            return json!({"errcode": 40125, "errmsg": "invalid appsecret"});
        }
        let mut g = self.inner.lock().expect("fake lock");
        if force || !g.tokens.contains_key(appid) {
            g.issued += 1;
            let token = format!("fake-token-{appid}-{}", g.issued);
            g.tokens.insert(appid.to_string(), token);
        }
        json!({"access_token": g.tokens[appid], "expires_in": 7200})
    }

    fn app_of(&self, token: &str) -> Option<String> {
        let g = self.inner.lock().expect("fake lock");
        g.tokens
            .iter()
            .find(|(_, t)| t.as_str() == token)
            .map(|(a, _)| a.clone())
    }

    /// Everything recorded so far.
    pub fn sent(&self) -> Vec<Recorded> {
        self.inner.lock().expect("fake lock").sent.clone()
    }

    /// Makes the next `count` sends fail with `errcode`.
    pub fn fail_next(&self, errcode: i64, count: u32) {
        self.inner.lock().expect("fake lock").fail = Some((errcode, count));
    }

    /// Invalidates every token (as WeChat does when a token is refreshed elsewhere).
    pub fn revoke_tokens(&self) {
        self.inner.lock().expect("fake lock").tokens.clear();
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/token", get(token))
            .route("/cgi-bin/message/custom/send", post(send))
            .route("/cgi-bin/message/custom/typing", post(send))
            .route("/_sent", get(list).delete(clear))
            .route("/_fail", post(fail))
            .with_state(self.clone())
    }

    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        crate::fakes::serve(self.router(), addr).await
    }
}

#[derive(Deserialize)]
struct StableTokenReq {
    grant_type: String,
    appid: String,
    secret: String,
    #[serde(default)]
    force_refresh: bool,
}

async fn stable_token(State(f): State<FakeWechat>, Json(req): Json<StableTokenReq>) -> Json<Value> {
    let body = json!({"grant_type": req.grant_type, "appid": req.appid, "force_refresh": req.force_refresh});
    f.record(
        "/cgi-bin/stable_token",
        Some(req.appid.clone()),
        HashMap::new(),
        body,
    );
    if req.grant_type != "client_credential" {
        return Json(json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
    }
    Json(f.issue(&req.appid, &req.secret, req.force_refresh))
}

async fn token(
    State(f): State<FakeWechat>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let appid = q.get("appid").cloned().unwrap_or_default();
    let mut shown = q.clone();
    shown.remove("secret");
    f.record("/cgi-bin/token", Some(appid.clone()), shown, Value::Null);
    Json(f.issue(
        &appid,
        q.get("secret").map(String::as_str).unwrap_or(""),
        false,
    ))
}

async fn send(
    State(f): State<FakeWechat>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let path = uri.path().to_string();
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return Json(json!({"errcode": 47001, "errmsg": "data format error"})),
    };
    let Some(appid) = q.get("access_token").and_then(|t| f.app_of(t)) else {
        f.record(&path, None, q, body);
        return Json(
            json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}),
        );
    };
    f.record(&path, Some(appid), q, body.clone());
    {
        let mut g = f.inner.lock().expect("fake lock");
        if let Some((code, n)) = g.fail {
            g.fail = if n > 1 { Some((code, n - 1)) } else { None };
            return Json(json!({"errcode": code, "errmsg": "injected failure"}));
        }
    }
    if body
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Json(json!({"errcode": 40003, "errmsg": "invalid openid"}));
    }
    if path.ends_with("/send") && body.get("msgtype").and_then(Value::as_str).is_none() {
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn list(State(f): State<FakeWechat>) -> Json<Vec<Recorded>> {
    Json(f.sent())
}

async fn clear(State(f): State<FakeWechat>) -> Json<Value> {
    f.inner.lock().expect("fake lock").sent.clear();
    Json(json!({"cleared": true}))
}

#[derive(Deserialize)]
struct FailReq {
    errcode: i64,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn fail(State(f): State<FakeWechat>, Json(req): Json<FailReq>) -> Json<Value> {
    f.fail_next(req.errcode, req.count);
    Json(json!({"armed": true}))
}
