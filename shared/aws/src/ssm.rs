//! Channel credentials from SSM Parameter Store: one SecureString parameter per channel, holding the JSON of
//! [`ChannelSecrets`] (WeChat `{"token": "...", "app_secret": "...", "encoding_aes_key": "..."}`, Messenger
//! `{"token": "<verify token>", "app_secret": "...", "access_token": "<page access token>"}`), under the
//! stack's prefix (`SECRETS_PREFIX`, e.g. `/kefu/kefu-mainland/channels/{channel id}`). Values are cached
//! per container for five minutes, so a rotated secret is picked up without a deploy.
//!
//! Web chat channels keep their keys here too: `{"site_key": "...", "allowed_origins": ["https://www.example.com"],
//! "session_secret": "<64 hex digits>"}`.

use async_trait::async_trait;
use kefu_domain::model::ChannelSecrets;
use kefu_domain::ports::{SecretError, Secrets};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(300);

#[derive(Debug)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    cache: Mutex<HashMap<String, (Instant, ChannelSecrets)>>,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        SsmSecrets {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Writes a channel's credentials (administration and local seeding).
    pub async fn put(&self, name: &str, secrets: &ChannelSecrets) -> Result<(), SecretError> {
        let value = serde_json::to_string(secrets)
            .map_err(|e| SecretError::Invalid(name.into(), e.to_string()))?;
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable(format!("{e:?}").chars().take(300).collect()))?;
        self.cache.lock().expect("cache lock").remove(name);
        Ok(())
    }
}

#[async_trait]
impl Secrets for SsmSecrets {
    async fn channel_secrets(&self, secret_ref: &str) -> Result<ChannelSecrets, SecretError> {
        if let Some((at, v)) = self.cache.lock().expect("cache lock").get(secret_ref) {
            if at.elapsed() < TTL {
                return Ok(v.clone());
            }
        }
        let out = self
            .client
            .get_parameter()
            .name(secret_ref)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found())
                {
                    SecretError::NotFound(secret_ref.into())
                } else {
                    SecretError::Unavailable(format!("{e:?}").chars().take(300).collect())
                }
            })?;
        let raw = out
            .parameter
            .and_then(|p| p.value)
            .ok_or_else(|| SecretError::NotFound(secret_ref.into()))?;
        let secrets: ChannelSecrets = serde_json::from_str(&raw)
            .map_err(|e| SecretError::Invalid(secret_ref.into(), e.to_string()))?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(secret_ref.to_string(), (Instant::now(), secrets.clone()));
        Ok(secrets)
    }
}
