//! A local fake of the WeCom server API (`qyapi.weixin.qq.com`) for development and tests. It behaves like
//! the parts kefu uses and records every call it receives.
//!
//! - `GET /cgi-bin/gettoken?corpid=…&corpsecret=…`: an access token per app (corp id + secret), the same
//!   one while it is valid, `expires_in` 7200. An empty secret is refused with 40001, an empty corp id with
//!   40013.
//! - `POST /cgi-bin/message/send?access_token=…`: needs a current token (else 40014), a `touser`, a
//!   `msgtype` and a numeric `agentid` (else 40056), as WeCom does; answers `{"errcode": 0, "errmsg": "ok",
//!   "msgid": …}`.
//! - `GET /_sent`: every recorded call as JSON (`[{id, path, corpid, query, body, at_ms}]`; the secret is
//!   never recorded); `DELETE /_sent` clears the record.
//! - `POST /_fail` with `{"errcode": 42001, "count": 1}`: the next `count` sends answer that error (to
//!   exercise token refresh, refusals and retries).

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
    /// The corp the call's access token belongs to (token calls: the corp asking).
    pub corpid: Option<String>,
    pub query: HashMap<String, String>,
    pub body: Value,
    pub at_ms: i64,
}

#[derive(Default)]
struct Inner {
    /// (corp id, secret) → current token
    tokens: HashMap<(String, String), String>,
    issued: u64,
    sent: Vec<Recorded>,
    fail: Option<(i64, u32)>,
}

#[derive(Clone, Default)]
pub struct FakeWecom {
    inner: Arc<Mutex<Inner>>,
}

impl FakeWecom {
    fn record(
        &self,
        path: &str,
        corpid: Option<String>,
        query: HashMap<String, String>,
        body: Value,
    ) {
        let mut g = self.inner.lock().expect("fake lock");
        let id = g.sent.len() as u64 + 1;
        g.sent.push(Recorded {
            id,
            path: path.into(),
            corpid,
            query,
            body,
            at_ms: now_ms(),
        });
    }

    fn corp_of(&self, token: &str) -> Option<String> {
        let g = self.inner.lock().expect("fake lock");
        g.tokens
            .iter()
            .find(|(_, t)| t.as_str() == token)
            .map(|((corp, _), _)| corp.clone())
    }

    /// Everything recorded so far.
    pub fn sent(&self) -> Vec<Recorded> {
        self.inner.lock().expect("fake lock").sent.clone()
    }

    /// Makes the next `count` sends fail with `errcode`.
    pub fn fail_next(&self, errcode: i64, count: u32) {
        self.inner.lock().expect("fake lock").fail = Some((errcode, count));
    }

    /// Invalidates every token (as when they expire).
    pub fn revoke_tokens(&self) {
        self.inner.lock().expect("fake lock").tokens.clear();
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/cgi-bin/gettoken", get(gettoken))
            .route("/cgi-bin/message/send", post(send))
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

async fn gettoken(
    State(f): State<FakeWecom>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let corpid = q.get("corpid").cloned().unwrap_or_default();
    let secret = q.get("corpsecret").cloned().unwrap_or_default();
    let mut shown = q.clone();
    shown.remove("corpsecret");
    f.record(
        "/cgi-bin/gettoken",
        Some(corpid.clone()),
        shown,
        Value::Null,
    );
    if corpid.is_empty() {
        return Json(json!({"errcode": 40013, "errmsg": "invalid corpid"}));
    }
    if secret.is_empty() {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let mut g = f.inner.lock().expect("fake lock");
    let key = (corpid.clone(), secret);
    if !g.tokens.contains_key(&key) {
        g.issued += 1;
        let token = format!("fake-wecom-token-{corpid}-{}", g.issued);
        g.tokens.insert(key.clone(), token);
    }
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": g.tokens[&key], "expires_in": 7200}))
}

async fn send(
    State(f): State<FakeWecom>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let path = "/cgi-bin/message/send";
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return Json(json!({"errcode": 47001, "errmsg": "data format error"})),
    };
    let Some(corpid) = q.get("access_token").and_then(|t| f.corp_of(t)) else {
        f.record(path, None, q, body);
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"}));
    };
    f.record(path, Some(corpid), q, body.clone());
    {
        let mut g = f.inner.lock().expect("fake lock");
        if let Some((code, n)) = g.fail {
            g.fail = if n > 1 { Some((code, n - 1)) } else { None };
            return Json(json!({"errcode": code, "errmsg": "injected failure"}));
        }
    }
    if body.get("agentid").and_then(Value::as_i64).is_none() {
        return Json(json!({"errcode": 40056, "errmsg": "invalid agentid"}));
    }
    if body.get("msgtype").and_then(Value::as_str).is_none() {
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    if body
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Json(json!({"errcode": 81013, "errmsg": "user & party & tag all invalid"}));
    }
    let msgid = format!("fake-msgid-{}", f.sent().len());
    Json(json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": msgid}))
}

async fn list(State(f): State<FakeWecom>) -> Json<Vec<Recorded>> {
    Json(f.sent())
}

async fn clear(State(f): State<FakeWecom>) -> Json<Value> {
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

async fn fail(State(f): State<FakeWecom>, Json(req): Json<FailReq>) -> Json<Value> {
    f.fail_next(req.errcode, req.count);
    Json(json!({"armed": true}))
}
