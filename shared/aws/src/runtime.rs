//! The runtime table (`RUNTIME_TABLE`): idempotency records and the shared channel access-token cache.
//!
//! | item | pk | attributes |
//! |---|---|---|
//! | idempotency record | `IDEM#{key}` | `status` (`IN_PROGRESS` \| `COMPLETED`), `fingerprint` (SHA-256 hex of the payload), `locked_until_ms` (N), `expires_at` (N, epoch seconds: DynamoDB TTL) |
//! | access token | `TOKEN#{provider}#{app id}` | `token` (S), `expires_ms` (N), `expires_at` (TTL) |
//! | rate-limit window | `RATE#{scope}#{window start, epoch s}` (e.g. `RATE#webmsg#{channel}#{visitor}#1700000040`) | `n` (N: requests counted in the window, atomic `ADD`), `expires_at` (TTL); written by [`crate::webchat::RateLimiter`] |
//! | reply quota | `QUOTA#{scope}` (e.g. `QUOTA#wechat#{channel}#{openid}`) | `window_ms` (N: the customer interaction that opened the window), `used` (N), `expires_at` (TTL) |
//!
//! An idempotency key is taken by a conditional put that succeeds when there is no record, when an
//! in-progress record's lock has run out (the holder crashed), or when a record has expired. Expiry is judged
//! from the stored timestamps, not from the record's presence: DynamoDB's TTL deletes items late.

use crate::dynamo::{unavailable, Rec};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use kefu_domain::ports::{Claim, Idempotency, StoreError};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct RuntimeStore {
    client: Client,
    table: String,
}

fn pk(v: String) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), AttributeValue::S(v))])
}

impl RuntimeStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        RuntimeStore {
            client,
            table: table.into(),
        }
    }

    /// A cached access token that is still valid at `now_ms`.
    pub async fn cached_token(
        &self,
        provider: &str,
        app_id: &str,
        now_ms: i64,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(pk(format!("TOKEN#{provider}#{app_id}"))))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let r = Rec::new(&item);
        let expires = r.i64("expires_ms")?;
        Ok((expires > now_ms)
            .then(|| r.s("token"))
            .transpose()?
            .map(|t| (t, expires)))
    }

    pub async fn store_token(
        &self,
        provider: &str,
        app_id: &str,
        token: &str,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let mut item = pk(format!("TOKEN#{provider}#{app_id}"));
        item.insert("token".into(), AttributeValue::S(token.into()));
        item.insert(
            "expires_ms".into(),
            AttributeValue::N(expires_ms.to_string()),
        );
        item.insert(
            "expires_at".into(),
            AttributeValue::N((expires_ms / 1000 + 3600).to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl RuntimeStore {
    /// Takes one unit of a per-window quota: `true` when fewer than `limit` were taken in the window that
    /// started at `window_ms` (a later window starts again at one). Atomic under concurrent senders.
    pub async fn take_quota(
        &self,
        scope: &str,
        window_ms: i64,
        limit: u32,
        expires_at_s: i64,
    ) -> Result<bool, StoreError> {
        let key = pk(format!("QUOTA#{scope}"));
        let same_window = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("SET used = used + :one")
            .condition_expression("window_ms = :w AND used < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":w", AttributeValue::N(window_ms.to_string()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .send()
            .await;
        match same_window {
            Ok(_) => return Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let mut item = key;
        item.insert("window_ms".into(), AttributeValue::N(window_ms.to_string()));
        item.insert("used".into(), AttributeValue::N("1".into()));
        item.insert(
            "expires_at".into(),
            AttributeValue::N(expires_at_s.to_string()),
        );
        let new_window = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR window_ms < :w")
            .expression_attribute_values(":w", AttributeValue::N(window_ms.to_string()))
            .send()
            .await;
        match new_window {
            Ok(_) => Ok(limit > 0),
            // The window is current and its quota is used up.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Gives back a unit taken by [`take_quota`](Self::take_quota) for a send that did not happen.
    pub async fn refund_quota(&self, scope: &str, window_ms: i64) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pk(format!("QUOTA#{scope}"))))
            .update_expression("SET used = used - :one")
            .condition_expression("window_ms = :w AND used > :zero")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":w", AttributeValue::N(window_ms.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Idempotency for RuntimeStore {
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        let now_s = now_ms / 1000;
        let mut item = pk(format!("IDEM#{key}"));
        item.insert("status".into(), AttributeValue::S("IN_PROGRESS".into()));
        item.insert("fingerprint".into(), AttributeValue::S(fingerprint.into()));
        item.insert(
            "locked_until_ms".into(),
            AttributeValue::N((now_ms + lock_ms).to_string()),
        );
        item.insert(
            "expires_at".into(),
            AttributeValue::N((now_s + 86_400).to_string()),
        );
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now_s \
                 OR (#st = :in_progress AND locked_until_ms < :now_ms AND fingerprint = :fp)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now_s", AttributeValue::N(now_s.to_string()))
            .expression_attribute_values(":now_ms", AttributeValue::N(now_ms.to_string()))
            .expression_attribute_values(":in_progress", AttributeValue::S("IN_PROGRESS".into()))
            .expression_attribute_values(":fp", AttributeValue::S(fingerprint.into()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Claim::Acquired),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(pk(format!("IDEM#{key}"))))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(unavailable)?;
                let Some(item) = out.item else {
                    // Released between our put and our read: let the caller retry.
                    return Ok(Claim::InProgress);
                };
                let r = Rec::new(&item);
                if r.opt_s("fingerprint").as_deref() != Some(fingerprint) {
                    return Err(StoreError::IdempotencyMismatch(key.to_string()));
                }
                Ok(match r.opt_s("status").as_deref() {
                    Some("COMPLETED") => Claim::AlreadyDone,
                    _ => Claim::InProgress,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn complete(&self, key: &str, keep_s: i64, now_ms: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(pk(format!("IDEM#{key}"))))
            .update_expression("SET #st = :done, expires_at = :exp REMOVE locked_until_ms")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":done", AttributeValue::S("COMPLETED".into()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N((now_ms / 1000 + keep_s).to_string()),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(pk(format!("IDEM#{key}"))))
            .condition_expression("#st = :in_progress")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":in_progress", AttributeValue::S("IN_PROGRESS".into()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    Ok(())
                } else {
                    Err(unavailable(e))
                }
            })
    }
}
