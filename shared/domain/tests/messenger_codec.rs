//! The Messenger codec against Meta's published webhook samples, GitHub's published
//! `X-Hub-Signature-256` test vector and signatures computed with OpenSSL. Every fixture's source, and
//! every command that produced an expected value, is listed in `tests/fixtures/messenger/README.md`.

use std::path::PathBuf;

use kefu_domain::channels::messenger::{
    classify_send_error, graph_error, parse_webhook, send_bodies, send_body, sign, split_text,
    split_text_max, verify_challenge, verify_signature, window, Attachment, Card, EventKind,
    GraphError, Message, MessagingEvent, MessengerError, Optin, Postback, Reaction, Referral,
    SendContent, SendErrorClass, UrlButton, Window, HUMAN_AGENT_WINDOW_MS, MAX_BODY_BYTES,
    MAX_TEXT_LEN, RESPONSE_WINDOW_MS,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/messenger")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn parse(name: &str) -> Vec<MessagingEvent> {
    parse_webhook(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_one(name: &str) -> MessagingEvent {
    let mut events = parse(name);
    assert_eq!(events.len(), 1, "{name}: one event expected");
    events.remove(0)
}

fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn message(mid: &str) -> Message {
    Message {
        mid: mid.into(),
        text: None,
        attachments: vec![],
        quick_reply_payload: None,
        reply_to_mid: None,
        is_echo: false,
        app_id: None,
        metadata: None,
    }
}

fn malformed(result: Result<Vec<MessagingEvent>, MessengerError>) -> String {
    match result {
        Err(MessengerError::Malformed(why)) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// Wraps one event object in a notification envelope.
fn envelope(event: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{"id": "PAGE", "time": 1700000000000i64, "messaging": [event]}]
    }))
    .unwrap()
}

const HOUR_MS: i64 = 60 * 60 * 1000;
const MINUTE_MS: i64 = 60 * 1000;
const SECOND_MS: i64 = 1000;

// ---------------------------------------------------------------------------------------------------
// Verification request
// ---------------------------------------------------------------------------------------------------

#[test]
fn challenge_is_echoed_for_subscribe_with_the_right_token() {
    assert_eq!(
        verify_challenge(
            Some("subscribe"),
            Some("my-token"),
            Some("CHALLENGE_ACCEPTED"),
            "my-token"
        ),
        Ok("CHALLENGE_ACCEPTED")
    );
}

#[test]
fn challenge_is_refused_otherwise() {
    let cases = [
        (Some("subscribe"), Some("my-tokeN"), "my-token"),
        (Some("subscribe"), Some("my-token "), "my-token"),
        (Some("subscribe"), Some("my-token-longer"), "my-token"),
        (Some("subscribe"), Some(""), "my-token"),
        (Some("subscribe"), None, "my-token"),
        (Some("unsubscribe"), Some("my-token"), "my-token"),
        (Some("Subscribe"), Some("my-token"), "my-token"),
        (None, Some("my-token"), "my-token"),
        // Nothing configured: even an empty token must not pass.
        (Some("subscribe"), Some(""), ""),
    ];
    for (mode, token, expected) in cases {
        let err = verify_challenge(mode, token, Some("123"), expected).unwrap_err();
        assert_eq!(
            err,
            MessengerError::Forbidden,
            "{mode:?} {token:?} {expected:?}"
        );
        assert_eq!(err.http_status(), 403);
    }
}

#[test]
fn challenge_missing_is_malformed() {
    for challenge in [None, Some("")] {
        let err = verify_challenge(Some("subscribe"), Some("t"), challenge, "t").unwrap_err();
        assert!(matches!(err, MessengerError::Malformed(_)), "{err:?}");
        assert_eq!(err.http_status(), 400);
    }
}

// ---------------------------------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------------------------------

const GITHUB_SECRET: &[u8] = b"It's a Secret to Everybody";
const GITHUB_PAYLOAD: &[u8] = b"Hello, World!";
const GITHUB_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// The app secret used with `openssl dgst -sha256 -hmac` for the fixture signatures.
const FIXTURE_SECRET: &[u8] = b"kefu-test-app-secret";

#[test]
fn github_published_vector() {
    assert_eq!(sign(GITHUB_SECRET, GITHUB_PAYLOAD), GITHUB_SIGNATURE);
    assert_eq!(
        verify_signature(GITHUB_SECRET, GITHUB_PAYLOAD, Some(GITHUB_SIGNATURE)),
        Ok(())
    );
}

#[test]
fn openssl_signature_of_a_fixture_body() {
    let body = fixture("message_text_quick_reply.json");
    let expected = "sha256=b9e65b682d7cdc3d20210221a548a5e514c799c648f292db56d3ab83007e738c";
    assert_eq!(sign(FIXTURE_SECRET, &body), expected);
    assert_eq!(
        verify_signature(FIXTURE_SECRET, &body, Some(expected)),
        Ok(())
    );
}

