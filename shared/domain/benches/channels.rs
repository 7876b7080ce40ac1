//! Webhook hot paths of the other channels' codecs, on their published sample bodies: everything a webhook
//! does with a request before queueing it (verify, decrypt where the channel encrypts, parse).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kefu_domain::channels::messenger;
use kefu_domain::channels::sms::{aliyun, tencent, twilio, InboundSms};
use kefu_domain::channels::webchat;
use kefu_domain::channels::wechat::{self, Cipher};
use kefu_domain::channels::wecom;

/// Meta's batched notification sample (two entries).
const MESSENGER_BODY: &[u8] =
    include_bytes!("../tests/fixtures/messenger/batched_two_entries.json");
/// Twilio inbound SMS form and its signature (see tests/fixtures/sms/twilio_vectors.txt).
const TWILIO_FORM: &[u8] = include_bytes!("../tests/fixtures/sms/twilio_inbound_sms.form");
const TWILIO_URL: &str =
    "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/sms/twilio?channel=ch_7Q2";
const TWILIO_TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015";
const TWILIO_SIGNATURE: &str = "tvDD/gcnAI88aD6mTf/f3VK6SWo=";
const ALIYUN_BODY: &[u8] = include_bytes!("../tests/fixtures/sms/aliyun_sms_up_two.json");
const TENCENT_BODY: &[u8] = include_bytes!("../tests/fixtures/sms/tencent_sms_reply.json");
/// WeCom's published callback sample (WXBizMsgCrypt sample).
const WECOM_BODY: &[u8] = include_bytes!("../tests/fixtures/wecom/callback_sample.xml");
const WECOM_TOKEN: &str = "QDG6eK";
const WECOM_CORP_ID: &str = "wx5823bf96d3bd56c7";
const WECOM_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const WECOM_SIGNATURE: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
const WECOM_TIMESTAMP: &str = "1409659813";
const WECOM_NONCE: &str = "1372623149";

/// Mini Program JSON text push (WeChat's "接收消息和事件" sample).
const MINI_PROGRAM_JSON: &[u8] = include_bytes!("../tests/fixtures/wechat/miniprogram_text.json");

fn mini_program_push(c: &mut Criterion) {
    let sig = wechat::signature("spamtest", "1409735669", "1320562132");
    let mut group = c.benchmark_group("mini_program");
    group.throughput(Throughput::Bytes(MINI_PROGRAM_JSON.len() as u64));
    group.bench_function("verify_signature_and_parse_json_push", |b| {
        b.iter(|| {
            assert!(wechat::verify_signature(
                "spamtest",
                "1409735669",
                "1320562132",
                &sig
            ));
            wechat::parse_push_json(black_box(MINI_PROGRAM_JSON)).expect("sample parses")
        })
    });
    group.finish();
}

fn web_chat_message(c: &mut Criterion) {
    let secret = b"kefu-bench-session-secret-0123456789abcdef";
    let claims = webchat::SessionClaims {
        channel_id: "demo-webchat".into(),
        visitor_id: webchat::visitor_id_from([7; 16]),
        lang: None,
        name: None,
        exp: 2_000_000_000,
    };
    let token = webchat::sign_session(secret, &claims);
    let body = br#"{"client_id":"c-0001","text":"Do you have a room for tonight?"}"#;
    let mut group = c.benchmark_group("web_chat");
    group.bench_function("verify_session_and_parse_message", |b| {
        b.iter(|| {
            webchat::verify_session(secret, black_box(&token), 1_900_000_000).expect("valid token");
            let msg: serde_json::Value = serde_json::from_slice(black_box(body)).expect("json");
            webchat::check_text(msg["text"].as_str().expect("text")).expect("text ok")
        })
    });
    group.finish();
}

fn messenger_push(c: &mut Criterion) {
    let secret = b"kefu-bench-app-secret";
    let header = messenger::sign(secret, MESSENGER_BODY);
    let mut group = c.benchmark_group("messenger");
    group.throughput(Throughput::Bytes(MESSENGER_BODY.len() as u64));
    group.bench_function("verify_signature_and_parse_batch", |b| {
        b.iter(|| {
            messenger::verify_signature(secret, black_box(MESSENGER_BODY), Some(&header))
                .expect("signed");
            messenger::parse_webhook(black_box(MESSENGER_BODY)).expect("sample parses")
        })
    });
    group.finish();
}

fn sms_push(c: &mut Criterion) {
    let mut group = c.benchmark_group("sms");
    group.bench_function("twilio_parse_verify_form", |b| {
        b.iter(|| {
            let params = twilio::parse_form(black_box(TWILIO_FORM)).expect("form");
            assert!(twilio::verify(
                TWILIO_TOKEN,
                TWILIO_URL,
                &params,
                TWILIO_SIGNATURE
            ));
            InboundSms::from_twilio(&params).expect("sms")
        })
    });
    group.bench_function("aliyun_parse_batch", |b| {
        b.iter(|| aliyun::parse_sms_up(black_box(ALIYUN_BODY)).expect("batch"))
    });
    group.bench_function("tencent_parse_reply", |b| {
        b.iter(|| tencent::parse_reply(black_box(TENCENT_BODY)).expect("reply"))
    });
    group.finish();
}

fn wecom_push(c: &mut Criterion) {
    let ciphers = [Cipher::new(WECOM_KEY, WECOM_CORP_ID).expect("sample key")];
    let mut group = c.benchmark_group("wecom");
    group.throughput(Throughput::Bytes(WECOM_BODY.len() as u64));
    group.bench_function("verify_decrypt_and_parse_callback", |b| {
        b.iter(|| {
            wecom::open_callback(
                &ciphers,
                WECOM_TOKEN,
                WECOM_TIMESTAMP,
                WECOM_NONCE,
                WECOM_SIGNATURE,
                black_box(WECOM_BODY),
            )
            .expect("sample opens")
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    mini_program_push,
    messenger_push,
    sms_push,
    wecom_push,
    web_chat_message
);
criterion_main!(benches);
