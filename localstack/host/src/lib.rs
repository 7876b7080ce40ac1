//! The local host: runs every function of `infra/template.yaml` on one machine against the AWS emulator,
//! the way AWS would run them.
//!
//! - **HTTP API** (see [`gateway`]): the template's routes on one address, as API Gateway maps them.
//! - **SQS event sources**: a poller per queue mapping receives batches (short polls every 150 ms), invokes the
//!   function with the SQS event, deletes what succeeded and leaves batch item failures to reappear after
//!   the queue's visibility timeout; the emulator moves a message to its DLQ after `maxReceiveCount`.
//! - **Schedules**: `rate(...)` schedules fire on their period (optional), and any function can be invoked
//!   on demand with `POST /_local/invoke/{FunctionLogicalId}`.
//! - **Fake channel APIs** (see [`fake_wechat`], [`fake_meta`] and [`fake_wecom`]) that record what kefu sends.
//! - **Fake SMS APIs** (see [`fake_sms`]): Twilio, Aliyun and Tencent Cloud SMS on one address.
//!
//! The function list, environment, routes, queues and schedules come from the manifest written by
//! `localstack/deploy.py` from the template, so the host serves what would be deployed.

pub mod fake_meta;
pub mod fake_sms;
pub mod fake_wechat;
pub mod fake_wecom;
pub mod fakes;
pub mod functions;
pub mod gateway;
pub mod manifest;
pub mod seed;
pub mod webchat_demo;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use functions::Function;
use kefu_aws::{Clients, Env};
use manifest::{FunctionSpec, HttpRoute, Manifest};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

pub struct Host {
    functions: HashMap<String, Function>,
    specs: BTreeMap<String, FunctionSpec>,
    routes: Vec<(String, HttpRoute)>,
    region: String,
}

impl Host {
    pub fn routes(&self) -> impl Iterator<Item = (&String, &HttpRoute)> {
        self.routes.iter().map(|(l, r)| (l, r))
    }

    pub fn timeout(&self, logical: &str) -> u64 {
        self.specs.get(logical).map(|s| s.timeout).unwrap_or(10)
    }

    /// The event a function gets when invoked without one: its schedule's event, else `{}`.
    pub fn default_event(&self, logical: &str) -> Value {
        match self.specs.get(logical) {
            Some(s) if !s.schedules.is_empty() => scheduled_event(&self.region),
            _ => json!({}),
        }
    }

    /// Invokes a function by its logical id in the template.
    pub async fn invoke(&self, logical: &str, event: Value) -> Result<Value, String> {
        let f = self
            .functions
            .get(logical)
            .ok_or_else(|| format!("no function {logical} in this stack"))?;
        f.invoke(event).await
    }
}

#[derive(Debug, Clone)]
pub struct HostOptions {
    pub manifest: Manifest,
    pub http_addr: SocketAddr,
    /// Where to serve the fake WeChat API (`None`: don't; then `WECHAT_API_BASE` is used as configured).
    pub fake_wechat_addr: Option<SocketAddr>,
    /// Where to serve the fake Graph API for Messenger (`None`: don't; then `MESSENGER_API_BASE` is used as
    /// configured).
    pub fake_meta_addr: Option<SocketAddr>,
    /// Where to serve the fake WeCom API (`None`: don't; then `WECOM_API_BASE` is used as configured).
    pub fake_wecom_addr: Option<SocketAddr>,
    /// Where to serve the fake SMS APIs (Twilio, Aliyun, Tencent; `None`: don't; then `TWILIO_API_BASE`,
    /// `ALIYUN_SMS_API_BASE` and `TENCENT_SMS_API_BASE` are used as configured).
    pub fake_sms_addr: Option<SocketAddr>,
    /// Poll the template's SQS event sources.
    pub pollers: bool,
    /// Fire `rate(...)` schedules on their period.
    pub schedules: bool,
}

impl HostOptions {
    /// Everything on ephemeral 127.0.0.1 ports, every fake channel API served (nothing reaches a real
    /// channel), SQS pollers on, schedules off (fired on demand): the setup of tests.
    pub fn ephemeral(manifest: Manifest) -> HostOptions {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        HostOptions {
            manifest,
            http_addr: any,
            fake_wechat_addr: Some(any),
            fake_meta_addr: Some(any),
            fake_wecom_addr: Some(any),
            fake_sms_addr: Some(any),
            pollers: true,
            schedules: false,
        }
    }
}

