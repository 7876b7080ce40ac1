//! Channel payloads → the normalised [`InboundEvent`].

use super::messenger::{Attachment, EventKind, MessagingEvent};
use super::sms::InboundSms;
use super::wechat::{Event, Push, PushKind};
use crate::messages::{Content, InboundEvent, FORMAT_VERSION};
use crate::model::Channel;

/// A WeChat Official Account / Mini Program push as an inbound event of `channel`.
pub fn from_wechat_push(push: &Push, channel: &Channel, received_ms: i64) -> InboundEvent {
    let content = match &push.kind {
        PushKind::Text { content } => Content::Text {
            text: content.clone(),
        },
        PushKind::Image { pic_url, media_id } => Content::Image {
            url: Some(pic_url.clone()).filter(|u| !u.is_empty()),
            media_id: Some(media_id.clone()).filter(|m| !m.is_empty()),
        },
        PushKind::Voice {
            media_id,
            format,
            recognition,
        } => Content::Voice {
            media_id: media_id.clone(),
            format: Some(format.clone()).filter(|f| !f.is_empty()),
            recognition: recognition.clone(),
        },
        PushKind::Video {
            media_id,
            thumb_media_id,
        }
        | PushKind::ShortVideo {
            media_id,
            thumb_media_id,
        } => Content::Video {
            url: None,
            media_id: Some(media_id.clone()),
            thumb_media_id: Some(thumb_media_id.clone()).filter(|m| !m.is_empty()),
        },
        PushKind::Location {
            latitude,
            longitude,
            label,
            ..
        } => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            label: Some(label.clone()).filter(|l| !l.is_empty()),
        },
        PushKind::Link {
            title,
            description,
            url,
        } => Content::Link {
            url: url.clone(),
            title: Some(title.clone()),
            description: Some(description.clone()).filter(|d| !d.is_empty()),
        },
        PushKind::MiniProgramPage {
            title,
            page_path,
            thumb_url,
            ..
        } => Content::Card {
            title: title.clone(),
            url: Some(page_path.clone()).filter(|p| !p.is_empty()),
            thumb_url: Some(thumb_url.clone()).filter(|t| !t.is_empty()),
        },
        PushKind::Event(Event::Subscribe { event_key, .. }) => Content::Follow {
            scene: event_key.clone(),
        },
        PushKind::Event(Event::Unsubscribe) => Content::Unfollow,
        PushKind::Event(Event::UserEnterTempSession { session_from }) => Content::EnterSession {
            source: session_from.clone(),
        },
        PushKind::Event(Event::Scan { .. }) => Content::Other {
            kind: "scan".into(),
        },
        PushKind::Event(Event::Click { .. }) => Content::Other {
            kind: "menu_click".into(),
        },
        PushKind::Event(Event::View { .. }) => Content::Other {
            kind: "menu_view".into(),
        },
        PushKind::Event(Event::ReportLocation { .. }) => Content::Other {
            kind: "location_report".into(),
        },
        PushKind::Event(Event::Other { event }) => Content::Other {
            kind: format!("event:{event}"),
        },
        PushKind::Other { msg_type } => Content::Other {
            kind: format!("message:{msg_type}"),
        },
    };
    InboundEvent {
        v: FORMAT_VERSION,
        event_id: push.dedupe_key(),
        account_id: channel.account_id.clone(),
        channel_id: channel.channel_id.clone(),
        channel_kind: channel.kind,
        customer: push.from_user_name.clone(),
        occurred_ms: push.create_time.saturating_mul(1000),
        received_ms,
        lang: None,
        content,
    }
}

/// A Messenger webhook event as the inbound event of `channel`, or `None` when it is not the customer
/// speaking or acting. A message with several parts (text and attachments) gives its first part here; see
/// [`from_messenger_event_parts`] for all of them.
pub fn from_messenger_event(
    ev: &MessagingEvent,
    channel: &Channel,
    received_ms: i64,
) -> Option<InboundEvent> {
    from_messenger_event_parts(ev, channel, received_ms)
        .into_iter()
        .next()
}

