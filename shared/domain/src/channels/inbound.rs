//! Channel payloads → the normalised [`InboundEvent`].

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
}