/// A running host; dropping it stops everything it started.
pub struct Running {
    pub host: Arc<Host>,
    pub http_addr: SocketAddr,
    pub fake_wechat: Option<(fake_wechat::FakeWechat, SocketAddr)>,
    pub fake_meta: Option<(fake_meta::FakeMeta, SocketAddr)>,
    pub fake_wecom: Option<(fake_wecom::FakeWecom, SocketAddr)>,
    pub fake_sms: Option<(fake_sms::FakeSms, SocketAddr)>,
    pub clients: Clients,
    /// The environment the functions share (resource names from the template).
    pub env: Env,
    pub manifest: Manifest,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }
    pub fn fake_wechat_url(&self) -> Option<String> {
        self.fake_wechat
            .as_ref()
            .map(|(_, a)| format!("http://{a}"))
    }
    /// The fake Graph API's root (its `/_sent`, `/_tokens`, `/_fail` live here).
    pub fn fake_meta_url(&self) -> Option<String> {
        self.fake_meta.as_ref().map(|(_, a)| format!("http://{a}"))
    }
    /// The fake WeCom API's root (its `/_sent` and `/_fail` live here).
    pub fn fake_wecom_url(&self) -> Option<String> {
        self.fake_wecom.as_ref().map(|(_, a)| format!("http://{a}"))
    }
    /// The fake SMS APIs' root (its `/_sent`, `/_fail` and `/_credentials` live here).
    pub fn fake_sms_url(&self) -> Option<String> {
        self.fake_sms.as_ref().map(|(_, a)| format!("http://{a}"))
    }
}

/// AWS configuration for the emulator: its endpoint and region; dummy credentials unless real ones are set.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()));
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "kefu-local",
        ));
    }
    loader.load().await
}

pub async fn start(opts: HostOptions) -> Result<Running, String> {
    let sdk = sdk_config(&opts.manifest.endpoint, &opts.manifest.region).await;
    let clients = Clients::new(&sdk);
    let mut tasks = Vec::new();

    let fake = match opts.fake_wechat_addr {
        Some(addr) => {
            let fake = fake_wechat::FakeWechat::default();
            let (bound, task) = fake
                .serve(addr)
                .await
                .map_err(|e| format!("fake WeChat API on {addr}: {e}"))?;
            tasks.push(task);
            Some((fake, bound))
        }
        None => None,
    };
    let meta = match opts.fake_meta_addr {
        Some(addr) => {
            let fake = fake_meta::FakeMeta::default();
            let (bound, task) = fake
                .serve(addr)
                .await
                .map_err(|e| format!("fake Graph API on {addr}: {e}"))?;
            tasks.push(task);
            Some((fake, bound))
        }
        None => None,
    };
    let wecom = match opts.fake_wecom_addr {
        Some(addr) => {
            let fake = fake_wecom::FakeWecom::default();
            let (bound, task) = fake
                .serve(addr)
                .await
                .map_err(|e| format!("fake WeCom API on {addr}: {e}"))?;
            tasks.push(task);
            Some((fake, bound))
        }
        None => None,
    };
    let sms = match opts.fake_sms_addr {
        Some(addr) => {
            let fake = fake_sms::FakeSms::default();
            let (bound, task) = fake
                .serve(addr)
                .await
                .map_err(|e| format!("fake SMS APIs on {addr}: {e}"))?;
            tasks.push(task);
            Some((fake, bound))
        }
        None => None,
    };

    let mut functions = HashMap::new();
    let mut routes = Vec::new();
    let mut shared_env = None;
    for (logical, spec) in &opts.manifest.functions {
        let mut env = spec.environment.clone();
        if let Some((_, addr)) = &fake {
            env.insert("WECHAT_API_BASE".into(), format!("http://{addr}"));
        }
        if let Some((_, addr)) = &meta {
            env.insert(
                "MESSENGER_API_BASE".into(),
                format!("http://{addr}/{}", FAKE_GRAPH_VERSION),
            );
        }
        if let Some((_, addr)) = &wecom {
            env.insert("WECOM_API_BASE".into(), format!("http://{addr}"));
        }
        if let Some((_, addr)) = &sms {
            for var in [
                "TWILIO_API_BASE",
                "ALIYUN_SMS_API_BASE",
                "TENCENT_SMS_API_BASE",
            ] {
                env.insert(var.into(), format!("http://{addr}"));
            }
        }
        match Function::build(&spec.binary, &clients, &env)? {
            Some(f) => {
                if shared_env.is_none() && f.is_http() {
                    shared_env = Env::from_map(&env).ok();
                }
                functions.insert(logical.clone(), f);
            }
            None => {
                tracing::warn!(function = %logical, binary = %spec.binary, "binary unknown to the local host; not served")
            }
        }
        for r in &spec.http {
            routes.push((logical.clone(), r.clone()));
        }
    }
    let env = shared_env
        .or_else(|| {
            opts.manifest
                .functions
                .values()
                .find_map(|s| Env::from_map(&s.environment).ok())
        })
        .ok_or("no function with the stack's environment in the manifest")?;
    let host = Arc::new(Host {
        functions,
        specs: opts.manifest.functions.clone(),
        routes,
        region: opts.manifest.region.clone(),
    });

    let listener = tokio::net::TcpListener::bind(opts.http_addr)
        .await
        .map_err(|e| format!("bind {}: {e}", opts.http_addr))?;
    let http_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new()
        .fallback(gateway::serve)
        .with_state(host.clone());
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }));

    if opts.pollers {
        for (logical, spec) in &opts.manifest.functions {
            if !host.functions.contains_key(logical) {
                continue;
            }
            for src in &spec.sqs {
                tasks.push(tokio::spawn(poll(
                    host.clone(),
                    clients.sqs.clone(),
                    logical.clone(),
                    src.clone(),
                    spec.timeout,
                )));
            }
        }
    }
    if opts.schedules {
        for (logical, spec) in &opts.manifest.functions {
            for s in &spec.schedules {
                if let Some(period) = manifest::rate_period(&s.expression) {
                    let (host, logical) = (host.clone(), logical.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut tick = tokio::time::interval(period);
                        tick.tick().await;
                        loop {
                            tick.tick().await;
                            if let Err(e) = host.invoke(&logical, scheduled_event(&host.region)).await {
                                tracing::warn!(function = %logical, error = %e, "scheduled invocation failed");
                            }
                        }
                    }));
                }
            }
        }
    }
    Ok(Running {
        host,
        http_addr,
        fake_wechat: fake,
        fake_meta: meta,
        fake_wecom: wecom,
        fake_sms: sms,
        clients,
        env,
        manifest: opts.manifest,
        tasks,
    })
}