#[test]
fn signature_is_over_the_escaped_bytes_as_sent() {
    let raw = fixture("signed_unicode_escaped.json");
    let header = "sha256=92550fb0d339531839a13b9c801dd36d02d51ddb1b0eabf8b1271d0b613b00e4";
    assert!(
        raw.windows(6).any(|w| w == b"\\u00e9"),
        "the fixture keeps the escapes"
    );
    assert_eq!(verify_signature(FIXTURE_SECRET, &raw, Some(header)), Ok(()));

    // The same JSON with the escapes decoded to UTF-8 is a different byte string: it must not verify.
    let decoded = String::from_utf8(raw.clone())
        .unwrap()
        .replace("\\u00e9", "é")
        .replace("\\u00e4", "ä")
        .replace("\\u00f6", "ö")
        .replace("\\u00e5", "å");
    assert_ne!(decoded.as_bytes(), raw.as_slice());
    assert_eq!(
        serde_json::from_slice::<Value>(&raw).unwrap(),
        serde_json::from_str::<Value>(&decoded).unwrap(),
        "same JSON value"
    );
    assert_eq!(
        verify_signature(FIXTURE_SECRET, decoded.as_bytes(), Some(header)),
        Err(MessengerError::BadSignature)
    );
    // Re-serialising the parsed body does not give the signed bytes back either.
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&raw).unwrap()).unwrap();
    assert_eq!(
        verify_signature(FIXTURE_SECRET, &reserialised, Some(header)),
        Err(MessengerError::BadSignature)
    );

    let events = parse_webhook(&raw).unwrap();
    let EventKind::Message(m) = &events[0].kind else {
        panic!("message expected")
    };
    assert_eq!(m.text.as_deref(), Some("café äöå"));
}

#[test]
fn signature_covers_a_trailing_newline() {
    let raw = fixture("signed_trailing_newline.json");
    assert_eq!(raw.last(), Some(&b'\n'));
    let with_newline = "sha256=02d22550f1eff7056df31b640afc33d4e5d34198b905528f3af433abd6224050";
    let without_newline = "sha256=3ee58ba3baf0af7cd19654012314ffb0ae9efa9716fe54aa5c9dc1db7012c650";
    let trimmed = &raw[..raw.len() - 1];

    assert_eq!(
        verify_signature(FIXTURE_SECRET, &raw, Some(with_newline)),
        Ok(())
    );
    assert_eq!(
        verify_signature(FIXTURE_SECRET, trimmed, Some(with_newline)),
        Err(MessengerError::BadSignature)
    );
    assert_eq!(
        verify_signature(FIXTURE_SECRET, trimmed, Some(without_newline)),
        Ok(())
    );
    assert_eq!(
        verify_signature(FIXTURE_SECRET, &raw, Some(without_newline)),
        Err(MessengerError::BadSignature)
    );
    // Both bodies parse to the same events: only the signature tells them apart.
    assert_eq!(
        parse_webhook(&raw).unwrap(),
        parse_webhook(trimmed).unwrap()
    );
}

#[test]
fn forged_signatures_are_refused_with_403() {
    let body = fixture("message_text_quick_reply.json");
    let good = sign(FIXTURE_SECRET, &body);

    let other_secret = sign(b"someone-else", &body);
    let mut flipped = good.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let mut tampered = body.clone();
    tampered[body.len() / 2] ^= 0x01;

    for (case, body, header) in [
        ("other secret", &body, other_secret.as_str()),
        ("one digit changed", &body, flipped.as_str()),
        ("GitHub vector on another body", &body, GITHUB_SIGNATURE),
    ] {
        let err = verify_signature(FIXTURE_SECRET, body, Some(header)).unwrap_err();
        assert_eq!(err, MessengerError::BadSignature, "{case}");
        assert_eq!(err.http_status(), 403, "{case}");
    }
    assert_eq!(
        verify_signature(FIXTURE_SECRET, &tampered, Some(&good)),
        Err(MessengerError::BadSignature)
    );
    assert_eq!(
        verify_signature(b"", &body, Some(&sign(b"", &body))),
        Err(MessengerError::BadSignature),
        "an empty app secret never verifies"
    );
}

#[test]
fn missing_signature_is_401() {
    for header in [None, Some(""), Some("   ")] {
        let err = verify_signature(GITHUB_SECRET, GITHUB_PAYLOAD, header).unwrap_err();
        assert_eq!(err, MessengerError::MissingSignature, "{header:?}");
        assert_eq!(err.http_status(), 401);
    }
}

#[test]
fn malformed_signature_headers_are_refused() {
    let hex = &GITHUB_SIGNATURE["sha256=".len()..];
    let sha1_style = format!("sha1={hex}");
    let bare = hex.to_owned();
    let short = &GITHUB_SIGNATURE[..GITHUB_SIGNATURE.len() - 2];
    let long = format!("{GITHUB_SIGNATURE}00");
    let non_hex = format!("sha256={}", "z".repeat(64));
    let double_prefix = format!("sha256=sha256={hex}");
    let inner_space = format!("sha256= {hex}");
    for header in [
        sha1_style.as_str(),
        bare.as_str(),
        short,
        long.as_str(),
        non_hex.as_str(),
        double_prefix.as_str(),
        inner_space.as_str(),
        "sha256=",
        "=",
    ] {
        assert_eq!(
            verify_signature(GITHUB_SECRET, GITHUB_PAYLOAD, Some(header)),
            Err(MessengerError::BadSignature),
            "{header:?}"
        );
    }
}

