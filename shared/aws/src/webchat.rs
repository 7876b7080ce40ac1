//! Web chat adapters: the outbound side of the channel ([`WebChatSender`]) and the visitor API's rate
//! limiter ([`RateLimiter`], on the runtime table).
//!
//! # Why long polling
//!
//! Visitors receive messages by long-polling the visitor API (`GET /webchat/{channelId}/messages?wait=…`),
//! which reads the conversation from the data table, where [`kefu_domain::service::send_outbound`] records
//! every outbound message. So there is nothing to push: the sender only has to succeed. Long polling keeps
//! web chat on the one HTTP API every other route uses (no API Gateway WebSocket API, no connection table,
//! no `execute-api:ManageConnections` calls), works the same in AWS China and behind corporate proxies that
//! drop WebSockets, and a poll that finds nothing costs a few small reads per second of waiting.

use crate::dynamo::unavailable;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use kefu_domain::messages::OutboundMessage;
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{ChannelApi, SendError, StoreError};
use std::collections::HashMap;

/// The outbound side of web chat: nothing to call, the visitor polls (see the module docs). Succeeding
/// lets `send_outbound` record the message on the conversation, where the visitor's next poll finds it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebChatSender;

#[async_trait]
impl ChannelApi for WebChatSender {
    async fn send(
        &self,
        channel: &Channel,
        _secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        if channel.kind != ChannelKind::WebChat {
            return Err(SendError::Misconfigured(format!(
                "{} is not a web chat channel",
                channel.channel_id
            )));
        }
        if msg.conversation_id.is_none() {
            // Only messages recorded on a conversation ever reach a visitor.
            return Err(SendError::Rejected(
                "web chat delivers messages of a conversation only".into(),
            ));
        }
        Ok(())
    }
}

/// The outcome of counting a request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit: try again after this many seconds (the rest of the window).
    Limited {
        retry_after_s: i64,
    },
}

/// Fixed-window request counters in the runtime table: one item per scope and window, incremented with an
/// atomic `ADD` (no read before the write, no race between concurrent requests) and removed by TTL.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    client: Client,
    table: String,
}

impl RateLimiter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        RateLimiter {
            client,
            table: table.into(),
        }
    }

    /// Counts one request of `scope` in the current `window_s`-second window and says whether it is within
    /// `limit` requests per window.
    pub async fn hit(
        &self,
        scope: &str,
        limit: u32,
        window_s: i64,
        now_ms: i64,
    ) -> Result<RateDecision, StoreError> {
        let window_s = window_s.max(1);
        let now_s = now_ms.div_euclid(1000);
        let start = now_s - now_s.rem_euclid(window_s);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(HashMap::from([(
                "pk".to_string(),
                AttributeValue::S(format!("RATE#{scope}#{start}")),
            )])))
            .update_expression("ADD n :one SET expires_at = if_not_exists(expires_at, :exp)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N((start + window_s + 3600).to_string()),
            )
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let count: u64 = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("n"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        Ok(if count <= u64::from(limit) {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after_s: (start + window_s - now_s).max(1),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_domain::messages::{Origin, OutboundBody, FORMAT_VERSION};
    use kefu_domain::model::GreetingKind;

    fn channel(kind: ChannelKind) -> Channel {
        Channel {
            channel_id: "site".into(),
            account_id: "acc".into(),
            kind,
            external_id: "www.example.com".into(),
            name: "Site".into(),
            secret_ref: "/x".into(),
            enabled: true,
        }
    }

    fn msg(conversation: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            v: FORMAT_VERSION,
            message_id: "greet:conv:cv_1".into(),
            account_id: "acc".into(),
            channel_id: "site".into(),
            customer: "v_00000000000000000000000000000000".into(),
            conversation_id: conversation.map(str::to_string),
            body: OutboundBody::Text { text: "hi".into() },
            origin: Origin::Greeting {
                kind: GreetingKind::Offline,
            },
            kf_account: None,
            created_ms: 1,
        }
    }

    #[tokio::test]
    async fn web_chat_sends_succeed_without_calling_anything() {
        let secrets = ChannelSecrets::default();
        let s = WebChatSender;
        assert!(s
            .send(&channel(ChannelKind::WebChat), &secrets, &msg(Some("cv_1")))
            .await
            .is_ok());
        assert!(matches!(
            s.send(&channel(ChannelKind::WebChat), &secrets, &msg(None))
                .await,
            Err(SendError::Rejected(_))
        ));
        assert!(matches!(
            s.send(
                &channel(ChannelKind::WechatOa),
                &secrets,
                &msg(Some("cv_1"))
            )
            .await,
            Err(SendError::Misconfigured(_))
        ));
    }
}
