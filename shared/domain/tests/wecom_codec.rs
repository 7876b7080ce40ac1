//! The WeCom codec against WeCom's published WXBizMsgCrypt sample. Every fixture's source is listed in
//! `tests/fixtures/wecom/README.md`.

use std::collections::HashMap;
use std::path::PathBuf;

use kefu_domain::channels::wechat::{msg_signature, Cipher, PushKind, WechatError};
use kefu_domain::channels::wecom::{open_callback, verify_url};

const TOKEN: &str = "QDG6eK";
const CORP_ID: &str = "wx5823bf96d3bd56c7";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
/// Another valid EncodingAESKey (43 base64 characters).
const OTHER_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/wecom")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A query string decoded as a web framework decodes it (percent-decoding, `+` as a space).
fn query(name: &str) -> HashMap<String, String> {
    let raw = String::from_utf8(fixture(name)).unwrap();
    form_urlencoded::parse(raw.trim().as_bytes())
        .into_owned()
        .collect()
}

fn cipher() -> Cipher {
    Cipher::new(KEY, CORP_ID).unwrap()
}

fn random16(ascii: &str) -> [u8; 16] {
    ascii.as_bytes().try_into().unwrap()
}

#[test]
fn url_verification_sample_answers_the_decrypted_echostr() {
    let q = query("verify_url_query.txt");
    assert_eq!(
        q["echostr"],
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
        "URL-decoded as the sample says"
    );
    let (index, answer) = verify_url(
        &[cipher()],
        TOKEN,
        &q["timestamp"],
        &q["nonce"],
        &q["msg_signature"],
        &q["echostr"],
    )
    .unwrap();
    assert_eq!(index, 0);
    assert_eq!(answer, "1616140317555161061");
}

#[test]
fn url_verification_refuses_a_wrong_signature_token_or_echostr() {
    let q = query("verify_url_query.txt");
    let check = |token: &str, sig: &str, echostr: &str| {
        verify_url(
            &[cipher()],
            token,
            &q["timestamp"],
            &q["nonce"],
            sig,
            echostr,
        )
    };
    let sig = q["msg_signature"].as_str();
    let echostr = q["echostr"].as_str();
    assert_eq!(
        check(TOKEN, "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4", echostr),
        Err(WechatError::BadSignature)
    );
    assert_eq!(check(TOKEN, "", echostr), Err(WechatError::BadSignature));
    assert_eq!(
        check("another", sig, echostr),
        Err(WechatError::BadSignature)
    );
    let tampered = echostr.replacen("P", "Q", 1);
    assert_eq!(check(TOKEN, sig, &tampered), Err(WechatError::BadSignature));
    assert_eq!(check(TOKEN, sig, ""), Err(WechatError::BadSignature));
    // The signature binds the ciphertext to the token, not to the corp: another corp's cipher is refused.
    let other_corp = Cipher::new(KEY, "ww0000000000000000").unwrap();
    assert_eq!(
        verify_url(
            &[other_corp],
            TOKEN,
            &q["timestamp"],
            &q["nonce"],
            sig,
            echostr
        ),
        Err(WechatError::AppIdMismatch)
    );
}

#[test]
fn url_verification_survives_a_plus_decoded_as_a_space() {
    // A `+` of the echostr that was not percent-encoded reads as a space after form decoding.
    let q = query("verify_url_query.txt");
    let spaced = q["echostr"].replace('+', " ");
    assert_ne!(spaced, q["echostr"]);
    let (_, answer) = verify_url(
        &[cipher()],
        TOKEN,
        &q["timestamp"],
        &q["nonce"],
        &q["msg_signature"],
        &spaced,
    )
    .unwrap();
    assert_eq!(answer, "1616140317555161061");
}

#[test]
fn the_encoder_reproduces_the_published_ciphertexts() {
    let q = query("verify_url_query.txt");
    assert_eq!(
        cipher().encrypt(b"1616140317555161061", random16("c41b64491c2468d0")),
        q["echostr"]
    );
    let body = String::from_utf8(fixture("callback_sample.xml")).unwrap();
    let encrypt = cipher().encrypt(
        &fixture("callback_sample_decrypted.xml"),
        random16("0960688932c47ef1"),
    );
    assert!(body.contains(&format!("<Encrypt><![CDATA[{encrypt}]]></Encrypt>")));
    let cq = query("callback_query.txt");
    assert_eq!(
        msg_signature(TOKEN, &cq["timestamp"], &cq["nonce"], &encrypt),
        cq["msg_signature"]
    );
}

#[test]
fn callback_sample_decrypts_to_the_published_message() {
    let q = query("callback_query.txt");
    let cb = open_callback(
        &[cipher()],
        TOKEN,
        &q["timestamp"],
        &q["nonce"],
        &q["msg_signature"],
        &fixture("callback_sample.xml"),
    )
    .unwrap();
    assert_eq!(cb.key_index, 0);
    assert_eq!(cb.agent_id.as_deref(), Some("218"));
    assert_eq!(cb.push.to_user_name, CORP_ID);
    assert_eq!(cb.push.from_user_name, "mycreate");
    assert_eq!(cb.push.create_time, 1_409_659_813);
    assert_eq!(cb.push.msg_id.as_deref(), Some("4561255354251345929"));
    assert_eq!(
        cb.push.kind,
        PushKind::Text {
            content: "hello".into()
        }
    );
    assert_eq!(cb.push.dedupe_key(), "msg:4561255354251345929");
    // The same as parsing the published plaintext directly.
    assert_eq!(
        cb.push,
        kefu_domain::channels::wechat::parse_push(&fixture("callback_sample_decrypted.xml"))
            .unwrap()
    );
}