#[test]
fn signature_header_tolerates_case_and_surrounding_space() {
    let upper_hex = format!(
        "sha256={}",
        GITHUB_SIGNATURE["sha256=".len()..].to_uppercase()
    );
    let upper_algo = GITHUB_SIGNATURE.replacen("sha256", "SHA256", 1);
    let padded = format!("  {GITHUB_SIGNATURE}\t");
    for header in [upper_hex, upper_algo, padded] {
        assert_eq!(
            verify_signature(GITHUB_SECRET, GITHUB_PAYLOAD, Some(&header)),
            Ok(()),
            "{header:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Webhook parsing: Meta's samples
// ---------------------------------------------------------------------------------------------------

#[test]
fn text_message_with_quick_reply() {
    let event = parse_one("message_text_quick_reply.json");
    assert_eq!(
        event,
        MessagingEvent {
            page_id: "<PAGE_ID>".into(),
            sender_id: s("<PSID>"),
            sender_user_ref: None,
            recipient_id: s("<PAGE_ID>"),
            timestamp_ms: 1458692752478,
            standby: false,
            kind: EventKind::Message(Message {
                text: s("hello, world!"),
                quick_reply_payload: s("<DEVELOPER_DEFINED_PAYLOAD>"),
                ..message("mid.1457764197618:41d102a3e1ae206a38")
            }),
        }
    );
    assert!(!event.is_echo());
    assert_eq!(event.psid(), Some("<PSID>"));
    assert_eq!(
        event.dedupe_key(),
        "mid:mid.1457764197618:41d102a3e1ae206a38"
    );
}

#[test]
fn reply_to_message() {
    let event = parse_one("message_reply_to.json");
    assert_eq!(
        event.kind,
        EventKind::Message(Message {
            text: s("hello, world!"),
            reply_to_mid: s("m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"),
            ..message("m_1457764197618:41d102a3e1ae206a38")
        })
    );
    assert_eq!(event.dedupe_key(), "mid:m_1457764197618:41d102a3e1ae206a38");
}

#[test]
fn attachment_message_of_each_media_type() {
    let event = parse_one("message_attachment_image.json");
    assert_eq!(event.page_id, "682498302938465");
    assert_eq!(event.timestamp_ms, 1518479195308);
    assert_eq!(
        event.kind,
        EventKind::Message(Message {
            attachments: vec![Attachment::Image {
                url: s("<ATTACHMENT_URL>")
            }],
            ..message("mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c")
        })
    );
    assert_eq!(event.dedupe_key(), "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c");

    // The published sample names the type as a placeholder `<image|video|audio|file>`: try each.
    let sample = String::from_utf8(fixture("message_attachment_image.json")).unwrap();
    let url = s("<ATTACHMENT_URL>");
    for (kind, expected) in [
        ("audio", Attachment::Audio { url: url.clone() }),
        ("video", Attachment::Video { url: url.clone() }),
        ("file", Attachment::File { url: url.clone() }),
        (
            "reel",
            Attachment::Other {
                kind: "reel".into(),
                url: url.clone(),
            },
        ),
    ] {
        let body = sample.replace("\"type\": \"image\"", &format!("\"type\": \"{kind}\""));
        let events = parse_webhook(body.as_bytes()).unwrap();
        let EventKind::Message(m) = &events[0].kind else {
            panic!("message expected")
        };
        assert_eq!(m.attachments, vec![expected], "{kind}");
    }
}

#[test]
fn echo_is_recognised() {
    let event = parse_one("message_echo_text.json");
    assert!(event.is_echo());
    assert_eq!(event.sender_id.as_deref(), Some("<PAGE_ID>"));
    // The customer of an echo is its recipient.
    assert_eq!(event.psid(), Some("<PSID>"));
    assert_eq!(
        event.kind,
        EventKind::Message(Message {
            text: s("hello, world!"),
            is_echo: true,
            app_id: s("1517776481860111"),
            metadata: s("<DEVELOPER_DEFINED_METADATA_STRING>"),
            ..message("mid.1457764197618:41d102a3e1ae206a38")
        })
    );
    assert_eq!(
        event.dedupe_key(),
        "mid:mid.1457764197618:41d102a3e1ae206a38"
    );
}

#[test]
fn standby_template_echo() {
    let event = parse_one("message_echo_template_standby.json");
    assert!(event.standby);
    assert!(event.is_echo());
    assert_eq!(event.psid(), Some("<PSID>"));
    assert_eq!(event.timestamp_ms, 1570053170673);
    let EventKind::Message(m) = &event.kind else {
        panic!("message expected")
    };
    assert_eq!(m.app_id.as_deref(), Some("1517776481860111"));
    assert_eq!(
        m.attachments,
        vec![Attachment::Template {
            template_type: s("media"),
            payload: json!({
                "template_type": "media",
                "elements": [{"media_type": "image", "attachment_id": 2457235337685388u64}]
            }),
        }]
    );
}

#[test]
fn postback_with_referral_and_user_ref_sender() {
    let event = parse_one("postback.json");
    assert_eq!(event.sender_id, None);
    assert_eq!(event.sender_user_ref.as_deref(), Some("USER-REF-ID"));
    assert_eq!(event.recipient_id.as_deref(), Some("PAGE-ID"));
    assert_eq!(
        event.kind,
        EventKind::Postback(Postback {
            mid: s("m_1457764197618:41d102a3e1ae206a38"),
            title: s("TITLE-FOR-THE-CTA"),
            payload: s("USER-DEFINED-PAYLOAD"),
            referral: Some(Referral {
                ref_param: s("USER-DEFINED-REFERRAL-PARAM"),
                source: s("SHORT-URL"),
                referral_type: s("OPEN_THREAD"),
                referer_uri: None,
                ad_id: None,
            }),
        })
    );
    assert_eq!(event.dedupe_key(), "mid:m_1457764197618:41d102a3e1ae206a38");
}

#[test]
fn postback_without_mid_is_deduplicated_by_sender_and_time() {
    let body = envelope(json!({
        "sender": {"id": "PSID-1"},
        "recipient": {"id": "PAGE"},
        "timestamp": 1458692752478i64,
        "postback": {"title": "Get Started", "payload": "GET_STARTED"}
    }));
    let events = parse_webhook(&body).unwrap();
    assert_eq!(events[0].dedupe_key(), "evt:PSID-1:1458692752478:postback");
}

#[test]
fn read_event() {
    let event = parse_one("read.json");
    assert_eq!(
        event.kind,
        EventKind::Read {
            watermark: 1458668856253
        }
    );
    assert_eq!(event.dedupe_key(), "evt:<PSID>:1458668856463:read");
}

#[test]
fn delivery_event_without_timestamp_uses_the_watermark() {
    let event = parse_one("delivery.json");
    assert_eq!(
        event.kind,
        EventKind::Delivery {
            mids: vec!["mid.1458668856218:ed81099e15d3f4f233".into()],
            watermark: 1458668856253
        }
    );
    assert_eq!(event.timestamp_ms, 1458668856253);
    assert_eq!(event.dedupe_key(), "evt:<PSID>:1458668856253:delivery");
}

#[test]
fn reaction_event() {
    let event = parse_one("reaction.json");
    assert_eq!(
        event.kind,
        EventKind::Reaction(Reaction {
            mid: "<MID_OF_ReactedTo_Message>".into(),
            action: "react".into(),
            reaction: s("love"),
            emoji: s("\u{2764}\u{FE0F}"),
        })
    );
    assert_eq!(event.dedupe_key(), "evt:<PSID>:1458668856463:reaction");
}

#[test]
fn referral_event_from_a_plugin() {
    let event = parse_one("referral_chat_plugin.json");
    assert_eq!(event.psid(), None);
    assert_eq!(event.sender_user_ref.as_deref(), Some("<USER_REF>"));
    assert_eq!(
        event.kind,
        EventKind::Referral(Referral {
            ref_param: s("<REF_DATA_PASSED_IN_CODE>"),
            source: s("CUSTOMER_CHAT_PLUGIN"),
            referral_type: s("OPEN_THREAD"),
            referer_uri: s("<WEBSITE_URL>"),
            ad_id: None,
        })
    );
    assert_eq!(event.dedupe_key(), "evt:<USER_REF>:1458692752478:referral");
}

#[test]
fn optin_event() {
    let event = parse_one("optin_checkbox.json");
    assert_eq!(
        event.kind,
        EventKind::Optin(Optin {
            ref_param: s("<PASS_THROUGH_PARAM>"),
            user_ref: s("<REF_FROM_CHECKBOX_PLUGIN>"),
            optin_type: None,
            payload: None,
        })
    );
    assert_eq!(event.timestamp_ms, 1234567890);
    assert_eq!(event.dedupe_key(), "evt:<PSID>:1234567890:optin");
}

#[test]
fn batched_body_keeps_entry_and_event_order() {
    let events = parse("batched_two_entries.json");
    let summary: Vec<(&str, &str, String)> = events
        .iter()
        .map(|e| (e.page_id.as_str(), e.kind.name(), e.dedupe_key()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "682498302938465",
                "message",
                "mid:mid.1457764197618:41d102a3e1ae206a38".to_owned()
            ),
            (
                "682498302938465",
                "message",
                "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c".to_owned()
            ),
            (
                "682498302938465",
                "read",
                "evt:<PSID>:1458668856463:read".to_owned()
            ),
            (
                "<PAGE_ID>",
                "message",
                "mid:m_1457764197618:41d102a3e1ae206a38".to_owned()
            ),
            (
                "<PAGE_ID>",
                "delivery",
                "evt:<PSID>:1458668856253:delivery".to_owned()
            ),
            (
                "<PAGE_ID>",
                "reaction",
                "evt:<PSID>:1458668856463:reaction".to_owned()
            ),
            (
                "<PAGE_ID>",
                "referral",
                "evt:<PSID>:1458692752478:referral".to_owned()
            ),
        ]
    );
    assert!(events.iter().all(|e| !e.is_echo() && !e.standby));
    assert!(events.iter().all(|e| e.psid() == Some("<PSID>")));
}

#[test]
fn messaging_comes_before_standby_within_an_entry() {
    let body = serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{
            "id": "PAGE", "time": 1,
            "standby": [{"sender": {"id": "A"}, "recipient": {"id": "PAGE"}, "timestamp": 2,
                         "message": {"mid": "m_standby", "text": "owned by another app"}}],
            "messaging": [{"sender": {"id": "A"}, "recipient": {"id": "PAGE"}, "timestamp": 3,
                           "message": {"mid": "m_messaging", "text": "ours"}}]
        }]
    }))
    .unwrap();
    let events = parse_webhook(&body).unwrap();
    let order: Vec<(String, bool)> = events.iter().map(|e| (e.dedupe_key(), e.standby)).collect();
    assert_eq!(
        order,
        vec![
            ("mid:m_messaging".to_owned(), false),
            ("mid:m_standby".to_owned(), true)
        ]
    );
}