/// A Messenger webhook event as inbound events of `channel`: one per part of a message (its text, then
/// each attachment, in order), exactly one for other events the customer caused, none for the rest.
///
/// - `customer` is the PSID, `occurred_ms` the event's timestamp, `lang` unknown (webhooks carry no locale).
/// - `event_id` is [`MessagingEvent::dedupe_key`] (`mid:<mid>` for messages and postbacks), so a
///   redelivered event is deduplicated; a message's second and later parts get `#2`, `#3`… appended.
/// - Text (also a tapped quick reply, whose text is the button's title) → [`Content::Text`].
/// - Attachments stay references to Meta's URLs (they expire after some days; nothing is fetched here):
///   `image` (stickers too) → [`Content::Image`], `audio` → [`Content::Voice`] with the URL as `media_id`,
///   `video` → [`Content::Video`], `file` → [`Content::File`], `location` → [`Content::Location`] (label =
///   its title), a shared link (`fallback` with a URL) → [`Content::Link`] unless the text already is that
///   URL, other types with a URL (reels, posts) → [`Content::Link`], without one →
///   `Content::Other { kind: "attachment:<type>" }`. A message with no usable part →
///   `Content::Other { kind: "message:unsupported" }`.
/// - A postback (a tapped button, Get Started, a persistent-menu item) → [`Content::Text`] with the
///   button's title: Messenger itself shows that title in the thread as the customer's message, so the
///   agent sees what the customer saw. The payload is the page developer's code, not shown to anyone: a
///   postback without a title is `Content::Other { kind: "postback" }`.
/// - A referral (the customer came back through an m.me link, an ad or a plugin) →
///   `Content::Other { kind: "referral" }`; an opt-in → `Content::Other { kind: "optin" }`: history only,
///   no conversation.
/// - `None`: echoes (the page's own messages), reads, deliveries, reactions, events of unknown kinds
///   (handover-protocol notices and the like), events that name the customer only by a plugin's
///   `user_ref` (no PSID to reply to), and `standby` events (another app owns the thread and answers it).
pub fn from_messenger_event_parts(
    ev: &MessagingEvent,
    channel: &Channel,
    received_ms: i64,
) -> Vec<InboundEvent> {
    if ev.standby || ev.is_echo() {
        return Vec::new();
    }
    let Some(psid) = ev.psid().filter(|p| !p.is_empty()) else {
        return Vec::new();
    };
    let contents: Vec<Content> = match &ev.kind {
        EventKind::Message(m) => {
            let text = m.text.as_deref().filter(|t| !t.is_empty());
            let mut parts: Vec<Content> = text
                .map(|t| Content::Text { text: t.to_owned() })
                .into_iter()
                .collect();
            parts.extend(
                m.attachments
                    .iter()
                    .filter_map(|a| messenger_attachment(a, text)),
            );
            if parts.is_empty() {
                parts.push(Content::Other {
                    kind: "message:unsupported".into(),
                });
            }
            parts
        }
        EventKind::Postback(p) => vec![match p.title.as_deref().filter(|t| !t.is_empty()) {
            Some(title) => Content::Text {
                text: title.to_owned(),
            },
            None => Content::Other {
                kind: "postback".into(),
            },
        }],
        EventKind::Referral(_) => vec![Content::Other {
            kind: "referral".into(),
        }],
        EventKind::Optin(_) => vec![Content::Other {
            kind: "optin".into(),
        }],
        EventKind::Read { .. }
        | EventKind::Delivery { .. }
        | EventKind::Reaction(_)
        | EventKind::Other { .. } => Vec::new(),
    };
    let key = ev.dedupe_key();
    contents
        .into_iter()
        .enumerate()
        .map(|(i, content)| InboundEvent {
            v: FORMAT_VERSION,
            event_id: if i == 0 {
                key.clone()
            } else {
                format!("{key}#{}", i + 1)
            },
            account_id: channel.account_id.clone(),
            channel_id: channel.channel_id.clone(),
            channel_kind: channel.kind,
            customer: psid.to_owned(),
            occurred_ms: ev.timestamp_ms,
            received_ms,
            lang: None,
            content,
        })
        .collect()
}

