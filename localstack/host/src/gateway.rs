//! A local stand-in for the stack's API Gateway HTTP API: requests are matched against the routes the
//! template declares, turned into payload-format-2.0 events exactly as API Gateway builds them (lower-case
//! headers, repeated headers and query values joined with commas, cookies apart, URL-decoded path and query
//! parameters, non-text bodies base64-encoded) and handed to the function; its result is turned back into
//! an HTTP response. Unmatched routes get API Gateway's `{"message":"Not Found"}`.
//!
//! Host-only routes (not part of the API): `POST /_local/invoke/{FunctionLogicalId}` invokes any function
//! with the request body as its event (fire a scheduled function, run the DLQ redrive); with no body, a
//! scheduled function gets the event its schedule would deliver. `GET /_local/webchat-demo.html` is a plain
//! page with the web chat widget of the demo site (see [`crate::webchat_demo`]).

use crate::Host;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A route template such as `/wechat/{channelId}` or `/files/{proxy+}` matched against a path; returns the
/// path parameters (URL-decoded).
pub fn match_route(template: &str, path: &str) -> Option<Map<String, Value>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = Map::new();
    for (i, seg) in t.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if i >= p.len() {
                return None;
            }
            params.insert(name.to_string(), Value::String(decode(&p[i..].join("/"))));
            return Some(params);
        }
        let actual = p.get(i)?;
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if actual.is_empty() {
                return None;
            }
            params.insert(name.to_string(), Value::String(decode(actual)));
        } else if seg != actual {
            return None;
        }
    }
    (t.len() == p.len()).then_some(params)
}

fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Whether API Gateway passes a body of this content type as text (others are base64-encoded).
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
}

/// Builds the payload 2.0 event for a request.
pub fn build_event(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    route_key: &str,
    path_params: Map<String, Value>,
    request_id: &str,
) -> Value {
    let mut hmap = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name.as_str() == "cookie" {
            cookies.extend(v.split(';').map(|c| Value::String(c.trim().to_string())));
            continue;
        }
        match hmap.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                hmap.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let raw_query = uri.query().unwrap_or("");
    let mut qmap = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        match qmap.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                qmap.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let (body_value, b64) = if body.is_empty() {
        (Value::Null, false)
    } else if is_text(content_type) && std::str::from_utf8(body).is_ok() {
        (
            Value::String(String::from_utf8_lossy(body).into_owned()),
            false,
        )
    } else {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hmap,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "",
            "timeEpoch": now.as_millis() as i64,
        },
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !qmap.is_empty() {
        event["queryStringParameters"] = Value::Object(qmap);
    }
    if !path_params.is_empty() {
        event["pathParameters"] = Value::Object(path_params);
    }
    if !body_value.is_null() {
        event["body"] = body_value;
    }
    event
}

/// A handler's `http::Response` as the payload 2.0 response JSON API Gateway reads.
pub fn response_json(resp: lambda_http::Response<lambda_http::Body>) -> Value {
    let (parts, body) = resp.into_parts();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let (body, b64) = match body {
        lambda_http::Body::Empty => (String::new(), false),
        lambda_http::Body::Text(t) => (t, false),
        lambda_http::Body::Binary(b) => (base64::engine::general_purpose::STANDARD.encode(b), true),
        _ => (String::new(), false),
    };
    json!({"statusCode": parts.status.as_u16(), "headers": headers, "body": body, "isBase64Encoded": b64})
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response()
}

/// Turns a function's payload 2.0 response JSON into the HTTP response API Gateway sends.
fn to_http(result: &Value) -> Response {
    let status = result
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok());
    let Some(status) = status else {
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let body = result.get("body").and_then(Value::as_str).unwrap_or("");
    let bytes = if result
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut resp = Response::builder().status(status);
    if let Some(h) = result.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                resp = resp.header(k, v);
            }
        }
    }
    resp.body(axum::body::Body::from(bytes))
        .unwrap_or_else(|_| api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))
}

pub async fn serve(
    State(host): State<Arc<Host>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = format!("{:016x}", rand::random::<u64>());
    if uri.path() == crate::webchat_demo::PATH && method == Method::GET {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        return (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            crate::webchat_demo::page(&format!("http://{host}")),
        )
            .into_response();
    }
    if let Some(name) = uri.path().strip_prefix("/_local/invoke/") {
        if method != Method::POST {
            return api_error(StatusCode::METHOD_NOT_ALLOWED, "POST an event");
        }
        let event: Value = if body.is_empty() {
            host.default_event(name)
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => {
                    return api_error(StatusCode::BAD_REQUEST, &format!("event is not JSON: {e}"))
                }
            }
        };
        return match host.invoke(name, event).await {
            Ok(v) => (
                StatusCode::OK,
                [("content-type", "application/json")],
                v.to_string(),
            )
                .into_response(),
            Err(e) => api_error(StatusCode::BAD_GATEWAY, &e),
        };
    }
    if body.len() > MAX_BODY {
        return api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    for (logical, route) in host.routes() {
        if !route.method.eq_ignore_ascii_case(method.as_str())
            && !route.method.eq_ignore_ascii_case("ANY")
        {
            continue;
        }
        let Some(params) = match_route(&route.path, uri.path()) else {
            continue;
        };
        let route_key = format!("{} {}", route.method.to_ascii_uppercase(), route.path);
        let event = build_event(
            &method,
            &uri,
            &headers,
            &body,
            &route_key,
            params,
            &request_id,
        );
        let timeout = Duration::from_secs(host.timeout(logical));
        return match tokio::time::timeout(timeout, host.invoke(logical, event)).await {
            Ok(Ok(result)) => to_http(&result),
            Ok(Err(e)) => {
                tracing::error!(function = %logical, error = %e, "function error");
                api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Err(_) => api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        };
    }
    api_error(StatusCode::NOT_FOUND, "Not Found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_decoded_parameters() {
        let p = match_route("/wechat/{channelId}", "/wechat/ch%201").unwrap();
        assert_eq!(p["channelId"], "ch 1");
        assert!(match_route("/wechat/{channelId}", "/wechat").is_none());
        assert!(match_route("/wechat/{channelId}", "/wechat/a/b").is_none());
        let p = match_route(
            "/accounts/{accountId}/agents/{agentId}/presence",
            "/accounts/a/agents/b/presence",
        )
        .unwrap();
        assert_eq!(
            (p["accountId"].as_str(), p["agentId"].as_str()),
            (Some("a"), Some("b"))
        );
        let p = match_route("/static/{proxy+}", "/static/js/widget.js").unwrap();
        assert_eq!(p["proxy"], "js/widget.js");
    }

    #[test]
    fn events_follow_payload_format_2() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let uri: Uri = "/sms/c1?a=1&a=2&b=x%20y".parse().unwrap();
        let ev = build_event(
            &Method::POST,
            &uri,
            &headers,
            b"From=%2B1",
            "POST /sms/{id}",
            Map::new(),
            "r1",
        );
        assert_eq!(ev["headers"]["x-a"], "1,2");
        assert_eq!(ev["queryStringParameters"]["a"], "1,2");
        assert_eq!(ev["queryStringParameters"]["b"], "x y");
        assert_eq!(ev["rawQueryString"], "a=1&a=2&b=x%20y");
        // form bodies arrive base64-encoded, as API Gateway HTTP APIs send them
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["body"], "RnJvbT0lMkIx");
        let req = lambda_http::request::from_str(&ev.to_string()).unwrap();
        assert_eq!(req.body().as_ref(), b"From=%2B1");
    }
}