// ---------------------------------------------------------------------------------------------------
// Webhook parsing: shapes without a published sample, edge cases and refusals
// ---------------------------------------------------------------------------------------------------

#[test]
fn location_fallback_and_unknown_attachments() {
    let body = envelope(json!({
        "sender": {"id": "PSID-1"}, "recipient": {"id": "PAGE"}, "timestamp": 1,
        "message": {"mid": "m_1", "attachments": [
            {"title": "Pinned location", "url": "https://l.facebook.com/l.php?u=x", "type": "location",
             "payload": {"coordinates": {"lat": 37.483872693672, "long": -122.14900441942}}},
            {"type": "fallback", "payload": {"title": "Example", "url": "https://example.com/"}},
            {"type": "fallback", "title": "Old style", "url": "https://example.org/", "payload": null},
            {"type": "fallback"},
            {"type": "sticker", "payload": {"url": "https://example.com/sticker.png", "sticker_id": 369239263222822u64}}
        ]}
    }));
    let events = parse_webhook(&body).unwrap();
    let EventKind::Message(m) = &events[0].kind else {
        panic!("message expected")
    };
    assert_eq!(
        m.attachments,
        vec![
            Attachment::Location {
                latitude: 37.483872693672,
                longitude: -122.14900441942,
                title: s("Pinned location"),
                url: s("https://l.facebook.com/l.php?u=x"),
            },
            Attachment::Fallback {
                title: s("Example"),
                url: s("https://example.com/")
            },
            Attachment::Fallback {
                title: s("Old style"),
                url: s("https://example.org/")
            },
            Attachment::Fallback {
                title: None,
                url: None
            },
            Attachment::Other {
                kind: "sticker".into(),
                url: s("https://example.com/sticker.png")
            },
        ]
    );
}

