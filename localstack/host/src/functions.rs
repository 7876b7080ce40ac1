//! The functions of the template, linked into the host and invoked the way Lambda invokes them: a JSON
//! event in, a JSON result out (so the same serde path as in AWS is exercised).

use kefu_aws::{Clients, Env};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

pub enum Function {
    WechatWebhook(Arc<wechat_webhook::State>),
    WecomWebhook(Arc<wecom_webhook::State>),
    MessengerWebhook(Arc<messenger_webhook::State>),
    SmsWebhook(Arc<sms_webhook::State>),
    AgentApi(Arc<agent_api::State>),
    WebchatApi(Arc<webchat_api::State>),
    ConversationRouter(Arc<conversation_router::State>),
    GreetingDispatch(Arc<greeting_dispatch::State>),
    ChannelSender(Arc<channel_sender::State>),
    Assigner(Arc<assigner::State>),
    DlqRedrive(Arc<dlq_redrive::State>),
}

impl Function {
    /// Builds the function named by its binary with its environment; `None` for a binary this host does not
    /// know (it is then reported, not silently skipped).
    pub fn build(
        binary: &str,
        clients: &Clients,
        env: &HashMap<String, String>,
    ) -> Result<Option<Function>, String> {
        let cfg = || Env::from_map(env).map_err(|e| format!("{binary}: {e}"));
        Ok(Some(match binary {
            "wechat-webhook" => {
                Function::WechatWebhook(Arc::new(wechat_webhook::State::new(clients, &cfg()?)))
            }
            "wecom-webhook" => {
                Function::WecomWebhook(Arc::new(wecom_webhook::State::new(clients, &cfg()?)))
            }
            "messenger-webhook" => Function::MessengerWebhook(Arc::new(
                messenger_webhook::State::new(clients, &cfg()?),
            )),
            "sms-webhook" => {
                Function::SmsWebhook(Arc::new(sms_webhook::State::new(clients, &cfg()?)))
            }
            "agent-api" => Function::AgentApi(Arc::new(agent_api::State::new(clients, &cfg()?))),
            "webchat-api" => {
                Function::WebchatApi(Arc::new(webchat_api::State::new(clients, &cfg()?)))
            }
            "conversation-router" => Function::ConversationRouter(Arc::new(
                conversation_router::State::new(clients, &cfg()?),
            )),
            "greeting-dispatch" => Function::GreetingDispatch(Arc::new(
                greeting_dispatch::State::new(clients, &cfg()?),
            )),
            "channel-sender" => {
                Function::ChannelSender(Arc::new(channel_sender::State::new(clients, &cfg()?)))
            }
            "assigner" => Function::Assigner(Arc::new(assigner::State::new(clients, &cfg()?))),
            "dlq-redrive" => {
                let pairs = env
                    .get("REDRIVE_PAIRS")
                    .map(|p| serde_json::from_str(p).map_err(|e| format!("REDRIVE_PAIRS: {e}")))
                    .transpose()?
                    .unwrap_or_default();
                Function::DlqRedrive(Arc::new(dlq_redrive::State {
                    sqs: clients.sqs.clone(),
                    pairs,
                }))
            }
            _ => return Ok(None),
        }))
    }

    pub fn is_http(&self) -> bool {
        matches!(
            self,
            Function::WechatWebhook(_)
                | Function::WecomWebhook(_)
                | Function::MessengerWebhook(_)
                | Function::SmsWebhook(_)
                | Function::AgentApi(_)
                | Function::WebchatApi(_)
        )
    }

    /// Invokes the handler with a Lambda event as JSON; returns the handler's result as JSON, or the error
    /// text (Lambda's "function error").
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        fn de<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| format!("event does not deserialize: {e}"))
        }
        fn ser<T: serde::Serialize>(v: &T) -> Result<Value, String> {
            serde_json::to_value(v).map_err(|e| e.to_string())
        }
        match self {
            Function::WechatWebhook(s) => {
                let req = http_request(&event)?;
                let resp = wechat_webhook::handle(s, req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::WecomWebhook(s) => {
                let req = http_request(&event)?;
                let resp = wecom_webhook::handle(s, req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::MessengerWebhook(s) => {
                let req = http_request(&event)?;
                let resp = messenger_webhook::handle(s, req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::SmsWebhook(s) => {
                let req = http_request(&event)?;
                let resp = sms_webhook::handle(s, req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::AgentApi(s) => {
                let req = http_request(&event)?;
                let resp = agent_api::handle(s, req).await.map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::WebchatApi(s) => {
                let req = http_request(&event)?;
                let resp = webchat_api::handle(s, req)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(crate::gateway::response_json(resp))
            }
            Function::ConversationRouter(s) => {
                ser(&conversation_router::handle(s, de(event)?).await)
            }
            Function::GreetingDispatch(s) => ser(&greeting_dispatch::handle(s, de(event)?).await),
            Function::ChannelSender(s) => ser(&channel_sender::handle(s, de(event)?).await),
            Function::Assigner(s) => ser(&assigner::handle(s, de(event)?)
                .await
                .map_err(|e| e.to_string())?),
            Function::DlqRedrive(s) => ser(&dlq_redrive::handle(s, de(event)?)
                .await
                .map_err(|e| e.to_string())?),
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) event → the `http::Request` lambda_http hands to handlers, through
/// lambda_http's own deserialisation.
fn http_request(event: &Value) -> Result<lambda_http::Request, String> {
    lambda_http::request::from_str(&event.to_string())
        .map_err(|e| format!("not an HTTP API event: {e}"))
}
