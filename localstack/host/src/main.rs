//! `kefu-local`: serves the stack described by a manifest (see `localstack/run.sh`).
//!
//! ```text
//! kefu-local --manifest localstack/.state/kefu-local.json [--listen 127.0.0.1:3000]
//!            [--fake-wechat 127.0.0.1:3100] [--seed-demo] [--demo-out localstack/demo.json] [--no-schedules]
//! ```

use kefu_local::manifest::Manifest;
use kefu_local::seed::WechatSeed;
use kefu_local::{start, HostOptions};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: kefu-local --manifest PATH [--listen ADDR] [--fake-wechat ADDR] [--seed-demo] [--demo-out PATH] [--no-schedules]"
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
        let demo = WechatSeed::demo();
        if let Err(e) = demo.apply(&running.clients, &running.env).await {
            eprintln!("seeding the demo failed: {e}");
            std::process::exit(1);
        }
        let info = json!({
            "api": base,
            "aws_endpoint": running.manifest.endpoint,
            "region": running.manifest.region,
            "fake_wechat": running.fake_wechat_url(),
            "account_id": demo.account_id,
            "channels": [{
                "channel_id": demo.channel_id,
                "kind": "wechat_oa",
                "webhook_url": format!("{base}/wechat/{}", demo.channel_id),
                "token": demo.token,
                "app_id": demo.app_id,
                "encoding_aes_key": demo.encoding_aes_key,
            }],
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