#[test]
fn unknown_event_kind_is_accepted() {
    let body = envelope(json!({
        "sender": {"id": "PSID-1"}, "recipient": {"id": "PAGE"}, "timestamp": 42,
        "pass_thread_control": {"new_owner_app_id": "123456789", "metadata": "x"}
    }));
    let events = parse_webhook(&body).unwrap();
    assert_eq!(
        events[0].kind,
        EventKind::Other {
            kind: "pass_thread_control".into()
        }
    );
    assert_eq!(events[0].dedupe_key(), "evt:PSID-1:42:pass_thread_control");
}

#[test]
fn string_timestamps_and_entry_time_fallback() {
    let body = serde_json::to_vec(&json!({
        "object": "page",
        "entry": [{"id": "PAGE", "time": 1700000000123i64, "messaging": [
            {"sender": {"id": "A"}, "recipient": {"id": "PAGE"}, "timestamp": "1527459824000",
             "postback": {"title": "T", "payload": "P"}},
            {"sender": {"id": "A"}, "recipient": {"id": "PAGE"}, "optin": {"ref": "R"}}
        ]}]
    }))
    .unwrap();
    let events = parse_webhook(&body).unwrap();
    assert_eq!(events[0].timestamp_ms, 1527459824000);
    assert_eq!(events[1].timestamp_ms, 1700000000123);
}

#[test]
fn empty_entry_list_and_entries_without_events() {
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":[]}"#).unwrap(),
        vec![]
    );
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":[{"id":"P","time":1}]}"#).unwrap(),
        vec![]
    );
}

#[test]
fn non_page_object_is_refused() {
    for object in ["instagram", "whatsapp_business_account", "user", "Page"] {
        let body = format!(r#"{{"object":"{object}","entry":[]}}"#);
        let why = malformed(parse_webhook(body.as_bytes()));
        assert!(why.contains(object), "{why}");
    }
    let why = malformed(parse_webhook(br#"{"entry":[]}"#));
    assert!(why.contains("object"), "{why}");
    assert_eq!(MessengerError::Malformed(String::new()).http_status(), 400);
}

#[test]
fn malformed_bodies_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "invalid JSON"),
        (b"{", "invalid JSON"),
        (b"object=page", "invalid JSON"),
        (b"[]", "body"),
        (br#"{"object":"page"}"#, "entry"),
        (br#"{"object":"page","entry":{}}"#, "entry"),
        (br#"{"object":"page","entry":[42]}"#, "entry[0]"),
        (br#"{"object":"page","entry":[{"time":1,"messaging":[]}]}"#, "entry[0].id"),
        (br#"{"object":"page","entry":[{"id":"P","messaging":{}}]}"#, "entry[0].messaging"),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":1,"message":{"text":"no mid"}}]}]}"#,
            "entry[0].messaging[0].message.mid",
        ),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":1,"message":{"mid":"m","attachments":"x"}}]}]}"#,
            "entry[0].messaging[0].message.attachments",
        ),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":1,"message":{"mid":"m","text":["x"]}}]}]}"#,
            "entry[0].messaging[0].message.text",
        ),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":"soon","read":{"watermark":1}}]}]}"#,
            "entry[0].messaging[0].timestamp",
        ),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"sender":{"id":"A"},"postback":{}}]}]}"#,
            "entry[0].messaging[0].timestamp",
        ),
        (
            br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":1,"message":{"mid":"m","attachments":[{"type":"location","payload":{}}]}}]}]}"#,
            "entry[0].messaging[0].message.attachments[0].payload.coordinates",
        ),
    ];
    for (body, needle) in cases {
        let why = malformed(parse_webhook(body));
        assert!(
            why.contains(needle),
            "{}: {why:?} should name {needle:?}",
            String::from_utf8_lossy(body)
        );
    }
    // The published reaction and referral samples are not valid JSON as printed (a trailing comma).
    let why = malformed(parse_webhook(
        br#"{"object":"page","entry":[{"id":"P","messaging":[{"timestamp":1,"referral":{"source":"SHORTLINK","type":"OPEN_THREAD",}}]}]}"#,
    ));
    assert!(why.contains("invalid JSON"), "{why}");
}