#[test]
fn tampered_or_missigned_callbacks_are_refused() {
    let q = query("callback_query.txt");
    let body = String::from_utf8(fixture("callback_sample.xml")).unwrap();
    let open = |token: &str, sig: &str, body: &str| {
        open_callback(
            &[cipher()],
            token,
            &q["timestamp"],
            &q["nonce"],
            sig,
            body.as_bytes(),
        )
    };
    let sig = q["msg_signature"].as_str();
    // One character of the ciphertext changed.
    let tampered = body.replacen("RypEvHKD8", "RypEvHKD9", 1);
    assert_eq!(open(TOKEN, sig, &tampered), Err(WechatError::BadSignature));
    assert_eq!(open("another", sig, &body), Err(WechatError::BadSignature));
    assert_eq!(open(TOKEN, "", &body), Err(WechatError::BadSignature));
    // Another timestamp than the one signed.
    assert_eq!(
        open_callback(
            &[cipher()],
            TOKEN,
            "1409659814",
            &q["nonce"],
            sig,
            body.as_bytes()
        ),
        Err(WechatError::BadSignature)
    );
    // The envelope's AgentID is not signed, and it is not what the callback reports.
    let relabelled = body.replace("<![CDATA[218]]>", "<![CDATA[999]]>");
    assert_eq!(
        open(TOKEN, sig, &relabelled).unwrap().agent_id.as_deref(),
        Some("218")
    );
}

#[test]
fn malformed_bodies_are_refused_as_the_callers_fault() {
    let q = query("callback_query.txt");
    let open = |body: &[u8]| {
        open_callback(
            &[cipher()],
            TOKEN,
            &q["timestamp"],
            &q["nonce"],
            &q["msg_signature"],
            body,
        )
    };
    for body in [
        &b"not xml"[..],
        b"<xml><ToUserName>x</ToUserName></xml>",
        b"<xml><Encrypt>",
        br#"{"Encrypt": "abc"}"#,
        br#"<!DOCTYPE xml [<!ENTITY x "y">]><xml><Encrypt>&x;</Encrypt></xml>"#,
    ] {
        let err = open(body).unwrap_err();
        assert_eq!(err.http_status(), 400, "{err:?}");
    }
    let huge = format!(
        "<xml><Encrypt>{}</Encrypt></xml>",
        "A".repeat(kefu_domain::channels::wechat::MAX_PUSH_BYTES)
    );
    assert_eq!(open(huge.as_bytes()), Err(WechatError::TooLarge));
}

/// Encrypts and signs a payload with the sample's parameters, as WeCom would.
fn signed(plain: &str, key: &str, corp: &str) -> (String, String) {
    let encrypt = Cipher::new(key, corp)
        .unwrap()
        .encrypt(plain.as_bytes(), [7; 16]);
    let body = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (msg_signature(TOKEN, "1700000000", "42", &encrypt), body)
}

#[test]
fn undecryptable_and_other_corp_payloads_are_400() {
    let plain = "<xml><ToUserName>c</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>";
    // Signed correctly but encrypted with a key the channel does not have.
    let (sig, body) = signed(plain, OTHER_KEY, CORP_ID);
    let err = open_callback(
        &[cipher()],
        TOKEN,
        "1700000000",
        "42",
        &sig,
        body.as_bytes(),
    )
    .unwrap_err();
    assert_eq!(err.http_status(), 400, "{err:?}");
    // The right key, another corp's trailer.
    let (sig, body) = signed(plain, KEY, "ww1436e0e65a779aee");
    assert_eq!(
        open_callback(
            &[cipher()],
            TOKEN,
            "1700000000",
            "42",
            &sig,
            body.as_bytes()
        ),
        Err(WechatError::AppIdMismatch)
    );
    // A signed, decryptable payload that is not a push.
    let (sig, body) = signed("<xml><Nothing/></xml>", KEY, CORP_ID);
    let err = open_callback(
        &[cipher()],
        TOKEN,
        "1700000000",
        "42",
        &sig,
        body.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(err, WechatError::Malformed(_)), "{err:?}");
}

#[test]
fn the_previous_encoding_aes_key_still_opens_callbacks() {
    let plain = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>\
                 <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><AgentID>1000002</AgentID>\
                 <Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey></xml>";
    let (sig, body) = signed(plain, KEY, CORP_ID);
    let rotated = [Cipher::new(OTHER_KEY, CORP_ID).unwrap(), cipher()];
    let cb = open_callback(&rotated, TOKEN, "1700000000", "42", &sig, body.as_bytes()).unwrap();
    assert_eq!(cb.key_index, 1);
    assert_eq!(cb.agent_id.as_deref(), Some("1000002"));
    assert_eq!(cb.push.from_user_name, "zhangsan");
    assert_eq!(cb.push.dedupe_key(), "evt:zhangsan:1700000000");
    assert!(matches!(
        cb.push.kind,
        PushKind::Event(kefu_domain::channels::wechat::Event::Other { ref event }) if event == "enter_agent"
    ));
}