/// One attachment of a customer's message; `None` for what adds nothing (a template, which only echoes
/// carry; a shared link whose URL is already the message text; an unsupported share without a URL).
fn messenger_attachment(a: &Attachment, text: Option<&str>) -> Option<Content> {
    let url = |u: &Option<String>| u.clone().filter(|u| !u.is_empty());
    Some(match a {
        Attachment::Image { url: u } => Content::Image {
            url: url(u),
            media_id: None,
        },
        Attachment::Audio { url: u } => match url(u) {
            Some(u) => Content::Voice {
                media_id: u,
                format: None,
                recognition: None,
            },
            None => Content::Other {
                kind: "attachment:audio".into(),
            },
        },
        Attachment::Video { url: u } => Content::Video {
            url: url(u),
            media_id: None,
            thumb_media_id: None,
        },
        Attachment::File { url: u } => Content::File {
            url: url(u),
            media_id: None,
            name: None,
        },
        Attachment::Location {
            latitude,
            longitude,
            title,
            ..
        } => Content::Location {
            latitude: *latitude,
            longitude: *longitude,
            label: title.clone().filter(|t| !t.is_empty()),
        },
        Attachment::Fallback { title, url: u } => {
            let u = url(u)?;
            if text.is_some_and(|t| t.trim() == u) {
                return None;
            }
            Content::Link {
                url: u,
                title: title.clone().filter(|t| !t.is_empty()),
                description: None,
            }
        }
        Attachment::Template { .. } => return None,
        Attachment::Other { kind, url: u } => match url(u) {
            Some(u) => Content::Link {
                url: u,
                title: None,
                description: None,
            },
            None => Content::Other {
                kind: format!("attachment:{kind}"),
            },
        },
    })
}

/// An inbound SMS or MMS (Twilio, Aliyun, Tencent) as the inbound event of `channel`: the text if there
/// is one, else the first attachment. See [`from_sms_parts`] for every part of an MMS.
pub fn from_sms(sms: &InboundSms, channel: &Channel, received_ms: i64) -> InboundEvent {
    from_sms_parts(sms, channel, received_ms)
        .into_iter()
        .next()
        .expect("an SMS always gives at least one event")
}

/// An inbound SMS or MMS as inbound events of `channel`: the text (when not empty), then one event per
/// MMS attachment, in order; at least one event (an empty SMS is an empty text).
///
/// - `event_id` is [`InboundSms::message_id`] (`twilio:<MessageSid>`, `aliyun:<sequence_id>`,
///   `tencent:…`), so a provider's retry is deduplicated; the second and later parts get `#2`, `#3`…
/// - `customer` is the sender's number in E.164 (`+14155550100`, `+8613800000000`), as the provider
///   gave it; `lang` is unknown (SMS carries none).
/// - `occurred_ms` is the provider's time when the callback has one (Aliyun, Tencent), else
///   `received_ms`.
/// - Attachments (Twilio MMS) stay references to the provider's URLs, by content type: `image/*` →
///   [`Content::Image`], `video/*` → [`Content::Video`], `audio/*` → [`Content::Voice`] with the URL as
///   `media_id` and the subtype as `format`, anything else (vCard, PDF…) → [`Content::File`].
pub fn from_sms_parts(sms: &InboundSms, channel: &Channel, received_ms: i64) -> Vec<InboundEvent> {
    let mut contents: Vec<Content> = Vec::new();
    if !sms.text.is_empty() || sms.media.is_empty() {
        contents.push(Content::Text {
            text: sms.text.clone(),
        });
    }
    contents.extend(
        sms.media
            .iter()
            .map(|(url, content_type)| sms_media(url, content_type)),
    );
    let occurred_ms = sms
        .received_at_s
        .map(|s| s.saturating_mul(1000))
        .unwrap_or(received_ms);
    contents
        .into_iter()
        .enumerate()
        .map(|(i, content)| InboundEvent {
            v: FORMAT_VERSION,
            event_id: if i == 0 {
                sms.message_id.clone()
            } else {
                format!("{}#{}", sms.message_id, i + 1)
            },
            account_id: channel.account_id.clone(),
            channel_id: channel.channel_id.clone(),
            channel_kind: channel.kind,
            customer: sms.from.clone(),
            occurred_ms,
            received_ms,
            lang: None,
            content,
        })
        .collect()
}

