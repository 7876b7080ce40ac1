//! Mini Program pushes in JSON (the samples of WeChat's "接收消息和事件" page), plain and encrypted.

use kefu_domain::channels::wechat::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/wechat/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn json_text_matches_its_xml_twin() {
    let json = parse_push_json(&fixture("miniprogram_text.json")).unwrap();
    assert_eq!(json.to_user_name, "toUser");
    assert_eq!(json.from_user_name, "fromUser");
    assert_eq!(json.create_time, 1482048670);
    assert_eq!(json.msg_id.as_deref(), Some("1234567890123456"));
    assert_eq!(
        json.kind,
        PushKind::Text {
            content: "this is a test".into()
        }
    );
    assert_eq!(json.dedupe_key(), "msg:1234567890123456");
}

#[test]
fn json_image_card_and_enter_session() {
    let image = parse_push_json(&fixture("miniprogram_image.json")).unwrap();
    assert_eq!(
        image.kind,
        PushKind::Image {
            pic_url: "this is a url".into(),
            media_id: "media_id".into()
        }
    );
    let page = parse_push_json(&fixture("miniprogram_page.json")).unwrap();
    assert_eq!(
        page.kind,
        PushKind::MiniProgramPage {
            title: "title".into(),
            app_id: "appid".into(),
            page_path: "path".into(),
            thumb_url: String::new(),
            thumb_media_id: String::new(),
        }
    );
    let enter = parse_push_json(&fixture("miniprogram_user_enter_tempsession.json")).unwrap();
    assert_eq!(
        enter.kind,
        PushKind::Event(Event::UserEnterTempSession {
            session_from: Some("sessionFrom".into())
        })
    );
    assert_eq!(enter.dedupe_key(), "evt:fromUser:1482048670");
}

#[test]
fn json_format_is_detected() {
    assert!(is_json(&fixture("miniprogram_text.json")));
    assert!(is_json(b"  \n{}"));
    assert!(!is_json(b"<xml></xml>"));
    assert!(!is_json(b""));
}

#[test]
fn malformed_json_pushes_are_refused() {
    assert!(matches!(
        parse_push_json(b"{"),
        Err(WechatError::Malformed(_))
    ));
    assert!(matches!(
        parse_push_json(b"[1,2]"),
        Err(WechatError::Malformed(_))
    ));
    let missing = br#"{"ToUserName":"a","CreateTime":1,"MsgType":"text"}"#;
    assert!(
        matches!(parse_push_json(missing), Err(WechatError::Malformed(m)) if m.contains("FromUserName"))
    );
    let nested = br#"{"ToUserName":"a","FromUserName":{"x":1},"CreateTime":1,"MsgType":"text"}"#;
    assert!(matches!(
        parse_push_json(nested),
        Err(WechatError::Malformed(_))
    ));
    let bad_time = br#"{"ToUserName":"a","FromUserName":"b","CreateTime":"soon","MsgType":"text"}"#;
    assert!(matches!(
        parse_push_json(bad_time),
        Err(WechatError::Malformed(_))
    ));
    let mut big =
        br#"{"ToUserName":"a","FromUserName":"b","CreateTime":1,"MsgType":"text","Content":""#
            .to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_PUSH_BYTES));
    big.extend(br#""}"#);
    assert_eq!(parse_push_json(&big), Err(WechatError::TooLarge));
}

#[test]
fn encrypted_json_pushes_open_like_xml_ones() {
    // Encrypted with the codec's own cipher, whose output matches Tencent's published vectors
    // (see wechat_codec.rs); this checks the JSON envelope and the JSON payload inside it.
    let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let cipher = Cipher::new(key, "wxb11529c136998cb6").unwrap();
    let encrypt = cipher.encrypt(&fixture("miniprogram_text.json"), *b"aaaabbbbccccdddd");
    let body = format!(r#"{{"ToUserName":"toUser","Encrypt":"{encrypt}"}}"#);
    let sig = msg_signature("pamtest", "1409304348", "xxxxxx", &encrypt);
    let (index, push) = open_encrypted_push(
        std::slice::from_ref(&cipher),
        "pamtest",
        "1409304348",
        "xxxxxx",
        &sig,
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(index, 0);
    assert_eq!(
        push.kind,
        PushKind::Text {
            content: "this is a test".into()
        }
    );
    let err = open_encrypted_push(
        &[cipher],
        "pamtest",
        "1409304348",
        "xxxxxx",
        "0000",
        body.as_bytes(),
    );
    assert_eq!(err.unwrap_err(), WechatError::BadSignature);
}
