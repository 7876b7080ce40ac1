//! Webhook hot paths of the WeChat codec: a plain push (signature check + parse) and a safe-mode push
//! (msg_signature check + decrypt + parse), on WeChat's published sample bodies.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kefu_domain::channels::wechat::{
    encrypted_reply_with, open_encrypted_push, parse_push, signature, text_reply, verify_signature,
    Cipher,
};

/// "接收普通消息" text sample.
const TEXT_PUSH: &[u8] = include_bytes!("../tests/fixtures/wechat/text.xml");
/// Compatible-mode body of Tencent's WXBizMsgCrypt Python sample.
const ENCRYPTED_PUSH: &[u8] =
    include_bytes!("../tests/fixtures/wechat/safe_mode_sample_compatible.xml");
const SAMPLE_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const SAMPLE_APP_ID: &str = "wx2c2769f8efd9abc2";
const TOKEN: &str = "spamtest";
const TIMESTAMP: &str = "1409735669";
const NONCE: &str = "1320562132";
const SAMPLE_MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";

fn plain_push(c: &mut Criterion) {
    let query_signature = signature(TOKEN, TIMESTAMP, NONCE);
    let mut group = c.benchmark_group("wechat_plain");
    group.throughput(Throughput::Bytes(TEXT_PUSH.len() as u64));
    group.bench_function("verify_signature_and_parse_text_push", |b| {
        b.iter(|| {
            assert!(verify_signature(
                black_box(TOKEN),
                TIMESTAMP,
                NONCE,
                black_box(&query_signature)
            ));
            parse_push(black_box(TEXT_PUSH)).expect("sample parses")
        })
    });
    group.finish();
}

fn encrypted_push(c: &mut Criterion) {
    let ciphers = [Cipher::new(SAMPLE_KEY, SAMPLE_APP_ID).expect("sample key")];
    let mut group = c.benchmark_group("wechat_safe_mode");
    group.throughput(Throughput::Bytes(ENCRYPTED_PUSH.len() as u64));
    group.bench_function("verify_msg_signature_decrypt_and_parse", |b| {
        b.iter(|| {
            open_encrypted_push(
                &ciphers,
                TOKEN,
                TIMESTAMP,
                NONCE,
                SAMPLE_MSG_SIGNATURE,
                black_box(ENCRYPTED_PUSH),
            )
            .expect("sample opens")
        })
    });
    let reply = text_reply(
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "gh_10f6c3c3ac5a",
        1409735670,
        "您好，请稍等。",
    );
    group.bench_function("encrypted_text_reply", |b| {
        b.iter(|| {
            encrypted_reply_with(
                &ciphers[0],
                TOKEN,
                black_box(reply.as_bytes()),
                TIMESTAMP,
                NONCE,
                [7; 16],
            )
        })
    });
    group.finish();
}

criterion_group!(benches, plain_push, encrypted_push);
criterion_main!(benches);
