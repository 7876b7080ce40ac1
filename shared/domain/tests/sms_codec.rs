//! The SMS codecs against the providers' published samples and vectors, Twilio's own library, and
//! independently computed values. Every fixture's source is listed in `tests/fixtures/sms/README.md`.

use std::path::PathBuf;

use kefu_domain::channels::sms::segments::{
    encoding, mainland_billed_parts, segments, split_for_provider, split_for_provider_signed,
    split_to_fit, utf16_len, Encoding, Segments,
};
use kefu_domain::channels::sms::twilio::{
    self, check_signature, encode_form, messages_url, parse_form, send_form, twiml_empty, verify,
    Sender, TWIML_CONTENT_TYPE,
};
use kefu_domain::channels::sms::{
    aliyun, check_url_token, decode_event_body, tencent, verify_url_token, InboundSms, SmsError,
    SmsProvider, MAX_BATCH_BYTES, MAX_BODY_BYTES,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sms")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Tab-separated rows of a generated vectors file, comments skipped.
fn vectors(name: &str) -> Vec<Vec<String>> {
    String::from_utf8(fixture(name))
        .expect("UTF-8")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn mainland_vector(kind: &str, input: &str) -> String {
    vectors("mainland_vectors.txt")
        .into_iter()
        .find(|row| row[0] == kind && row[1] == input)
        .unwrap_or_else(|| panic!("no {kind} vector for {input}"))[2]
        .clone()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn malformed<T: std::fmt::Debug>(result: Result<T, SmsError>, needle: &str) {
    match result {
        Err(SmsError::Malformed(reason)) => assert!(
            reason.contains(needle),
            "expected a reason mentioning {needle:?}, got {reason:?}"
        ),
        other => panic!("expected Malformed({needle:?}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------
// Twilio signature
// ---------------------------------------------------------------------------------------------------

const SECURITY_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

fn security_params() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

#[test]
fn twilio_security_page_vector() {
    let expected = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    assert_eq!(
        twilio::signature("12345", SECURITY_URL, &security_params()),
        expected
    );
    let mut shuffled = security_params();
    shuffled.reverse();
    assert_eq!(
        twilio::signature("12345", SECURITY_URL, &shuffled),
        expected
    );
    assert!(verify("12345", SECURITY_URL, &shuffled, expected));
    assert!(!verify("12346", SECURITY_URL, &shuffled, expected));
}

#[test]
fn twilio_repeated_parameters_sort_their_values() {
    // twilio-python tests/unit/test_request_validator.py, test_compute_signature_duplicate_*.
    let expected = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
    let params = pairs(&[
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
    ]);
    assert_eq!(twilio::signature("12345", SECURITY_URL, &params), expected);
    let reordered = pairs(&[
        ("Digits", "1234"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Sid", "CA123"),
    ]);
    assert!(verify("12345", SECURITY_URL, &reordered, expected));
}

#[test]
fn twilio_port_variants_like_the_official_library() {
    // twilio-python tests/unit/test_request_validator.py, test_validation_{removes,adds}_port_on_*.
    let params = security_params();
    let with_port = SECURITY_URL.replace(".com", ".com:1234");
    assert!(verify(
        "12345",
        &with_port,
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    let http_with_port = with_port.replace("https", "http");
    assert!(verify(
        "12345",
        &http_with_port,
        &params,
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
    ));
    assert!(verify(
        "12345",
        SECURITY_URL,
        &params,
        "kvajT1Ptam85bY51eRf/AJRuM3w="
    ));
    assert!(verify(
        "12345",
        &SECURITY_URL.replace("https", "http"),
        &params,
        "0ZXoZLH/DfblKGATFgpif+LLRf4="
    ));
}

#[test]
fn twilio_fixture_forms_verify_after_parsing() {
    let rows = vectors("twilio_vectors.txt");
    assert_eq!(rows.len(), 3);
    for row in rows {
        let (file, url, token, expected) = (&row[0], &row[1], &row[2], &row[3]);
        let params = parse_form(&fixture(file)).unwrap();
        assert_eq!(&twilio::signature(token, url, &params), expected, "{file}");
        assert!(verify(token, url, &params, expected), "{file}");
        assert_eq!(check_signature(token, url, &params, Some(expected)), Ok(()));
    }
}

#[test]
fn twilio_differently_encoded_body_carries_the_same_parameters() {
    let mut plus = parse_form(&fixture("twilio_inbound_sms.form")).unwrap();
    let mut percent = parse_form(&fixture("twilio_inbound_sms_reencoded.form")).unwrap();
    assert_ne!(plus, percent, "order and encoding differ on the wire");
    plus.sort();
    percent.sort();
    assert_eq!(plus, percent);
}

#[test]
fn twilio_forgeries_fail() {
    let row = &vectors("twilio_vectors.txt")[0];
    let (url, token, good) = (&row[1], &row[2], &row[3]);
    let params = parse_form(&fixture("twilio_inbound_sms.form")).unwrap();
    assert!(verify(token, url, &params, good));

    let mut tampered = params.clone();
    for (name, value) in tampered.iter_mut() {
        if name == "Body" {
            value.push('!');
        }
    }
    assert!(!verify(token, url, &tampered, good));

    let mut extra = params.clone();
    extra.push(("Injected".into(), "1".into()));
    assert!(!verify(token, url, &extra, good));

    let mut dropped = params.clone();
    dropped.retain(|(n, _)| n != "ToCity");
    assert!(
        !verify(token, url, &dropped, good),
        "empty parameters are signed too"
    );

    assert!(!verify("0".repeat(32).as_str(), url, &params, good));
    let internal = "https://localhost:9000/sms/twilio?channel=ch_7Q2";
    assert!(!verify(token, internal, &params, good));
    assert!(!verify(
        token,
        &url.replace("ch_7Q2", "ch_7Q3"),
        &params,
        good
    ));

    let mut flipped = good.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    assert!(!verify(
        token,
        url,
        &params,
        std::str::from_utf8(&flipped).unwrap()
    ));
    assert!(!verify(token, url, &params, ""));
    assert!(!verify(
        token,
        url,
        &params,
        &twilio::signature(token, url, &tampered)
    ));

    let err = check_signature(token, url, &params, None).unwrap_err();
    assert_eq!(err, SmsError::BadSignature);
    assert_eq!(err.http_status(), 403);
    assert_eq!(
        check_signature(token, url, &tampered, Some(good)),
        Err(SmsError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------------
// Twilio inbound parsing, TwiML, send form
// ---------------------------------------------------------------------------------------------------

#[test]
fn twilio_inbound_sms() {
    let params = parse_form(&fixture("twilio_inbound_sms.form")).unwrap();
    let sms = InboundSms::from_twilio(&params).unwrap();
    assert_eq!(
        sms,
        InboundSms {
            provider: SmsProvider::Twilio,
            message_id: "twilio:SM8f1c4b2a9d3e4f5a6b7c8d9e0f1a2b3c".into(),
            from: "+14155550123".into(),
            to: "+14155550100".into(),
            text: "Where is my order? 订单 #42 – thanks!".into(),
            received_at_s: None,
            media: vec![],
            sign_name: None,
        }
    );
    let reencoded = parse_form(&fixture("twilio_inbound_sms_reencoded.form")).unwrap();
    assert_eq!(InboundSms::from_twilio(&reencoded).unwrap(), sms);
}

#[test]
fn twilio_inbound_mms_media() {
    let params = parse_form(&fixture("twilio_inbound_mms.form")).unwrap();
    let sms = InboundSms::from_twilio(&params).unwrap();
    let media_url = |me: &str| {
        format!(
            "https://api.twilio.com/2010-04-01/Accounts/AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/Messages/MM4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a/Media/{me}"
        )
    };
    assert_eq!(sms.message_id, "twilio:MM4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a");
    assert_eq!(sms.from, "+12125550199");
    assert_eq!(sms.text, "");
    assert_eq!(
        sms.media,
        vec![
            (
                media_url("ME0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"),
                "image/jpeg".to_owned()
            ),
            (
                media_url("ME9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"),
                "image/png".to_owned()
            ),
        ]
    );
}

#[test]
fn twilio_malformed_inbound() {
    let parse = |body: &str| InboundSms::from_twilio(&parse_form(body.as_bytes()).unwrap());
    malformed(parse("From=%2B1&To=%2B2&Body=hi"), "MessageSid");
    malformed(parse("MessageSid=&From=%2B1&To=%2B2"), "MessageSid");
    malformed(parse("MessageSid=SM1&To=%2B2"), "From");
    malformed(parse("MessageSid=SM1&From=%2B1"), "To");
    malformed(
        parse("MessageSid=SM1&From=%2B1&To=%2B2&NumMedia=1"),
        "MediaUrl0",
    );
    malformed(
        parse("MessageSid=SM1&From=%2B1&To=%2B2&NumMedia=two"),
        "NumMedia",
    );
    malformed(
        parse("MessageSid=SM1&From=%2B1&To=%2B2&NumMedia=11"),
        "NumMedia",
    );
    let ok = parse("MessageSid=SM1&From=%2B1&To=%2B2").unwrap();
    assert_eq!((ok.text.as_str(), ok.media.len()), ("", 0));
}

#[test]
fn twilio_form_limits_and_encoding_errors() {
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let err = parse_form(&big).unwrap_err();
    assert_eq!(err, SmsError::TooLarge);
    assert_eq!(err.http_status(), 400);
    assert!(parse_form(&big[..MAX_BODY_BYTES]).is_ok());
    let err = parse_form(b"Body=%C3%28").unwrap_err();
    assert!(matches!(err, SmsError::Malformed(_)));
    assert_eq!(err.http_status(), 400);
}

#[test]
fn api_gateway_base64_body() {
    let raw = fixture("twilio_inbound_sms.form");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
    assert_eq!(
        decode_event_body(&encoded, true, MAX_BODY_BYTES).unwrap(),
        raw
    );
    assert_eq!(
        decode_event_body(&encoded, true, raw.len() - 1),
        Err(SmsError::TooLarge)
    );
}

#[test]
fn twiml_acknowledgement() {
    assert_eq!(
        twiml_empty(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#
    );
    assert_eq!(TWIML_CONTENT_TYPE, "text/xml");
}

#[test]
fn twilio_send_form() {
    let form = send_form(
        "+8613800000000",
        Sender::From("+14155550100"),
        "Hello 你好!",
        None,
    );
    assert_eq!(
        form,
        pairs(&[
            ("To", "+8613800000000"),
            ("From", "+14155550100"),
            ("Body", "Hello 你好!")
        ])
    );
    // Expected text from Python's urllib.parse.urlencode over the same pairs.
    assert_eq!(
        encode_form(&form),
        "To=%2B8613800000000&From=%2B14155550100&Body=Hello+%E4%BD%A0%E5%A5%BD%21"
    );
    assert_eq!(parse_form(encode_form(&form).as_bytes()).unwrap(), form);

    let form = send_form(
        "+14155550123",
        Sender::MessagingService("MG0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"),
        "Thanks",
        Some("https://example.com/sms/status"),
    );
    assert_eq!(
        form,
        pairs(&[
            ("To", "+14155550123"),
            ("MessagingServiceSid", "MG0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"),
            ("Body", "Thanks"),
            ("StatusCallback", "https://example.com/sms/status"),
        ])
    );
    assert_eq!(
        messages_url("AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"),
        "https://api.twilio.com/2010-04-01/Accounts/AC1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d/Messages.json"
    );
}

// ---------------------------------------------------------------------------------------------------
// Aliyun SmsUp
// ---------------------------------------------------------------------------------------------------

fn beijing(text: &str) -> Option<i64> {
    Some(mainland_vector("beijing", text).parse().unwrap())
}

#[test]
fn aliyun_batch_of_two() {
    let batch = aliyun::parse_sms_up(&fixture("aliyun_sms_up_two.json")).unwrap();
    assert_eq!(
        batch,
        vec![
            InboundSms {
                provider: SmsProvider::Aliyun,
                message_id: "aliyun:1234567890".into(),
                from: "+8613811110000".into(),
                to: "1234".into(),
                text: "内容".into(),
                received_at_s: beijing("2017-09-01 00:00:00"),
                media: vec![],
                sign_name: None,
            },
            InboundSms {
                provider: SmsProvider::Aliyun,
                message_id: "aliyun:1234567891".into(),
                from: "+8613900000001".into(),
                to: "1234".into(),
                text: "这是一条上行短信".into(),
                received_at_s: beijing("2017-01-01 00:00:00"),
                media: vec![],
                sign_name: Some("签名".into()),
            },
        ]
    );
}

#[test]
fn aliyun_older_sample_with_compact_time() {
    let batch = aliyun::parse_sms_up(&fixture("aliyun_sms_up_compact_time.json")).unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].from, "+8618612345678");
    assert_eq!(batch[0].message_id, "aliyun:1234567890");
    assert_eq!(batch[0].received_at_s, beijing("20170901000000"));
}

#[test]
fn aliyun_acknowledgement() {
    assert_eq!(aliyun::ACK_BODY, r#"{"code":0,"msg":"接收成功"}"#);
    let ack: serde_json::Value = serde_json::from_str(aliyun::ACK_BODY).unwrap();
    assert_eq!(ack["code"], 0);
}

#[test]
fn aliyun_phone_number_forms() {
    let one = |phone: &str| {
        let body = format!(
            r#"[{{"phone_number":"{phone}","content":"x","send_time":"2017-09-01 00:00:00","dest_code":"1","sequence_id":1}}]"#
        );
        aliyun::parse_sms_up(body.as_bytes()).map(|mut v| v.remove(0).from)
    };
    assert_eq!(one("13800000000").unwrap(), "+8613800000000");
    assert_eq!(one("8613800000000").unwrap(), "+8613800000000");
    assert_eq!(one("008613800000000").unwrap(), "+8613800000000");
    assert_eq!(one("+85291234567").unwrap(), "+85291234567");
    // The current documentation sample masks the number; a real push never does.
    malformed(one("1381111****"), "phone_number");
    malformed(one(""), "phone_number");
    malformed(one("+"), "phone_number");
    malformed(one("+中国"), "phone_number");
}

#[test]
fn aliyun_malformed_batches() {
    let parse = |body: &str| aliyun::parse_sms_up(body.as_bytes());
    let good = r#""phone_number":"13800000000","content":"x","send_time":"2017-09-01 00:00:00","dest_code":"1""#;
    malformed(parse("[{"), "invalid JSON");
    malformed(parse(""), "invalid JSON");
    malformed(
        parse(&format!("{{{good},\"sequence_id\":1}}")),
        "not a JSON array",
    );
    malformed(parse("[1]"), "message 0 is not an object");
    malformed(parse(&format!("[{{{good}}}]")), "missing sequence_id");
    malformed(
        parse(&format!("[{{{good},\"sequence_id\":true}}]")),
        "sequence_id",
    );
    malformed(
        parse(&format!("[{{{good},\"sequence_id\":-1}}]")),
        "sequence_id",
    );
    malformed(
        parse(&format!("[{{{good},\"sequence_id\":1.5}}]")),
        "sequence_id",
    );
    malformed(
        parse(&format!("[{{{good},\"sequence_id\":\"\"}}]")),
        "sequence_id",
    );
    malformed(
        parse(r#"[{"content":"x","send_time":"2017-09-01 00:00:00","sequence_id":1}]"#),
        "missing phone_number",
    );
    malformed(
        parse(
            r#"[{"phone_number":"13800000000","send_time":"2017-09-01 00:00:00","sequence_id":1}]"#,
        ),
        "missing content",
    );
    malformed(
        parse(
            r#"[{"phone_number":"13800000000","content":7,"send_time":"2017-09-01 00:00:00","sequence_id":1}]"#,
        ),
        "content",
    );
    malformed(
        parse(r#"[{"phone_number":"13800000000","content":"x","sequence_id":1}]"#),
        "missing send_time",
    );
    // The second message names its position.
    malformed(
        parse(&format!("[{{{good},\"sequence_id\":1}},{{{good}}}]")),
        "message 1: missing sequence_id",
    );
}

#[test]
fn aliyun_lenient_where_it_loses_nothing() {
    let parse = |body: &str| aliyun::parse_sms_up(body.as_bytes()).unwrap();
    assert!(parse("[]").is_empty());
    // An unreadable time keeps the message, without a time.
    let batch = parse(
        r#"[{"phone_number":"13800000000","content":"x","send_time":"yesterday","sequence_id":"9","extra":{}}]"#,
    );
    assert_eq!(batch[0].received_at_s, None);
    assert_eq!(batch[0].message_id, "aliyun:9");
    assert_eq!(batch[0].to, "", "dest_code is optional");
    // A large integer id survives exactly.
    let batch = parse(
        r#"[{"phone_number":"13800000000","content":"x","send_time":"2017-09-01 00:00:00","sequence_id":18446744073709551615}]"#,
    );
    assert_eq!(batch[0].message_id, "aliyun:18446744073709551615");
}

#[test]
fn aliyun_batch_size_limit() {
    let mut body = b"[".to_vec();
    body.resize(MAX_BATCH_BYTES + 1, b' ');
    assert_eq!(aliyun::parse_sms_up(&body), Err(SmsError::TooLarge));
}

// ---------------------------------------------------------------------------------------------------
// Tencent reply callback
// ---------------------------------------------------------------------------------------------------

#[test]
fn tencent_published_sample() {
    let sms = tencent::parse_reply(&fixture("tencent_sms_reply.json")).unwrap();
    let hash = mainland_vector("sha256_16", "用户回复的内容");
    assert_eq!(
        sms,
        InboundSms {
            provider: SmsProvider::Tencent,
            message_id: format!("tencent:8613800138000:1457336869:{hash}"),
            from: "+8613800138000".into(),
            to: "扩展码".into(),
            text: "用户回复的内容".into(),
            received_at_s: Some(1_457_336_869),
            media: vec![],
            sign_name: Some("短信签名".into()),
        }
    );
}

#[test]
fn tencent_dedupe_key_follows_the_content() {
    let sms = tencent::parse_reply(&fixture("tencent_sms_reply_no_extend.json")).unwrap();
    let hash = mainland_vector("sha256_16", "TD");
    assert_eq!(
        sms.message_id,
        format!("tencent:8613800138000:1457336869:{hash}")
    );
    assert_eq!(sms.to, "");
    // A retry (same fields, any layout) has the same key; another text or second does not.
    let retry = tencent::parse_reply(
        br#"{"time":1457336869,"text":"TD","sign":"x","nationcode":"+86","mobile":"13800138000"}"#,
    )
    .unwrap();
    assert_eq!(retry.message_id, sms.message_id);
    let other = tencent::parse_reply(
        br#"{"time":1457336869,"text":"TD ","nationcode":"86","mobile":"13800138000"}"#,
    )
    .unwrap();
    assert_ne!(other.message_id, sms.message_id);
    let later = tencent::parse_reply(
        br#"{"time":1457336870,"text":"TD","nationcode":"86","mobile":"13800138000"}"#,
    )
    .unwrap();
    assert_ne!(later.message_id, sms.message_id);
}

#[test]
fn tencent_acknowledgement() {
    assert_eq!(tencent::ACK_BODY, r#"{"result":0,"errmsg":"OK"}"#);
}

#[test]
fn tencent_malformed_replies() {
    let parse = |body: &str| tencent::parse_reply(body.as_bytes());
    malformed(parse("{"), "invalid JSON");
    malformed(parse("[]"), "not a JSON object");
    malformed(
        parse(r#"{"nationcode":"86","text":"x","time":1}"#),
        "missing mobile",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","text":"x","time":1}"#),
        "missing nationcode",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","nationcode":"86","time":1}"#),
        "missing text",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","nationcode":"86","text":1,"time":1}"#),
        "text",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","nationcode":"86","text":"x"}"#),
        "missing time",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","nationcode":"86","text":"x","time":"soon"}"#),
        "time",
    );
    malformed(
        parse(r#"{"mobile":"13800138000","nationcode":"86","text":"x","time":-5}"#),
        "time",
    );
    // The documentation's placeholder number is not a number.
    malformed(
        parse(r#"{"mobile":"13xxxxxxxxx","nationcode":"86","text":"x","time":1}"#),
        "phone number",
    );
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(tencent::parse_reply(&big), Err(SmsError::TooLarge));
}

// ---------------------------------------------------------------------------------------------------
// URL tokens (Aliyun, Tencent)
// ---------------------------------------------------------------------------------------------------

#[test]
fn url_tokens() {
    let token = "3f9a1c0e7b2d4e6f8a0b1c2d3e4f5a6b";
    assert!(verify_url_token(token, token));
    assert!(!verify_url_token(token, &token.to_uppercase()));
    assert!(!verify_url_token(token, &token[1..]));
    assert!(!verify_url_token("", ""));
    let err = check_url_token(token, Some("guess")).unwrap_err();
    assert_eq!(err, SmsError::Forbidden);
    assert_eq!(err.http_status(), 403);
    assert_eq!(check_url_token(token, None), Err(SmsError::Forbidden));
    assert_eq!(check_url_token(token, Some(token)), Ok(()));
}

// ---------------------------------------------------------------------------------------------------
// Segments and billing
// ---------------------------------------------------------------------------------------------------

fn seg(encoding: Encoding, units: usize, count: usize) -> Segments {
    Segments {
        encoding,
        units,
        count,
    }
}

#[test]
fn gsm7_segment_counts() {
    let a = |n: usize| "a".repeat(n);
    assert_eq!(segments(&a(160)), seg(Encoding::Gsm7, 160, 1));
    assert_eq!(segments(&a(161)), seg(Encoding::Gsm7, 161, 2));
    assert_eq!(segments(&a(306)), seg(Encoding::Gsm7, 306, 2));
    assert_eq!(segments(&a(307)), seg(Encoding::Gsm7, 307, 3));
    // Published examples: 350 → 153 + 153 + 44 (Aliyun), 320 → 153 + 153 + 14 (Tencent Cloud).
    assert_eq!(segments(&a(350)).count, 3);
    assert_eq!(segments(&a(320)).count, 3);
    assert_eq!(segments("").count, 1);
    // The basic table beyond ASCII stays GSM-7.
    assert_eq!(
        encoding("Ünïcödé? Ñö: £5 @ 10¥ ΔΦΓΛΩΠΨΣΘΞ ¿¡ §"),
        Encoding::Ucs2
    );
    assert_eq!(
        encoding("Ün ñö: £5 @ 10¥ ΔΦΓΛΩΠΨΣΘΞ ¿¡ § àèéìòù ÄÖÜäöü ÆæßÉ Øø Åå Ç\r\n"),
        Encoding::Gsm7
    );
}

#[test]
fn gsm7_extension_characters_take_two_septets() {
    assert_eq!(segments("€"), seg(Encoding::Gsm7, 2, 1));
    assert_eq!(segments("^{}\\[~]|€"), seg(Encoding::Gsm7, 18, 1));
    assert_eq!(segments(&"€".repeat(80)), seg(Encoding::Gsm7, 160, 1));
    assert_eq!(
        segments(&format!("{}€", "a".repeat(159))),
        seg(Encoding::Gsm7, 161, 2)
    );
    // An escape pair never straddles two segments: 152 + [€ must move] → 3 segments for 306 septets.
    let straddle = format!("{}€{}", "a".repeat(152), "a".repeat(152));
    assert_eq!(segments(&straddle), seg(Encoding::Gsm7, 306, 3));
}

#[test]
fn ucs2_segment_counts() {
    let zh = |n: usize| "中".repeat(n);
    assert_eq!(segments(&zh(70)), seg(Encoding::Ucs2, 70, 1));
    assert_eq!(segments(&zh(71)), seg(Encoding::Ucs2, 71, 2));
    assert_eq!(segments(&zh(134)), seg(Encoding::Ucs2, 134, 2));
    assert_eq!(segments(&zh(135)), seg(Encoding::Ucs2, 135, 3));
    // Published example: 150 characters → 67 + 67 + 16.
    assert_eq!(segments(&zh(150)).count, 3);
    // One non-GSM character switches the whole text to UCS-2.
    assert_eq!(
        segments(&format!("{}中", "a".repeat(69))),
        seg(Encoding::Ucs2, 70, 1)
    );
    assert_eq!(segments(&format!("{}`", "a".repeat(70))).count, 2);
}

#[test]
fn emoji_are_two_units_and_never_split() {
    assert_eq!(segments("😀"), seg(Encoding::Ucs2, 2, 1));
    assert_eq!(
        segments(&format!("{}😀", "中".repeat(68))),
        seg(Encoding::Ucs2, 70, 1)
    );
    assert_eq!(
        segments(&format!("{}😀", "中".repeat(69))),
        seg(Encoding::Ucs2, 71, 2)
    );
    // 66 + [😀 does not fit in the unit left] → the pair opens segment 2, and 134 units need 3.
    let straddle = format!("{}😀{}", "中".repeat(66), "中".repeat(66));
    assert_eq!(segments(&straddle), seg(Encoding::Ucs2, 134, 3));
}

#[test]
fn mainland_billing_includes_the_signature() {
    // 【阿里云】 is 5 characters.
    assert_eq!(mainland_billed_parts(&"中".repeat(65), "阿里云"), 1);
    assert_eq!(mainland_billed_parts(&"中".repeat(66), "阿里云"), 2);
    // Published example: 160 characters → 67 + 67 + 26.
    assert_eq!(mainland_billed_parts(&"中".repeat(155), "阿里云"), 3);
    assert_eq!(mainland_billed_parts(&"a".repeat(129), "阿里云"), 2);
    assert_eq!(mainland_billed_parts(&"a".repeat(130), "阿里云"), 3);
    // Mainland billing ignores GSM-7: Latin text still bills 70 / 67.
    assert_eq!(mainland_billed_parts(&"a".repeat(100), "x"), 2);
}

// ---------------------------------------------------------------------------------------------------
// Splitting
// ---------------------------------------------------------------------------------------------------

fn assert_pieces(text: &str, pieces: &[String], max: usize) {
    assert_eq!(pieces.concat(), text, "pieces join back to the text");
    for piece in pieces {
        assert!(!piece.is_empty());
        assert!(
            utf16_len(piece) <= max,
            "piece of {} units over {max}",
            utf16_len(piece)
        );
    }
}

#[test]
fn twilio_splitting() {
    let short = "a".repeat(1600);
    assert_eq!(
        split_for_provider(&short, SmsProvider::Twilio),
        vec![short.clone()]
    );
    let sentence = "Your order has shipped and will arrive on Tuesday. ";
    let text = sentence.repeat(80); // 4 080 characters
    let pieces = split_for_provider(&text, SmsProvider::Twilio);
    assert_pieces(&text, &pieces, 1600);
    assert_eq!(pieces.len(), 3);
    for piece in &pieces[..pieces.len() - 1] {
        assert!(
            piece.ends_with(' '),
            "cut after whitespace: {:?}",
            &piece[piece.len() - 10..]
        );
    }
}

#[test]
fn mainland_splitting_at_chinese_punctuation() {
    let clause = "您好，您的订单已发货，预计明天送达。";
    let text = clause.repeat(40); // 720 characters
    for provider in [SmsProvider::Aliyun, SmsProvider::Tencent] {
        let pieces = split_for_provider_signed(&text, provider, "阿里云");
        assert_pieces(&text, &pieces, 500 - 5);
        assert_eq!(pieces.len(), 2);
        let last = pieces[0].chars().next_back().unwrap();
        assert!(
            matches!(last, '，' | '。'),
            "cut after punctuation, got {last:?}"
        );
    }
    let unsigned = split_for_provider(&text, SmsProvider::Aliyun);
    assert_pieces(&text, &unsigned, 500);
}

#[test]
fn splitting_without_break_opportunities_cuts_at_the_limit() {
    let text = "中".repeat(1200);
    let pieces = split_to_fit(&text, 500);
    assert_eq!(
        pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    // A break too early in the piece is not taken.
    let text = format!("ab {}", "c".repeat(20));
    assert_eq!(split_to_fit(&text, 10)[0], "ab ccccccc");
}

#[test]
fn splitting_keeps_surrogate_pairs_and_sequences_whole() {
    let emoji = "😀".repeat(100);
    let pieces = split_to_fit(&emoji, 67);
    assert_pieces(&emoji, &pieces, 67);
    assert!(pieces
        .iter()
        .all(|p| utf16_len(p) == 66 || p == pieces.last().unwrap()));

    let family = "👩\u{200D}👩\u{200D}👧\u{200D}👦"; // 11 units
    let text = family.repeat(20);
    for max in [67, 70] {
        // At 70 the limit falls after "👩\u{200D}" of the seventh family: the cut moves back before it.
        let pieces = split_to_fit(&text, max);
        assert_pieces(&text, &pieces, max);
        assert!(pieces
            .iter()
            .all(|p| p.starts_with('👩') && p.ends_with('👦')));
    }

    let accents = "e\u{0301}".repeat(50);
    for piece in split_to_fit(&accents, 7) {
        assert!(piece.starts_with('e'));
    }
    let crlf = "ab\r\n".repeat(10);
    for piece in split_to_fit(&crlf, 3) {
        assert!(!piece.ends_with('\r'), "{piece:?}");
    }
    assert_eq!(split_to_fit("", 10), Vec::<String>::new());
    assert_eq!(
        split_to_fit("abc", 0),
        vec!["ab", "c"],
        "limits below 2 act as 2"
    );
}

/// A small deterministic generator, so that failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn splitting_round_trips_on_mixed_text() {
    let atoms = [
        "word",
        " ",
        "  ",
        "中文",
        "，",
        "。",
        "」",
        "Hello,",
        " ",
        "😀",
        "👍🏽",
        "e\u{0301}",
        "\r\n",
        "€",
        "👩\u{200D}💻",
        "1.5",
        "\n",
        "🇨🇳",
        "…",
        "ß",
    ];
    let mut rng = Lcg(42);
    for round in 0..400 {
        let len = (rng.next() % 300) as usize;
        let text: String = (0..len)
            .map(|_| atoms[(rng.next() as usize) % atoms.len()])
            .collect();
        for max in [2, 3, 5, 10, 67, 70, 153, 500, 1600] {
            let pieces = split_to_fit(&text, max);
            assert_pieces(&text, &pieces, max);
            if max >= 67 {
                for pair in pieces.windows(2) {
                    let prev = pair[0].chars().next_back().unwrap();
                    let next = pair[1].chars().next().unwrap();
                    assert!(
                        !(prev == '\r' && next == '\n')
                            && prev != '\u{200D}'
                            && !matches!(next, '\u{0301}' | '\u{200D}' | '\u{1F3FD}'),
                        "round {round}, max {max}: cut between {prev:?} and {next:?}"
                    );
                }
            }
        }
    }
}
