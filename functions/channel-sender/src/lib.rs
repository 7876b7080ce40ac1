//! Channel sender (outbound FIFO queue → the channel's API: WeChat customer-service messages, the
//! Messenger Send API, WeCom app messages, SMS through Twilio, Aliyun or Tencent Cloud; see [`kefu_aws::outbound::ChannelRouter`]).
//!
//! Sends each outbound message once (idempotency record per message id), records it on the conversation,
//! and reports retryable failures (network, rate limits, bad credentials) as batch item failures so SQS
//! retries them and finally parks them in the DLQ. Messages the channel refuses for good (outside the
//! reply window, quota exhausted, Messenger's 7-day window closed) are recorded and not retried. See
//! [`kefu_domain::service::send_outbound`].

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use kefu_aws::dynamo::DynamoStore;
use kefu_aws::edge::now_ms;
use kefu_aws::messenger_api::MessengerClient;
use kefu_aws::outbound::ChannelRouter;
use kefu_aws::runtime::RuntimeStore;
use kefu_aws::sms_api::SmsClients;
use kefu_aws::sqs::{parse_body, process_batch};
use kefu_aws::ssm::SsmSecrets;
use kefu_aws::wechat_api::WechatClient;
use kefu_aws::wecom_api::WecomClient;
use kefu_aws::{Clients, Env};
use kefu_domain::messages::OutboundMessage;
use kefu_domain::service::{send_outbound, SendOutcome};
use std::sync::Arc;
use tracing::{info, warn, Instrument};

pub struct State {
    pub store: DynamoStore,
    pub runtime: RuntimeStore,
    pub secrets: SsmSecrets,
    /// The channel APIs, chosen by the channel's kind.
    pub channels: ChannelRouter,
}

impl State {
    pub fn new(clients: &Clients, env: &Env) -> State {
        let runtime = RuntimeStore::new(clients.dynamo.clone(), &env.runtime_table);
        let store = DynamoStore::new(clients.dynamo.clone(), &env.data_table);
        State {
            channels: ChannelRouter::new(
                WechatClient::new(&env.wechat_api_base, runtime.clone())
                    .with_reply_rules(store.clone()),
                MessengerClient::new(&env.messenger_api_base, store.clone()),
            )
            .with_wecom(WecomClient::new(&env.wecom_api_base, runtime.clone()))
            .with_sms(SmsClients::from_env(env).with_ledger(Arc::new(runtime.clone()))),
            store,
            runtime,
            secrets: SsmSecrets::new(clients.ssm.clone()),
        }
    }

    pub async fn from_env() -> Result<State, lambda_runtime::Error> {
        Ok(State::new(&Clients::from_env().await, &Env::from_env()?))
    }
}

pub async fn handle(state: &State, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |msg| async move {
        let out: OutboundMessage = parse_body(&msg)?;
        let span = tracing::info_span!("send", account = %out.account_id, channel = %out.channel_id, message = %out.message_id);
        async {
            let res = send_outbound(&state.store, &state.runtime, &state.channels, &state.secrets, &out, now_ms())
                .await
                .map_err(|e| e.to_string())?;
            match res {
                SendOutcome::Sent => info!("sent"),
                SendOutcome::Duplicate => info!("already sent"),
                SendOutcome::Rejected(reason) => warn!(%reason, "channel refused the message"),
            }
            Ok::<(), String>(())
        }
        .instrument(span)
        .await
    })
    .await
}
