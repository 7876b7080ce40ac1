//! Ports: the small traits through which use cases reach the world. Adapters in `kefu-aws` implement them
//! on DynamoDB, SQS, SSM and the channels' HTTP APIs.

use crate::messages::OutboundMessage;
use crate::model::*;
use crate::rules::WaitingChat;
use async_trait::async_trait;
use serde::Serialize;

/// A storage or queue failure. `Unavailable` is worth retrying; the rest are not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("idempotency key {0} reused with a different payload")]
    IdempotencyMismatch(String),
}

/// Configuration reads: accounts, channels, agents, greetings.
#[async_trait]
pub trait Directory: Send + Sync {
    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError>;
    async fn channel(&self, channel_id: &str) -> Result<Option<Channel>, StoreError>;
    async fn agents(&self, account_id: &str) -> Result<Vec<Agent>, StoreError>;
    async fn agent(&self, account_id: &str, agent_id: &str) -> Result<Option<Agent>, StoreError>;
    async fn greetings(&self, account_id: &str) -> Result<Vec<Greeting>, StoreError>;
}

/// Customers, conversations, messages and the waiting queue.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// Creates the customer on first contact, else updates `last_seen_ms`, and `lang` / `following` when
    /// given. Returns the customer as stored afterwards.
    async fn touch_customer(
        &self,
        account_id: &str,
        channel_id: &str,
        external_id: &str,
        lang: Option<&Lang>,
        following: Option<bool>,
        now_ms: i64,
    ) -> Result<Customer, StoreError>;

    /// Returns the customer's open conversation, or atomically opens `new_id` (waiting) and points the
    /// customer at it. The flag is `true` when the returned conversation was opened by `opened_by` (this
    /// call or an earlier, interrupted attempt with the same event), so a retry finishes the job.
    async fn open_conversation(
        &self,
        customer: &Customer,
        new_id: &str,
        opened_by: &str,
        now_ms: i64,
    ) -> Result<(Conversation, bool), StoreError>;

    async fn conversation(&self, conversation_id: &str)
        -> Result<Option<Conversation>, StoreError>;

    /// Stores a message once: `false` when a message with the same key was already stored.
    async fn append_message(&self, msg: &StoredMessage) -> Result<bool, StoreError>;

    async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError>;

    /// The account's waiting queue, longest waiting first.
    async fn waiting(&self, account_id: &str, limit: u32) -> Result<Vec<WaitingChat>, StoreError>;

    async fn count_waiting(&self, account_id: &str) -> Result<u32, StoreError>;

    /// Atomically moves a waiting conversation to the agent, if the agent is still online, enabled and
    /// below capacity. `false` when any condition no longer holds (someone else took it, agent full).
    async fn assign(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Sets an agent's presence; returns the agent as stored, or `None` if there is no such agent.
    async fn set_presence(
        &self,
        account_id: &str,
        agent_id: &str,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Option<Agent>, StoreError>;
}

/// Outcome of claiming an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time (or a previous attempt crashed and its lock expired): do the work, then `complete`.
    Acquired,
    /// Done before: skip.
    AlreadyDone,
    /// Another invocation is doing it right now: retry later.
    InProgress,
}

/// Idempotency records (IN_PROGRESS → COMPLETED with expiry), taken by conditional writes.
#[async_trait]
pub trait Idempotency: Send + Sync {
    /// `fingerprint` identifies the payload: the same key with another fingerprint is an error.
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        lock_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, StoreError>;
    async fn complete(&self, key: &str, keep_s: i64, now_ms: i64) -> Result<(), StoreError>;
    /// Gives a claim back after a failure so a retry can take it at once.
    async fn release(&self, key: &str) -> Result<(), StoreError>;
}

/// A queue message: its FIFO group and deduplication key (ignored by standard queues).
pub trait QueueMessage: Serialize + Send + Sync {
    fn group_id(&self) -> Option<String>;
    fn dedupe_key(&self) -> Option<String>;
}

#[async_trait]
pub trait Queue<M: QueueMessage>: Send + Sync {
    async fn send(&self, msg: &M) -> Result<(), StoreError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("secret {0} is not valid: {1}")]
    Invalid(String, String),
    #[error("secret store unavailable: {0}")]
    Unavailable(String),
}

/// Channel credentials by reference (cached per container by the adapter).
#[async_trait]
pub trait Secrets: Send + Sync {
    async fn channel_secrets(&self, secret_ref: &str) -> Result<ChannelSecrets, SecretError>;
}

/// Why a channel refused or failed a send.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Try again later (network, rate limit, channel busy).
    #[error("channel temporarily failed: {0}")]
    Retryable(String),
    /// The channel will not accept this message (window closed, quota exhausted, customer gone).
    #[error("channel refused the message: {0}")]
    Rejected(String),
    /// The channel's configuration is wrong (bad credentials): an admin must act.
    #[error("channel misconfigured: {0}")]
    Misconfigured(String),
}

/// Sends to a customer on a channel.
#[async_trait]
pub trait ChannelApi: Send + Sync {
    async fn send(
        &self,
        channel: &Channel,
        secrets: &ChannelSecrets,
        msg: &OutboundMessage,
    ) -> Result<(), SendError>;
}