/// The Graph API version in the fake's `MESSENGER_API_BASE` (the fake accepts any).
pub const FAKE_GRAPH_VERSION: &str = "v21.0";

/// The EventBridge event a schedule delivers.
pub fn scheduled_event(region: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("{:032x}", rand::random::<u128>()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region,
        "resources": [],
        "detail": {}
    })
}

/// One SQS event source mapping.
async fn poll(
    host: Arc<Host>,
    sqs: aws_sdk_sqs::Client,
    logical: String,
    src: manifest::SqsSource,
    timeout_s: u64,
) {
    let region = host.region.clone();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&src.queue_url)
            .max_number_of_messages(src.batch_size.clamp(1, 10))
            // Short polls: a long poll still pending when the host stops would leave its messages
            // invisible for the visibility timeout, delaying whoever runs next against the same queues.
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match out {
            Ok(o) => o.messages.unwrap_or_default(),
            Err(e) => {
                tracing::debug!(function = %logical, error = ?e, "receive failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(150)).await;
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, Value> = m
                    .attributes
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), Value::String(v)))
                    .collect();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "md5OfBody": m.md5_of_body,
                    "attributes": attrs,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": src.queue_arn,
                    "awsRegion": region,
                })
            })
            .collect();
        let event = json!({ "Records": records });
        let result =
            tokio::time::timeout(Duration::from_secs(timeout_s), host.invoke(&logical, event))
                .await;
        let failed: Option<Vec<String>> = match result {
            Ok(Ok(v)) if src.report_batch_item_failures => {
                serde_json::from_value::<SqsBatchResponse>(v).ok().map(|r| {
                    r.batch_item_failures
                        .into_iter()
                        .map(|f| f.item_identifier)
                        .collect()
                })
            }
            Ok(Ok(_)) => Some(Vec::new()),
            Ok(Err(e)) => {
                tracing::warn!(function = %logical, error = %e, "invocation failed; the batch will be retried");
                None
            }
            Err(_) => {
                tracing::warn!(function = %logical, "invocation timed out; the batch will be retried");
                None
            }
        };
        let Some(failed) = failed else { continue };
        for m in &messages {
            if failed
                .iter()
                .any(|f| Some(f.as_str()) == m.message_id.as_deref())
            {
                continue;
            }
            if let Some(rh) = &m.receipt_handle {
                if let Err(e) = sqs
                    .delete_message()
                    .queue_url(&src.queue_url)
                    .receipt_handle(rh)
                    .send()
                    .await
                {
                    tracing::warn!(function = %logical, error = ?e, "delete failed; the message will be processed again");
                }
            }
        }
    }
}