/// One MMS attachment by its content type (see [`from_sms_parts`]).
fn sms_media(url: &str, content_type: &str) -> Content {
    let content_type = content_type.trim().to_ascii_lowercase();
    let (kind, subtype) = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .split_once('/')
        .unwrap_or(("", ""));
    let url = Some(url.to_owned()).filter(|u| !u.is_empty());
    match kind {
        "image" => Content::Image {
            url,
            media_id: None,
        },
        "video" => Content::Video {
            url,
            media_id: None,
            thumb_media_id: None,
        },
        "audio" if url.is_some() => Content::Voice {
            media_id: url.unwrap_or_default(),
            format: Some(subtype.trim().to_owned()).filter(|s| !s.is_empty()),
            recognition: None,
        },
        _ => Content::File {
            url,
            media_id: None,
            name: None,
        },
    }
}

// ---- Web chat ----

/// A web chat visitor's text message as an inbound event of `channel` (tests in `channels::webchat`).
///
/// `customer` is the visitor id and `event_id` is `web:{visitor}:{client_id}`
/// ([`super::webchat::event_id`]): the widget resends a message with the same `client_id`, so the inbound
/// queue deduplicates it. The language is the session's (the browser's), the time is when the visitor API
/// accepted the message.
pub fn from_web_chat(
    channel: &Channel,
    visitor_id: &str,
    client_id: &str,
    text: &str,
    lang: Option<crate::model::Lang>,
    received_ms: i64,
) -> InboundEvent {
    InboundEvent {
        v: FORMAT_VERSION,
        event_id: super::webchat::event_id(visitor_id, client_id),
        account_id: channel.account_id.clone(),
        channel_id: channel.channel_id.clone(),
        channel_kind: channel.kind,
        customer: visitor_id.to_owned(),
        occurred_ms: received_ms,
        received_ms,
        lang,
        content: Content::Text {
            text: text.to_owned(),
        },
    }
}

