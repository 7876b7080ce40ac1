//! Configuration from the environment variables the SAM template sets (see `infra/template.yaml`,
//! `Globals.Function.Environment`).

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
#[error("missing environment variable {0}")]
pub struct ConfigError(pub &'static str);

/// The names of the stack's resources and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    /// `mainland` or `international`.
    pub edition: String,
    pub data_table: String,
    pub runtime_table: String,
    pub inbound_queue_url: String,
    pub greeting_queue_url: String,
    pub outbound_queue_url: String,
    pub media_bucket: String,
    /// SSM path prefix for channel credentials, e.g. `/kefu/kefu-mainland/`.
    pub secrets_prefix: String,
    /// WeChat API base URL (`https://api.weixin.qq.com`, or a local fake).
    pub wechat_api_base: String,
    /// Graph API base URL with its version, for the Messenger Send API (`https://graph.facebook.com/v21.0`,
    /// or a local fake).
    pub messenger_api_base: String,
    /// WeCom server API base URL (`https://qyapi.weixin.qq.com`, or a local fake).
    pub wecom_api_base: String,
    /// Twilio REST API base URL (`TWILIO_API_BASE`: `https://api.twilio.com`, or a local fake).
    pub twilio_api_base: String,
    /// Aliyun SMS API endpoint (`ALIYUN_SMS_API_BASE`: `https://dysmsapi.aliyuncs.com`, or a local fake).
    pub aliyun_sms_api_base: String,
    /// Tencent Cloud SMS API endpoint (`TENCENT_SMS_API_BASE`: `https://sms.tencentcloudapi.com`, or a
    /// local fake).
    pub tencent_sms_api_base: String,
}

/// The Graph API version kefu is written against.
pub const DEFAULT_MESSENGER_API_BASE: &str = "https://graph.facebook.com/v21.0";

/// The WeCom server API.
pub const DEFAULT_WECOM_API_BASE: &str = "https://qyapi.weixin.qq.com";

impl Env {
    pub fn from_env() -> Result<Env, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Env::from_map(&vars)
    }

    pub fn from_map(vars: &HashMap<String, String>) -> Result<Env, ConfigError> {
        let get = |k: &'static str| {
            vars.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or(ConfigError(k))
        };
        let opt = |k: &str, default: &str| {
            vars.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| default.to_string())
        };
        Ok(Env {
            edition: opt("KEFU_EDITION", "international"),
            data_table: get("DATA_TABLE")?,
            runtime_table: get("RUNTIME_TABLE")?,
            inbound_queue_url: get("INBOUND_QUEUE_URL")?,
            greeting_queue_url: get("GREETING_QUEUE_URL")?,
            outbound_queue_url: get("OUTBOUND_QUEUE_URL")?,
            media_bucket: opt("MEDIA_BUCKET", ""),
            secrets_prefix: opt("SECRETS_PREFIX", "/kefu/"),
            wechat_api_base: opt("WECHAT_API_BASE", "https://api.weixin.qq.com")
                .trim_end_matches('/')
                .to_string(),
            messenger_api_base: opt("MESSENGER_API_BASE", DEFAULT_MESSENGER_API_BASE)
                .trim_end_matches('/')
                .to_string(),
            wecom_api_base: opt("WECOM_API_BASE", DEFAULT_WECOM_API_BASE)
                .trim_end_matches('/')
                .to_string(),
            twilio_api_base: opt("TWILIO_API_BASE", crate::sms_api::DEFAULT_TWILIO_API_BASE)
                .trim_end_matches('/')
                .to_string(),
            aliyun_sms_api_base: opt(
                "ALIYUN_SMS_API_BASE",
                crate::sms_api::DEFAULT_ALIYUN_SMS_API_BASE,
            )
            .trim_end_matches('/')
            .to_string(),
            tencent_sms_api_base: opt(
                "TENCENT_SMS_API_BASE",
                crate::sms_api::DEFAULT_TENCENT_SMS_API_BASE,
            )
            .trim_end_matches('/')
            .to_string(),
        })
    }
}

/// AWS service clients, built once per container.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
}

impl Clients {
    /// Loads the standard AWS configuration chain.
    pub async fn from_env() -> Clients {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Clients::new(&sdk)
    }

    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        // Emulators serve S3 on one host: path-style addressing when an endpoint is configured.
        let s3_conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Clients {
            dynamo: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_template_variables_and_reports_the_missing_one() {
        let mut vars: HashMap<String, String> = [
            ("DATA_TABLE", "d"),
            ("RUNTIME_TABLE", "r"),
            ("INBOUND_QUEUE_URL", "i"),
            ("GREETING_QUEUE_URL", "g"),
            ("OUTBOUND_QUEUE_URL", "o"),
            ("WECHAT_API_BASE", "http://127.0.0.1:1/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = Env::from_map(&vars).unwrap();
        assert_eq!(env.wechat_api_base, "http://127.0.0.1:1");
        assert_eq!(env.edition, "international");
        assert_eq!(env.messenger_api_base, "https://graph.facebook.com/v21.0");
        vars.insert(
            "MESSENGER_API_BASE".into(),
            "http://127.0.0.1:2/v21.0/".into(),
        );
        assert_eq!(
            Env::from_map(&vars).unwrap().messenger_api_base,
            "http://127.0.0.1:2/v21.0"
        );
        assert_eq!(env.wecom_api_base, "https://qyapi.weixin.qq.com");
        vars.insert("WECOM_API_BASE".into(), "http://127.0.0.1:3103/".into());
        assert_eq!(
            Env::from_map(&vars).unwrap().wecom_api_base,
            "http://127.0.0.1:3103"
        );
        vars.remove("RUNTIME_TABLE");
        assert_eq!(Env::from_map(&vars).unwrap_err().0, "RUNTIME_TABLE");
    }

    #[test]
    fn sms_api_bases_default_to_the_providers_and_can_point_at_a_fake() {
        let mut vars: HashMap<String, String> = [
            ("DATA_TABLE", "d"),
            ("RUNTIME_TABLE", "r"),
            ("INBOUND_QUEUE_URL", "i"),
            ("GREETING_QUEUE_URL", "g"),
            ("OUTBOUND_QUEUE_URL", "o"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = Env::from_map(&vars).unwrap();
        assert_eq!(env.twilio_api_base, "https://api.twilio.com");
        assert_eq!(env.aliyun_sms_api_base, "https://dysmsapi.aliyuncs.com");
        assert_eq!(env.tencent_sms_api_base, "https://sms.tencentcloudapi.com");
        for k in [
            "TWILIO_API_BASE",
            "ALIYUN_SMS_API_BASE",
            "TENCENT_SMS_API_BASE",
        ] {
            vars.insert(k.into(), "http://127.0.0.1:3102/".into());
        }
        let env = Env::from_map(&vars).unwrap();
        assert_eq!(
            (
                env.twilio_api_base.as_str(),
                env.aliyun_sms_api_base.as_str(),
                env.tencent_sms_api_base.as_str()
            ),
            (
                "http://127.0.0.1:3102",
                "http://127.0.0.1:3102",
                "http://127.0.0.1:3102"
            )
        );
    }
}