#[test]
fn body_size_limit() {
    let over = vec![b' '; MAX_BODY_BYTES + 1];
    let err = parse_webhook(&over).unwrap_err();
    assert_eq!(err, MessengerError::TooLarge);
    assert_eq!(err.http_status(), 413);

    // A valid body of exactly the limit is accepted.
    let mut at_limit = fixture("message_text_quick_reply.json");
    at_limit.resize(MAX_BODY_BYTES, b' ');
    assert_eq!(parse_webhook(&at_limit).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------------
// Messaging windows
// ---------------------------------------------------------------------------------------------------

#[test]
fn window_rules() {
    let last = 1_700_000_000_000i64;
    let day = 24 * HOUR_MS;
    assert_eq!(window(last, last), Ok(Window::Response));
    assert_eq!(
        window(last, last + 23 * HOUR_MS + 59 * MINUTE_MS),
        Ok(Window::Response)
    );
    assert_eq!(window(last, last + day - 1), Ok(Window::Response));
    assert_eq!(window(last, last + day), Ok(Window::HumanAgent));
    assert_eq!(window(last, last + day + MINUTE_MS), Ok(Window::HumanAgent));
    assert_eq!(window(last, last + 7 * day), Ok(Window::HumanAgent));
    let err = window(last, last + 7 * day + SECOND_MS).unwrap_err();
    assert_eq!(
        err,
        MessengerError::WindowClosed {
            elapsed_ms: 7 * day + SECOND_MS
        }
    );
    assert_eq!(err.http_status(), 409);
    assert!(err.to_string().contains("7 days"), "{err}");
    // A last message "in the future" (clock skew) is inside the window.
    assert_eq!(window(last, last - HOUR_MS), Ok(Window::Response));
    assert_eq!(RESPONSE_WINDOW_MS, day);
    assert_eq!(HUMAN_AGENT_WINDOW_MS, 7 * day);
}

// ---------------------------------------------------------------------------------------------------
// Send API bodies
// ---------------------------------------------------------------------------------------------------

#[test]
fn text_bodies_for_each_window() {
    let hello = SendContent::Text("Hello!".into());
    assert_eq!(
        send_body("1254477777772919", &hello, Window::Response),
        json!({
            "recipient": {"id": "1254477777772919"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Hello!"}
        })
    );
    assert_eq!(
        send_body("1254477777772919", &hello, Window::HumanAgent),
        json!({
            "recipient": {"id": "1254477777772919"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": {"text": "Hello!"}
        })
    );
}

#[test]
fn attachment_bodies() {
    for (content, kind) in [
        (
            SendContent::Image {
                url: "https://example.com/a.png".into(),
            },
            "image",
        ),
        (
            SendContent::Audio {
                url: "https://example.com/a.mp3".into(),
            },
            "audio",
        ),
        (
            SendContent::File {
                url: "https://example.com/a.pdf".into(),
            },
            "file",
        ),
    ] {
        let url = match &content {
            SendContent::Image { url } | SendContent::Audio { url } | SendContent::File { url } => {
                url.clone()
            }
            _ => unreachable!(),
        };
        assert_eq!(
            send_body("PSID-1", &content, Window::Response),
            json!({
                "recipient": {"id": "PSID-1"},
                "messaging_type": "RESPONSE",
                "message": {"attachment": {"type": kind, "payload": {"url": url}}}
            })
        );
    }
}

#[test]
fn card_body_is_a_generic_template() {
    let card = SendContent::Template(Card {
        title: "Deluxe room".into(),
        subtitle: Some("Sea view, breakfast included".into()),
        image_url: Some("https://example.com/room.jpg".into()),
        buttons: vec![UrlButton {
            url: "https://example.com/book".into(),
            title: "Book now".into(),
        }],
    });
    assert_eq!(
        send_body("PSID-1", &card, Window::HumanAgent),
        json!({
            "recipient": {"id": "PSID-1"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": {"attachment": {"type": "template", "payload": {
                "template_type": "generic",
                "elements": [{
                    "title": "Deluxe room",
                    "subtitle": "Sea view, breakfast included",
                    "image_url": "https://example.com/room.jpg",
                    "buttons": [{"type": "web_url", "url": "https://example.com/book", "title": "Book now"}]
                }]
            }}}
        })
    );
    let bare = SendContent::Template(Card {
        title: "Just a title".into(),
        subtitle: None,
        image_url: None,
        buttons: vec![],
    });
    assert_eq!(
        send_body("PSID-1", &bare, Window::Response)["message"],
        json!({"attachment": {"type": "template", "payload": {
            "template_type": "generic", "elements": [{"title": "Just a title"}]
        }}})
    );
}

#[test]
fn long_text_becomes_several_bodies() {
    let text = mixed_text(5000);
    let bodies = send_bodies("PSID-1", &SendContent::Text(text.clone()), Window::Response);
    assert!(bodies.len() >= 3, "{}", bodies.len());
    let mut joined = String::new();
    for body in &bodies {
        assert_eq!(body["recipient"], json!({"id": "PSID-1"}));
        assert_eq!(body["messaging_type"], json!("RESPONSE"));
        let part = body["message"]["text"].as_str().unwrap();
        assert!(part.chars().count() <= MAX_TEXT_LEN);
        joined.push_str(part);
    }
    assert_eq!(joined, text);
    assert_eq!(
        send_bodies(
            "PSID-1",
            &SendContent::Text(String::new()),
            Window::Response
        ),
        Vec::<Value>::new()
    );
    let image = SendContent::Image {
        url: "https://example.com/a.png".into(),
    };
    assert_eq!(send_bodies("PSID-1", &image, Window::Response).len(), 1);
}

// ---------------------------------------------------------------------------------------------------
// Text splitting
// ---------------------------------------------------------------------------------------------------

/// Exactly `chars` characters of mixed text: Latin sentences with spaces, Chinese sentences with
/// full-width punctuation, a long run of CJK without any break opportunity, accents written with
/// combining marks, and emoji ZWJ sequences.
fn mixed_text(chars: usize) -> String {
    let pieces = [
        "Hello, this is the hotel front desk. ",
        "您好，这里是酒店前台，请问有什么可以帮您？",
        "Cafe\u{301} au lait, s'il vous plai\u{302}t. ",
        "我们的早餐时间是早上七点到十点。",
        "Family: \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} ",
    ];
    let mut text = String::new();
    let mut i = 0;
    while text.chars().count() < chars / 2 {
        text.push_str(pieces[i % pieces.len()]);
        i += 1;
    }
    // A run of CJK with no whitespace or punctuation at all, long enough to force a hard cut.
    let run = "客服系统测试文本没有任何空格或标点符号";
    while text.chars().count() < chars {
        text.push_str(run);
    }
    text.chars().take(chars).collect()
}

fn check_parts(text: &str, parts: &[&str], max: usize) {
    assert_eq!(parts.concat(), text, "parts join back to the original");
    for (i, part) in parts.iter().enumerate() {
        assert!(!part.is_empty(), "part {i} empty");
        assert!(
            part.chars().count() <= max,
            "part {i}: {} chars",
            part.chars().count()
        );
        assert!(
            part.encode_utf16().count() <= max,
            "part {i}: {} UTF-16 units",
            part.encode_utf16().count()
        );
        let first = part.chars().next().unwrap();
        assert!(
            !matches!(first, '\u{0300}'..='\u{036F}' | '\u{200D}' | '\u{FE0F}'),
            "part {i} starts with a combining character {first:?}"
        );
        assert!(
            !part.ends_with('\u{200D}'),
            "part {i} ends inside a ZWJ sequence"
        );
    }
}

#[test]
fn split_5000_characters_of_mixed_latin_and_cjk() {
    let text = mixed_text(5000);
    assert_eq!(text.chars().count(), 5000);
    let parts = split_text(&text);
    assert_eq!(
        parts.len(),
        3,
        "{:?}",
        parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>()
    );
    check_parts(&text, &parts, MAX_TEXT_LEN);
    // The first part falls in the mixed half and ends at a break opportunity.
    let last = parts[0].chars().next_back().unwrap();
    assert!(
        last.is_whitespace() || "，。？！".contains(last),
        "{last:?}"
    );
}

#[test]
fn split_pure_cjk_cuts_at_the_limit() {
    let text: String = "漢字かなカナ한국어".chars().cycle().take(4500).collect();
    let parts = split_text(&text);
    let lengths: Vec<usize> = parts.iter().map(|p| p.chars().count()).collect();
    assert_eq!(lengths, vec![2000, 2000, 500]);
    check_parts(&text, &parts, MAX_TEXT_LEN);
}

#[test]
fn split_prefers_whitespace_in_latin_text() {
    let text = "word ".repeat(1000);
    let parts = split_text(&text);
    check_parts(&text, &parts, MAX_TEXT_LEN);
    assert!(parts.iter().all(|p| p.ends_with(' ')));
    assert_eq!(parts.len(), 3);
}

#[test]
fn split_never_cuts_a_cluster_at_the_limit() {
    // 1999 'a' then a combining acute accent on the 2000th letter, then more text: the cut must not
    // separate 'e' from its accent, nor break the ZWJ family emoji, nor a flag.
    let tails = [
        "e\u{301}xyz".to_owned(),
        "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} more".to_owned(),
        "\u{1F1EB}\u{1F1F7}\u{1F1E9}\u{1F1EA} flags".to_owned(),
        "\u{2764}\u{FE0F} love".to_owned(),
    ];
    for tail in tails {
        for lead in 1990..2000 {
            let text = format!("{}{tail}{}", "a".repeat(lead), " tail".repeat(20));
            let parts = split_text(&text);
            check_parts(&text, &parts, MAX_TEXT_LEN);
            // Regional indicators pair up: the first part holds an even number of them.
            let indicators = parts[0]
                .chars()
                .filter(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(c))
                .count();
            assert_eq!(indicators % 2, 0, "flag split at {lead}");
            // The accent, joiner and variation selector always travel with their base.
            for glue in ['\u{301}', '\u{200D}', '\u{FE0F}'] {
                assert!(!parts[1].starts_with(glue), "{lead} {tail:?}");
            }
        }
    }
}

#[test]
fn split_counts_astral_characters_as_two_units() {
    let text = "\u{1F600}".repeat(1500); // 3000 UTF-16 units, 1500 scalars
    let parts = split_text(&text);
    assert_eq!(
        parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
        vec![1000, 500]
    );
    check_parts(&text, &parts, MAX_TEXT_LEN);
}

#[test]
fn split_small_limits_and_empty_text() {
    assert_eq!(split_text(""), Vec::<&str>::new());
    assert_eq!(split_text("short"), vec!["short"]);
    assert_eq!(split_text_max("abcdef", 4), vec!["abcd", "ef"]);
    assert_eq!(split_text_max("ab cdef", 4), vec!["ab ", "cdef"]);
    // A single character longer than the limit still makes progress.
    assert_eq!(
        split_text_max("\u{1F600}\u{1F600}", 1),
        vec!["\u{1F600}", "\u{1F600}"]
    );
    assert_eq!(split_text_max("abc", 0), vec!["a", "b", "c"]);
    // A cluster longer than the limit is cut inside, at a scalar boundary.
    let zalgo = format!("a{}", "\u{301}".repeat(10));
    let parts = split_text_max(&zalgo, 4);
    assert_eq!(parts.concat(), zalgo);
    assert!(parts.iter().all(|p| p.chars().count() <= 4));
    // CRLF stays together.
    assert_eq!(split_text_max("abc\r\ndef", 4), vec!["abc", "\r\n", "def"]);
}

// ---------------------------------------------------------------------------------------------------
// Send API errors
// ---------------------------------------------------------------------------------------------------

fn graph(code: i64, subcode: Option<i64>) -> Value {
    let mut error =
        json!({"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "T"});
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    json!({ "error": error })
}

#[test]
fn graph_error_of_the_published_sample() {
    let body = json!({
        "error": {
            "message": "Message describing the error",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 460,
            "error_user_title": "A title",
            "error_user_msg": "A message",
            "fbtrace_id": "EJplcsCHuLu"
        }
    });
    assert_eq!(
        graph_error(&body),
        Some(GraphError {
            code: Some(190),
            subcode: Some(460),
            message: Some("Message describing the error".into()),
            error_type: Some("OAuthException".into()),
            is_transient: false,
            fbtrace_id: Some("EJplcsCHuLu".into()),
        })
    );
    assert_eq!(
        classify_send_error(400, &body),
        SendErrorClass::Misconfigured
    );
    assert_eq!(graph_error(&json!({"recipient_id": "1"})), None);
    assert_eq!(graph_error(&Value::Null), None);
}

#[test]
fn classify_by_code() {
    use SendErrorClass::*;
    let cases = [
        (400, graph(613, None), Retryable),
        (400, graph(4, None), Retryable),
        (400, graph(32, None), Retryable),
        (400, graph(17, None), Retryable),
        (500, graph(2, None), Retryable),
        (500, graph(1, None), Retryable),
        (400, graph(341, None), Retryable),
        (400, graph(190, None), Misconfigured),
        (401, graph(190, Some(463)), Misconfigured),
        (400, graph(10, Some(2018278)), Rejected),
        (400, graph(10, Some(2018065)), Rejected),
        (403, graph(10, None), Misconfigured),
        (403, graph(10, Some(2018336)), Misconfigured),
        (400, graph(551, Some(1545041)), Rejected),
        (400, graph(551, None), Rejected),
        (400, graph(200, Some(1545041)), Rejected),
        (403, graph(200, None), Misconfigured),
        (400, graph(100, None), Rejected),
        (400, graph(100, Some(2018001)), Rejected),
        // An unlisted code: the status decides.
        (400, graph(368, None), Rejected),
        (503, graph(368, None), Retryable),
        (403, graph(368, None), Misconfigured),
    ];
    for (status, body, expected) in cases {
        assert_eq!(
            classify_send_error(status, &body),
            expected,
            "{status} {body}"
        );
    }
}

#[test]
fn classify_without_a_graph_error() {
    use SendErrorClass::*;
    for (status, expected) in [
        (500, Retryable),
        (502, Retryable),
        (503, Retryable),
        (504, Retryable),
        (429, Retryable),
        (408, Retryable),
        (401, Misconfigured),
        (403, Misconfigured),
        (400, Rejected),
        (404, Rejected),
    ] {
        assert_eq!(
            classify_send_error(status, &Value::Null),
            expected,
            "{status}"
        );
        assert_eq!(
            classify_send_error(status, &json!("<html>")),
            expected,
            "{status}"
        );
    }
}

#[test]
fn classify_honours_is_transient_and_string_codes() {
    let transient = json!({"error": {"code": 9999, "is_transient": true}});
    assert_eq!(
        classify_send_error(400, &transient),
        SendErrorClass::Retryable
    );
    let string_code = json!({"error": {"code": "613"}});
    assert_eq!(
        classify_send_error(400, &string_code),
        SendErrorClass::Retryable
    );
    let string_subcode = json!({"error": {"code": 10, "error_subcode": "2018278"}});
    assert_eq!(
        classify_send_error(400, &string_subcode),
        SendErrorClass::Rejected
    );
}