/// A WeCom callback as an inbound event of `channel` (a [`crate::model::ChannelKind::Wecom`] channel).
///
/// The decrypted payload is an Official-Account-style push, mapped as [`from_wechat_push`] maps it:
/// `customer` is the member's UserID (`FromUserName`), `event_id` is `msg:<MsgId>` for messages and
/// `evt:<UserID>:<CreateTime>` for events, `occurred_ms` is `CreateTime`. A member following the app
/// (`subscribe`) is a follow; entering the app (`enter_agent`) and the other WeCom events are kept as
/// `Content::Other { kind: "event:<name>" }` (history only, no conversation, no greeting).
pub fn from_wecom_callback(
    callback: &super::wecom::Callback,
    channel: &Channel,
    received_ms: i64,
) -> InboundEvent {
    from_wechat_push(&callback.push, channel, received_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::wechat::parse_push;
    use crate::model::ChannelKind;

    fn channel() -> Channel {
        Channel {
            channel_id: "ch1".into(),
            account_id: "acc".into(),
            kind: ChannelKind::WechatOa,
            external_id: "wx1".into(),
            name: "OA".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    #[test]
    fn text_and_subscribe_map_to_message_and_follow() {
        let text = parse_push(b"<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>").unwrap();
        let ev = from_wechat_push(&text, &channel(), 5);
        assert_eq!(ev.event_id, "msg:1234567890123456");
        assert_eq!(ev.customer, "fromUser");
        assert_eq!(ev.occurred_ms, 1_348_831_860_000);
        assert_eq!(
            ev.content,
            Content::Text {
                text: "this is a test".into()
            }
        );

        let sub = parse_push(b"<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>").unwrap();
        let ev = from_wechat_push(&sub, &channel(), 5);
        assert_eq!(ev.event_id, "evt:FromUser:123456789");
        assert_eq!(
            ev.content,
            Content::Follow {
                scene: Some("qrscene_123123".into())
            }
        );
    }

    // ---- Messenger, with the codec's fixtures (tests/fixtures/messenger) ----

    use crate::channels::messenger::parse_webhook;

    fn page() -> Channel {
        Channel {
            channel_id: "fb1".into(),
            account_id: "acc".into(),
            kind: ChannelKind::Messenger,
            external_id: "<PAGE_ID>".into(),
            name: "Page".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/messenger")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
    }

    /// Every inbound event of a body, in body order.
    fn mapped(body: &[u8]) -> Vec<InboundEvent> {
        parse_webhook(body)
            .unwrap()
            .iter()
            .flat_map(|ev| from_messenger_event_parts(ev, &page(), 7))
            .collect()
    }

    fn one(body: &[u8]) -> Option<InboundEvent> {
        let events = parse_webhook(body).unwrap();
        assert_eq!(events.len(), 1);
        from_messenger_event(&events[0], &page(), 7)
    }

    #[test]
    fn messenger_text_message_with_quick_reply() {
        let ev = one(&fixture("message_text_quick_reply.json")).unwrap();
        assert_eq!(ev.event_id, "mid:mid.1457764197618:41d102a3e1ae206a38");
        assert_eq!(ev.customer, "<PSID>");
        assert_eq!(ev.occurred_ms, 1_458_692_752_478);
        assert_eq!(ev.received_ms, 7);
        assert_eq!(ev.channel_kind, ChannelKind::Messenger);
        assert_eq!(
            (ev.account_id.as_str(), ev.channel_id.as_str()),
            ("acc", "fb1")
        );
        assert_eq!(ev.lang, None);
        assert_eq!(
            ev.content,
            Content::Text {
                text: "hello, world!".into()
            }
        );
        let reply = one(&fixture("message_reply_to.json")).unwrap();
        assert_eq!(reply.event_id, "mid:m_1457764197618:41d102a3e1ae206a38");
        assert!(matches!(reply.content, Content::Text { .. }));
    }

    #[test]
    fn messenger_attachments_keep_their_urls_as_references() {
        let image = fixture("message_attachment_image.json");
        let ev = one(&image).unwrap();
        assert_eq!(ev.event_id, "mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c");
        assert_eq!(ev.occurred_ms, 1_518_479_195_308);
        let url = Some("<ATTACHMENT_URL>".to_string());
        assert_eq!(
            ev.content,
            Content::Image {
                url: url.clone(),
                media_id: None
            }
        );
        let with_type = |t: &str| {
            String::from_utf8(image.clone())
                .unwrap()
                .replace("\"type\": \"image\"", &format!("\"type\": \"{t}\""))
                .into_bytes()
        };
        assert_eq!(
            one(&with_type("audio")).unwrap().content,
            Content::Voice {
                media_id: "<ATTACHMENT_URL>".into(),
                format: None,
                recognition: None
            }
        );
        assert_eq!(
            one(&with_type("video")).unwrap().content,
            Content::Video {
                url: url.clone(),
                media_id: None,
                thumb_media_id: None
            }
        );
        assert_eq!(
            one(&with_type("file")).unwrap().content,
            Content::File {
                url,
                media_id: None,
                name: None
            }
        );
    }

    #[test]
    fn messenger_echoes_reads_deliveries_reactions_and_standby_are_not_the_customer() {
        for name in [
            "message_echo_text.json",
            "message_echo_template_standby.json",
            "read.json",
            "delivery.json",
            "reaction.json",
        ] {
            assert_eq!(one(&fixture(name)), None, "{name}");
        }
        // A customer's message that arrives in standby[] belongs to the app that owns the thread.
        let standby = String::from_utf8(fixture("message_text_quick_reply.json"))
            .unwrap()
            .replace("\"messaging\"", "\"standby\"");
        assert_eq!(one(standby.as_bytes()), None);
    }

    #[test]
    fn messenger_postback_shows_the_button_title_as_the_customer_said_it() {
        // The published sample names the sender by user_ref only: no PSID to answer, so no event.
        let sample = fixture("postback.json");
        assert_eq!(one(&sample), None);
        let with_psid = String::from_utf8(sample)
            .unwrap()
            .replace("\"user_ref\":\"USER-REF-ID\"", "\"id\":\"PSID-1\"");
        let ev = one(with_psid.as_bytes()).unwrap();
        assert_eq!(ev.customer, "PSID-1");
        assert_eq!(ev.event_id, "mid:m_1457764197618:41d102a3e1ae206a38");
        assert_eq!(
            ev.content,
            Content::Text {
                text: "TITLE-FOR-THE-CTA".into()
            }
        );
        let untitled = with_psid.replace("\"title\": \"TITLE-FOR-THE-CTA\",", "");
        assert_eq!(
            one(untitled.as_bytes()).unwrap().content,
            Content::Other {
                kind: "postback".into()
            }
        );
    }

    #[test]
    fn messenger_referrals_and_optins_are_kept_as_other_events() {
        // The chat-plugin referral knows the visitor by user_ref only.
        assert_eq!(one(&fixture("referral_chat_plugin.json")), None);
        let optin = one(&fixture("optin_checkbox.json")).unwrap();
        assert_eq!(optin.customer, "<PSID>");
        assert_eq!(
            optin.content,
            Content::Other {
                kind: "optin".into()
            }
        );
        assert_eq!(optin.event_id, "evt:<PSID>:1234567890:optin");
    }

    #[test]
    fn messenger_batched_body_maps_only_what_the_customers_did_in_order() {
        let events = mapped(&fixture("batched_two_entries.json"));
        let got: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.event_id.as_str(), e.content.kind()))
            .collect();
        assert_eq!(
            got,
            [
                ("mid:mid.1457764197618:41d102a3e1ae206a38", "text"),
                ("mid:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c", "image"),
                ("mid:m_1457764197618:41d102a3e1ae206a38", "text"),
                ("evt:<PSID>:1458692752478:referral", "other"),
            ]
        );
    }

    #[test]
    fn messenger_message_parts_each_become_an_event() {
        let body = serde_json::json!({
            "object": "page",
            "entry": [{"id": "P", "time": 1, "messaging": [{
                "sender": {"id": "PSID-2"}, "recipient": {"id": "P"}, "timestamp": 1_700_000_000_000i64,
                "message": {
                    "mid": "m_parts",
                    "text": "https://example.com/booking",
                    "attachments": [
                        {"type": "fallback", "payload": {"url": "https://example.com/booking", "title": "Booking"}},
                        {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}},
                        {"type": "location", "payload": {"coordinates": {"lat": 22.3, "long": 114.2}}, "title": "Pier 7"},
                        {"type": "reel", "payload": {"url": "https://example.com/reel"}},
                        {"type": "ig_post", "payload": {}}
                    ]
                }
            }]}]
        });
        let events = mapped(&serde_json::to_vec(&body).unwrap());
        let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "mid:m_parts",
                "mid:m_parts#2",
                "mid:m_parts#3",
                "mid:m_parts#4",
                "mid:m_parts#5"
            ]
        );
        assert_eq!(
            events[0].content,
            Content::Text {
                text: "https://example.com/booking".into()
            }
        );
        assert_eq!(
            events[2].content,
            Content::Location {
                latitude: 22.3,
                longitude: 114.2,
                label: Some("Pier 7".into())
            }
        );
        assert_eq!(
            events[3].content,
            Content::Link {
                url: "https://example.com/reel".into(),
                title: None,
                description: None
            }
        );
        assert_eq!(
            events[4].content,
            Content::Other {
                kind: "attachment:ig_post".into()
            }
        );
        assert!(events.iter().all(|e| e.customer == "PSID-2"));
        // The first part alone is what `from_messenger_event` gives.
        let first = parse_webhook(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(
            from_messenger_event(&first[0], &page(), 7).as_ref(),
            events.first()
        );

        // A link shared alone (no text) is a link; an unsupported share alone is still an event.
        let link_only = serde_json::json!({"object": "page", "entry": [{"id": "P", "time": 1, "messaging": [{
            "sender": {"id": "PSID-2"}, "timestamp": 5,
            "message": {"mid": "m_link", "attachments": [{"type": "fallback", "title": "Menu", "url": "https://example.com/menu"}]}
        }]}]});
        assert_eq!(
            mapped(&serde_json::to_vec(&link_only).unwrap())[0].content,
            Content::Link {
                url: "https://example.com/menu".into(),
                title: Some("Menu".into()),
                description: None
            }
        );
        let unsupported = serde_json::json!({"object": "page", "entry": [{"id": "P", "time": 1, "messaging": [{
            "sender": {"id": "PSID-2"}, "timestamp": 5,
            "message": {"mid": "m_x", "attachments": [{"type": "fallback"}]}
        }]}]});
        let events = mapped(&serde_json::to_vec(&unsupported).unwrap());
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].content,
            Content::Other {
                kind: "message:unsupported".into()
            }
        );
    }
}

