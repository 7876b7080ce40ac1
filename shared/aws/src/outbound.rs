//! The sender of every channel kind behind one [`ChannelApi`]: the channel sender hands each outbound message
//! to [`ChannelRouter`], which picks the client by the channel's kind.
//!
//! | kind | client |
//! |---|---|
//! | `wechat_oa`, `wechat_mini_program` | [`WechatClient`] (customer-service message API) |
//! | `messenger` | [`MessengerClient`] (Send API) |
//! | `web_chat` | [`WebChatSender`] (nothing to call: the visitor long-polls the conversation) |
//! | `wecom` | [`WecomClient`] (app message API), when given with [`ChannelRouter::with_wecom`] |
//! | `sms_twilio`, `sms_aliyun`, `sms_tencent` | [`SmsClients`] (Twilio Messages API, Aliyun / Tencent `SendSms`; the providers' endpoints unless set with [`ChannelRouter::with_sms`]) |

use crate::messenger_api::MessengerClient;
use crate::sms_api::SmsClients;
use crate::webchat::WebChatSender;
use crate::wechat_api::WechatClient;
use crate::wecom_api::WecomClient;
use async_trait::async_trait;
use kefu_domain::messages::OutboundMessage;
use kefu_domain::model::{Channel, ChannelKind, ChannelSecrets};
use kefu_domain::ports::{ChannelApi, SendError};

#[derive(Debug)]
pub struct ChannelRouter {
    pub wechat: WechatClient,
    pub messenger: MessengerClient,
    /// WeCom app messages; `None`: WeCom channels have no sender here (they are mainland only).
    pub wecom: Option<WecomClient>,
    /// SMS providers (Twilio, Aliyun, Tencent).
    pub sms: SmsClients,
}

impl ChannelRouter {
    pub fn new(wechat: WechatClient, messenger: MessengerClient) -> Self {
        ChannelRouter {
            wechat,
            messenger,
            wecom: None,
            sms: SmsClients::default(),
        }
    }

    /// Sends `wecom` channels' messages through `wecom`.
    pub fn with_wecom(mut self, wecom: WecomClient) -> Self {
        self.wecom = Some(wecom);
        self
    }

    /// Sends SMS channels' messages through `sms` (API bases of the environment, part records).
    pub fn with_sms(mut self, sms: SmsClients) -> Self {
        self.sms = sms;
        self
    }
}

#[async_trait]
impl ChannelApi for ChannelRouter {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError> {
        match channel.kind {
            ChannelKind::WechatOa | ChannelKind::WechatMiniProgram => {
                self.wechat.send(channel, secrets, msg).await
            }
            ChannelKind::Messenger => self.messenger.send(channel, secrets, msg).await,
            ChannelKind::WebChat => WebChatSender.send(channel, secrets, msg).await,
            ChannelKind::Wecom => match &self.wecom {
                Some(wecom) => wecom.send(channel, secrets, msg).await,
                None => Err(SendError::Misconfigured(
                    "no sender for wecom channels".into(),
                )),
            },
            ChannelKind::SmsTwilio | ChannelKind::SmsAliyun | ChannelKind::SmsTencent => {
                self.sms.send(channel, secrets, msg).await
            }
        }
    }
}
