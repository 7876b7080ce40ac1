//! `kefu-local`: serves the stack described by a manifest (see `localstack/run.sh`).
//!
//! ```text
//! kefu-local --manifest localstack/.state/kefu-local.json [--listen 127.0.0.1:3000]
//!            [--fake-wechat 127.0.0.1:3100] [--fake-meta 127.0.0.1:3101] [--fake-wecom 127.0.0.1:3103]
//!            [--fake-sms 127.0.0.1:3102]
//!            [--seed-demo] [--demo-out localstack/demo.json] [--no-schedules]
//! ```
//!
//! The fake WeChat API, the fake Graph API (Messenger) and the fake WeCom API are served by default on the
//! addresses above; `--no-fake-wechat` / `--no-fake-meta` / `--no-fake-wecom` turn them off. With `--seed-demo` the demo account is written; in the
//! international edition it has a Messenger channel too, whose page access token is registered with the fake
//! Graph API.
//!
//! The fake SMS APIs (Twilio, Aliyun, Tencent Cloud; `--no-fake-sms` turns them off) are served on
//! `127.0.0.1:3102`; the demo's SMS channels (Twilio in the international edition, Aliyun and Tencent in the
//! mainland one) have their credentials registered with them.

use kefu_local::manifest::Manifest;
use kefu_local::seed::WechatSeed;
use kefu_local::{start, HostOptions};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: kefu-local --manifest PATH [--listen ADDR] [--fake-wechat ADDR | --no-fake-wechat] [--fake-meta ADDR | --no-fake-meta] [--fake-wecom ADDR | --no-fake-wecom] [--fake-sms ADDR | --no-fake-sms] [--seed-demo] [--demo-out PATH] [--no-schedules]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws=warn,hyper=warn".into()),
        )
        .with_target(false)
        .init();
    let mut manifest = None;
    let mut listen: SocketAddr = "127.0.0.1:3000".parse().expect("address");
    let mut fake: Option<SocketAddr> = Some("127.0.0.1:3100".parse().expect("address"));
    let mut fake_meta: Option<SocketAddr> = Some("127.0.0.1:3101".parse().expect("address"));
    let mut fake_wecom: Option<SocketAddr> = Some("127.0.0.1:3103".parse().expect("address"));
    let mut fake_sms: Option<SocketAddr> = Some("127.0.0.1:3102".parse().expect("address"));
    let mut seed_demo = false;
    let mut demo_out: Option<PathBuf> = None;
    let mut schedules = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--manifest" => manifest = Some(PathBuf::from(val())),
            "--listen" => listen = val().parse().unwrap_or_else(|_| usage()),
            "--fake-wechat" => fake = Some(val().parse().unwrap_or_else(|_| usage())),
            "--no-fake-wechat" => fake = None,
            "--fake-meta" => fake_meta = Some(val().parse().unwrap_or_else(|_| usage())),
            "--no-fake-meta" => fake_meta = None,
            "--fake-wecom" => fake_wecom = Some(val().parse().unwrap_or_else(|_| usage())),
            "--no-fake-wecom" => fake_wecom = None,
            "--fake-sms" => fake_sms = Some(val().parse().unwrap_or_else(|_| usage())),
            "--no-fake-sms" => fake_sms = None,
            "--seed-demo" => seed_demo = true,
            "--demo-out" => demo_out = Some(PathBuf::from(val())),
            "--no-schedules" => schedules = false,
            _ => usage(),
        }
    }
    let manifest = Manifest::load(&manifest.unwrap_or_else(|| usage())).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let running = start(HostOptions {
        manifest,
        http_addr: listen,
        fake_wechat_addr: fake,
        fake_meta_addr: fake_meta,
        fake_wecom_addr: fake_wecom,
        fake_sms_addr: fake_sms,
        pollers: true,
        schedules,
    })
    .await
    .unwrap_or_else(|e| {
        eprintln!("cannot start: {e}");
        std::process::exit(1)
    });
    let base = running.base_url();
    println!("kefu local host: API on {base}");
    if let Some(url) = running.fake_wechat_url() {
        println!("fake WeChat API on {url} (calls recorded at {url}/_sent)");
    }
    if let Some(url) = running.fake_wecom_url() {
        println!("fake WeCom API on {url} (calls recorded at {url}/_sent)");
    }
    if let Some(url) = running.fake_sms_url() {
        println!("fake SMS APIs (Twilio, Aliyun, Tencent Cloud) on {url} (calls recorded at {url}/_sent)");
    }
    if let Some(url) = running.fake_meta_url() {
        println!(
            "fake Graph API (Messenger) on {url}/{} (calls recorded at {url}/_sent)",
            kefu_local::FAKE_GRAPH_VERSION
        );
    }
    for (logical, spec) in &running.manifest.functions {
        for r in &spec.http {
            println!("  {:<6} {base}{}  → {logical}", r.method, r.path);
        }
        for q in &spec.sqs {
            println!("  SQS    {}  → {logical}", q.queue_url);
        }
        for s in &spec.schedules {
            println!(
                "  {}  → {logical}  (now: curl -X POST {base}/_local/invoke/{logical})",
                s.expression
            );
        }
    }
    if seed_demo {
        let demo = WechatSeed::demo_for_edition(&running.manifest.edition);
        // Web chat: pages of this host (the demo page) may use the demo site, whatever address it listens on.
        let demo = {
            let mut d = demo;
            if let Some(w) = d
                .webchat
                .as_mut()
                .filter(|w| !w.allowed_origins.contains(&base))
            {
                w.allowed_origins.push(base.clone());
            }
            d
        };
        // Twilio signs the URL it posts to: the demo number's webhook is this host's.
        let demo = {
            let mut d = demo;
            for s in d.sms.iter_mut().filter(|s| s.public_url.is_some()) {
                s.public_url = Some(format!("{base}/sms/twilio/{}", s.channel_id));
            }
            d
        };
        if let Err(e) = demo.apply(&running.clients, &running.env).await {
            eprintln!("seeding the demo failed: {e}");
            std::process::exit(1);
        }
        if let (Some(m), Some((fake, _))) = (&demo.messenger, &running.fake_meta) {
            fake.register_token(&m.page_access_token, &m.page_id);
        }
        if let Some((fake, _)) = &running.fake_sms {
            for s in &demo.sms {
                fake.register(s.provider(), &s.key_id, &s.key_secret);
            }
        }
        let mut channels = vec![json!({
            "channel_id": demo.channel_id,
            "kind": "wechat_oa",
            "webhook_url": format!("{base}/wechat/{}", demo.channel_id),
            "token": demo.token,
            "app_id": demo.app_id,
            "encoding_aes_key": demo.encoding_aes_key,
        })];
        if let Some(m) = &demo.messenger {
            channels.push(json!({
                "channel_id": m.channel_id,
                "kind": "messenger",
                "webhook_url": format!("{base}/messenger/{}", m.channel_id),
                "page_id": m.page_id,
                "verify_token": m.verify_token,
                "app_secret": m.app_secret,
                "page_access_token": m.page_access_token,
            }));
        }
        if let Some(w) = &demo.wecom {
            channels.push(json!({
                "channel_id": w.channel_id,
                "kind": "wecom",
                "webhook_url": format!("{base}/wecom/{}", w.channel_id),
                "corp_id": w.corp_id,
                "agent_id": w.agent_id,
                "token": w.token,
                "encoding_aes_key": w.encoding_aes_key,
                "business_hours": demo.business_hours,
            }));
        }
        if let Some(w) = &demo.webchat {
            channels.push(json!({
                "channel_id": w.channel_id,
                "kind": "web_chat",
                "site_key": w.site_key,
                "allowed_origins": w.allowed_origins,
                "widget_url": format!("{base}/webchat/widget.js"),
                "api": format!("{base}/webchat/{}", w.channel_id),
                "demo_page": format!("{base}{}", kefu_local::webchat_demo::PATH),
            }));
        }
        for s in &demo.sms {
            channels.push(json!({
                "channel_id": s.channel_id,
                "kind": s.kind.as_str(),
                "webhook_url": format!("{base}{}", s.webhook_path()),
                // Twilio: the number; Tencent: the SmsSdkAppId; Aliyun: a label.
                "external_id": s.external_id,
                "credentials": s.secrets_json(),
            }));
        }
        let info = json!({
            "api": base,
            "aws_endpoint": running.manifest.endpoint,
            "region": running.manifest.region,
            "fake_wechat": running.fake_wechat_url(),
            "fake_meta": running.fake_meta_url(),
            "fake_wecom": running.fake_wecom_url(),
            "fake_sms": running.fake_sms_url(),
            "account_id": demo.account_id,
            "channels": channels,
            "agents": demo.agents.iter().map(|a| json!({
                "agent_id": a.agent_id,
                "name": a.display_name,
                "token": a.token,
                "presence_url": format!("{base}/accounts/{}/agents/{}/presence", demo.account_id, a.agent_id),
            })).collect::<Vec<_>>(),
        });
        println!("\ndemo account '{}' seeded:", demo.account_id);
        println!(
            "  WeChat channel {}: webhook {base}/wechat/{}  token {}",
            demo.channel_id, demo.channel_id, demo.token
        );
        if let Some(m) = &demo.messenger {
            println!(
                "  Messenger channel {}: webhook {base}/messenger/{}  page {}  verify token {}  app secret {}",
                m.channel_id, m.channel_id, m.page_id, m.verify_token, m.app_secret
            );
        }
        if let Some(w) = &demo.wecom {
            println!(
                "  WeCom channel {}: callback {base}/wecom/{}  corp {}  agent {}  token {}  (business hours: Asia/Shanghai, Mon-Fri 09:00-18:00)",
                w.channel_id, w.channel_id, w.corp_id, w.agent_id, w.token
            );
        }
        if let Some(w) = &demo.webchat {
            println!(
                "  web chat channel {}: site key {}  demo page {base}{}",
                w.channel_id,
                w.site_key,
                kefu_local::webchat_demo::PATH
            );
        }
        for s in &demo.sms {
            println!(
                "  SMS channel {} ({}): webhook {base}{}",
                s.channel_id,
                s.kind.as_str(),
                s.webhook_path()
            );
        }
        for a in &demo.agents {
            println!(
                "  agent {} ({}): token {}",
                a.agent_id, a.display_name, a.token
            );
        }
        if let Some(path) = demo_out {
            if let Err(e) = std::fs::write(
                &path,
                serde_json::to_string_pretty(&info).unwrap_or_default(),
            ) {
                eprintln!("cannot write {}: {e}", path.display());
            } else {
                println!("  written to {}", path.display());
            }
        }
    }
    println!("\nready; Ctrl-C stops");
    let _ = tokio::signal::ctrl_c().await;
    drop(running);
}