#[cfg(test)]
mod sms_tests {
    use super::*;
    use crate::channels::sms::{aliyun, tencent};
    use crate::model::ChannelKind;

    fn channel(kind: ChannelKind) -> Channel {
        Channel {
            channel_id: "sms1".into(),
            account_id: "acc".into(),
            kind,
            external_id: "+14155550100".into(),
            name: "SMS".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn twilio_sms_is_a_text_from_the_sender_number() {
        let sms = InboundSms::from_twilio(&form(&[
            ("MessageSid", "SM1234567890abcdef1234567890abcdef"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
            ("Body", "Do you have a room tonight?"),
            ("NumMedia", "0"),
        ]))
        .unwrap();
        let ev = from_sms(&sms, &channel(ChannelKind::SmsTwilio), 42);
        assert_eq!(ev.event_id, "twilio:SM1234567890abcdef1234567890abcdef");
        assert_eq!(ev.customer, "+14155550123");
        assert_eq!(ev.channel_kind, ChannelKind::SmsTwilio);
        assert_eq!(
            (ev.account_id.as_str(), ev.channel_id.as_str()),
            ("acc", "sms1")
        );
        assert_eq!(
            (ev.occurred_ms, ev.received_ms),
            (42, 42),
            "Twilio sends no time"
        );
        assert_eq!(ev.lang, None);
        assert_eq!(
            ev.content,
            Content::Text {
                text: "Do you have a room tonight?".into()
            }
        );
        assert_eq!(
            from_sms_parts(&sms, &channel(ChannelKind::SmsTwilio), 42).len(),
            1
        );
    }

    #[test]
    fn twilio_mms_gives_the_text_then_each_attachment_by_content_type() {
        let sms = InboundSms::from_twilio(&form(&[
            ("MessageSid", "MM1"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
            ("Body", "photos"),
            ("NumMedia", "4"),
            ("MediaUrl0", "https://api.twilio.com/m/0"),
            ("MediaContentType0", "image/jpeg"),
            ("MediaUrl1", "https://api.twilio.com/m/1"),
            ("MediaContentType1", "video/mp4"),
            ("MediaUrl2", "https://api.twilio.com/m/2"),
            ("MediaContentType2", "audio/amr"),
            ("MediaUrl3", "https://api.twilio.com/m/3"),
            ("MediaContentType3", "text/vcard"),
        ]))
        .unwrap();
        let parts = from_sms_parts(&sms, &channel(ChannelKind::SmsTwilio), 1);
        let ids: Vec<&str> = parts.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "twilio:MM1",
                "twilio:MM1#2",
                "twilio:MM1#3",
                "twilio:MM1#4",
                "twilio:MM1#5"
            ]
        );
        assert_eq!(
            parts[0].content,
            Content::Text {
                text: "photos".into()
            }
        );
        assert_eq!(
            parts[1].content,
            Content::Image {
                url: Some("https://api.twilio.com/m/0".into()),
                media_id: None
            }
        );
        assert_eq!(parts[2].content.kind(), "video");
        assert_eq!(
            parts[3].content,
            Content::Voice {
                media_id: "https://api.twilio.com/m/2".into(),
                format: Some("amr".into()),
                recognition: None
            }
        );
        assert_eq!(
            parts[4].content,
            Content::File {
                url: Some("https://api.twilio.com/m/3".into()),
                media_id: None,
                name: None
            }
        );
        assert!(parts.iter().all(|e| e.customer == "+14155550123"));

        // A media-only MMS starts with its first attachment.
        let media_only = InboundSms::from_twilio(&form(&[
            ("MessageSid", "MM2"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/m/9"),
            ("MediaContentType0", "IMAGE/PNG"),
        ]))
        .unwrap();
        let ev = from_sms(&media_only, &channel(ChannelKind::SmsTwilio), 1);
        assert_eq!(ev.event_id, "twilio:MM2");
        assert_eq!(ev.content.kind(), "image");
    }

    #[test]
    fn aliyun_batch_messages_each_become_an_event_with_the_carrier_time() {
        let body = r#"[{"phone_number":"13800000000","content":"你好","send_time":"2017-09-01 08:00:00","dest_code":"1234","sequence_id":1234567890,"sign_name":"签名"},
                       {"phone_number":"13900000001","content":"在吗","send_time":"2017-09-01 08:00:01","dest_code":"1234","sequence_id":"1234567891"}]"#;
        let batch = aliyun::parse_sms_up(body.as_bytes()).unwrap();
        let events: Vec<InboundEvent> = batch
            .iter()
            .map(|m| from_sms(m, &channel(ChannelKind::SmsAliyun), 5))
            .collect();
        assert_eq!(events[0].event_id, "aliyun:1234567890");
        assert_eq!(events[0].customer, "+8613800000000");
        // 08:00:00 in Beijing is midnight UTC.
        assert_eq!(events[0].occurred_ms, 1_504_224_000_000);
        assert_eq!(
            events[0].content,
            Content::Text {
                text: "你好".into()
            }
        );
        assert_eq!(events[1].event_id, "aliyun:1234567891");
        assert_eq!(events[1].customer, "+8613900000001");
        assert_eq!(events[1].channel_kind, ChannelKind::SmsAliyun);
    }

    #[test]
    fn tencent_reply_is_a_text_with_its_time() {
        let body = r#"{"extend":"","mobile":"13800000000","nationcode":"86","sign":"签名","text":"回复","time":1457336869}"#;
        let sms = tencent::parse_reply(body.as_bytes()).unwrap();
        let ev = from_sms(&sms, &channel(ChannelKind::SmsTencent), 5);
        assert!(ev.event_id.starts_with("tencent:8613800000000:1457336869:"));
        assert_eq!(ev.customer, "+8613800000000");
        assert_eq!(ev.occurred_ms, 1_457_336_869_000);
        assert_eq!(
            ev.content,
            Content::Text {
                text: "回复".into()
            }
        );
    }

    #[test]
    fn an_empty_sms_is_an_empty_text() {
        let sms = InboundSms::from_twilio(&form(&[
            ("MessageSid", "SM0"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
        ]))
        .unwrap();
        let parts = from_sms_parts(&sms, &channel(ChannelKind::SmsTwilio), 1);
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0].content,
            Content::Text {
                text: String::new()
            }
        );
    }
}

#[cfg(test)]
mod wecom_tests {
    use super::*;
    use crate::channels::wechat::parse_push;
    use crate::channels::wecom::Callback;
    use crate::model::ChannelKind;

    fn channel() -> Channel {
        Channel {
            channel_id: "wecom1".into(),
            account_id: "acc".into(),
            kind: ChannelKind::Wecom,
            external_id: "wx5823bf96d3bd56c7".into(),
            name: "WeCom".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    fn callback(xml: &str) -> Callback {
        Callback {
            push: parse_push(xml.as_bytes()).unwrap(),
            agent_id: Some("218".into()),
            key_index: 0,
        }
    }

    #[test]
    fn a_member_text_is_a_wecom_text_from_the_user_id() {
        // The decrypted payload of WeCom's published callback sample.
        let cb = callback(
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n\
             <CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n\
             <MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>",
        );
        let ev = from_wecom_callback(&cb, &channel(), 5);
        assert_eq!(ev.channel_kind, ChannelKind::Wecom);
        assert_eq!(ev.customer, "mycreate");
        assert_eq!(ev.event_id, "msg:4561255354251345929");
        assert_eq!(ev.occurred_ms, 1_409_659_813_000);
        assert_eq!(ev.received_ms, 5);
        assert_eq!(
            (ev.account_id.as_str(), ev.channel_id.as_str()),
            ("acc", "wecom1")
        );
        assert_eq!(
            ev.content,
            Content::Text {
                text: "hello".into()
            }
        );
    }

    #[test]
    fn wecom_events_follow_and_enter_agent() {
        let event = |name: &str| {
            callback(&format!(
                "<xml><ToUserName><![CDATA[corp]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>\
                 <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>\
                 <EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID></xml>"
            ))
        };
        let follow = from_wecom_callback(&event("subscribe"), &channel(), 0);
        assert!(
            matches!(follow.content, Content::Follow { .. }),
            "{follow:?}"
        );
        assert_eq!(follow.event_id, "evt:zhangsan:1700000000");
        let enter = from_wecom_callback(&event("enter_agent"), &channel(), 0);
        assert_eq!(
            enter.content,
            Content::Other {
                kind: "event:enter_agent".into()
            }
        );
        assert!(!enter.content.is_message());
    }
}
