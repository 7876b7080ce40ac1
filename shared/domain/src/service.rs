//! Use cases: what each function does with an event, written against the ports. Every use case is safe to
//! run twice with the same input (queues deliver at least once) and to re-run after a crash half-way.

use crate::messages::*;
use crate::model::*;
use crate::ports::*;
use crate::rules;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown {0}")]
    Unknown(String),
    #[error("{0} is being processed by another invocation")]
    Busy(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Send(#[from] SendError),
}

impl QueueMessage for InboundEvent {
    fn group_id(&self) -> Option<String> {
        Some(InboundEvent::group_id(self))
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.channel_id, self.event_id))
    }
}

impl QueueMessage for GreetingRequest {
    fn group_id(&self) -> Option<String> {
        None
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(self.key.clone())
    }
}

impl QueueMessage for OutboundMessage {
    fn group_id(&self) -> Option<String> {
        Some(OutboundMessage::group_id(self))
    }
    fn dedupe_key(&self) -> Option<String> {
        Some(self.message_id.clone())
    }
}

/// Deterministic conversation id for the conversation an event opens, so a retried event opens the same
/// one: `cv_` + 20 hex characters of SHA-256(channel, customer, event id).
pub fn conversation_id_for(ev: &InboundEvent) -> String {
    let mut h = Sha256::new();
    h.update(ev.channel_id.as_bytes());
    h.update([0]);
    h.update(ev.customer.as_bytes());
    h.update([0]);
    h.update(ev.event_id.as_bytes());
    format!("cv_{}", &hex::encode(h.finalize())[..20])
}

/// SHA-256 hex of a JSON payload: the fingerprint of idempotency records.
pub fn fingerprint<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteOutcome {
    pub conversation_id: Option<String>,
    /// The message was new (not a duplicate delivery).
    pub stored: bool,
    pub opened: bool,
    pub assigned_to: Option<String>,
    pub greeting: Option<GreetingRequest>,
}

/// Conversation router: customer, conversation, message, waiting queue, assignment, greeting request.
pub async fn route_inbound<S, Q>(
    store: &S,
    greetings: &Q,
    ev: &InboundEvent,
    now_ms: i64,
) -> Result<RouteOutcome, ServiceError>
where
    S: Directory + Conversations,
    Q: Queue<GreetingRequest>,
{
    let mut out = RouteOutcome::default();
    let following = match ev.content {
        Content::Follow { .. } => Some(true),
        Content::Unfollow => Some(false),
        _ => None,
    };
    let customer = store
        .touch_customer(
            &ev.account_id,
            &ev.channel_id,
            &ev.customer,
            ev.lang.as_ref(),
            following,
            now_ms,
        )
        .await?;

    match &ev.content {
        Content::Follow { .. } => {
            let req = GreetingRequest {
                v: FORMAT_VERSION,
                key: format!("follow:{}:{}", ev.channel_id, ev.event_id),
                account_id: ev.account_id.clone(),
                channel_id: ev.channel_id.clone(),
                customer: ev.customer.clone(),
                conversation_id: None,
                trigger: GreetingTrigger::Follow,
                agents_online: 0,
                waiting: 0,
                agent_id: None,
                agent_name: None,
                customer_name: customer.display_name.clone(),
                customer_lang: customer.lang.clone(),
                within_business_hours: None,
            };
            greetings.send(&req).await?;
            out.greeting = Some(req);
            return Ok(out);
        }
        Content::Unfollow | Content::Other { .. } => return Ok(out),
        _ => {}
    }

    // A message, or the customer opening a session: this needs a conversation.
    let new_id = conversation_id_for(ev);
    let (conv, opened) = store
        .open_conversation(&customer, &new_id, &ev.event_id, now_ms)
        .await?;
    out.conversation_id = Some(conv.conversation_id.clone());
    out.opened = opened;

    if ev.content.is_message() {
        out.stored = store
            .append_message(&StoredMessage {
                conversation_id: conv.conversation_id.clone(),
                message_key: ev.event_id.clone(),
                direction: Direction::Inbound,
                at_ms: ev.occurred_ms,
                content: ev.content.clone(),
                agent_id: None,
                error: None,
            })
            .await?;
    }

    if !opened {
        return Ok(out);
    }

    // A new conversation: try to give it to an agent right away, then ask for the greeting.
    let agents = store.agents(&ev.account_id).await?;
    let mut assigned: Option<&Agent> = match conv.status {
        ConversationStatus::Assigned => conv
            .agent_id
            .as_deref()
            .and_then(|id| agents.iter().find(|a| a.agent_id == id)),
        _ => None,
    };
    if conv.status == ConversationStatus::Waiting {
        // Another chat may be taken between reading and writing: try the next best agent a few times.
        let mut candidates = agents.clone();
        for _ in 0..3 {
            let Some(agent) = rules::pick_agent(&candidates) else {
                break;
            };
            if store
                .assign(
                    &ev.account_id,
                    &conv.conversation_id,
                    &agent.agent_id,
                    now_ms,
                )
                .await?
            {
                assigned = agents.iter().find(|a| a.agent_id == agent.agent_id);
                break;
            }
            let id = agent.agent_id.clone();
            candidates.retain(|a| a.agent_id != id);
        }
    }
    out.assigned_to = assigned.map(|a| a.agent_id.clone());

    let channel_kind = ev.channel_kind;
    let agents_online = agents
        .iter()
        .filter(|a| a.enabled && a.presence == Presence::Online)
        .count() as u32;
    let waiting = store.count_waiting(&ev.account_id).await?;
    let req = GreetingRequest {
        v: FORMAT_VERSION,
        key: format!("conv:{}", conv.conversation_id),
        account_id: ev.account_id.clone(),
        channel_id: ev.channel_id.clone(),
        customer: ev.customer.clone(),
        conversation_id: Some(conv.conversation_id.clone()),
        trigger: GreetingTrigger::ConversationStarted,
        agents_online,
        waiting,
        agent_id: assigned.map(|a| a.agent_id.clone()),
        agent_name: assigned.map(|a| a.display_name.clone()),
        customer_name: customer.display_name.clone(),
        customer_lang: customer.lang.clone(),
        // Channels without agent presence (WeCom) greet by the account's business hours; an account without
        // business hours (or not found) counts as always open.
        within_business_hours: if channel_kind.uses_agent_presence() {
            None
        } else {
            let account = store.account(&ev.account_id).await?;
            Some(rules::open_at(
                account.as_ref().and_then(|a| a.business_hours.as_ref()),
                now_ms,
            ))
        },
    };
    greetings.send(&req).await?;
    out.greeting = Some(req);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub enum GreetingOutcome {
    Sent {
        kind: GreetingKind,
        message_id: String,
    },
    /// No greeting applies or none is configured for this kind.
    NoneConfigured,
    /// Handled before (duplicate delivery).
    Duplicate,
}

/// How long an idempotency record stays after completion: longer than any queue retention (14 days).
pub const IDEMPOTENCY_KEEP_S: i64 = 15 * 24 * 3600;
/// How long an in-progress claim blocks others before it is considered crashed.
pub const IDEMPOTENCY_LOCK_MS: i64 = 60_000;

/// Greeting dispatch: chooses the greeting, fills it in and queues it for the channel sender, once per key.
pub async fn dispatch_greeting<D, I, Q>(
    dir: &D,
    idem: &I,
    outbound: &Q,
    req: &GreetingRequest,
    now_ms: i64,
) -> Result<GreetingOutcome, ServiceError>
where
    D: Directory,
    I: Idempotency,
    Q: Queue<OutboundMessage>,
{
    let key = format!("greet:{}", req.key);
    match idem
        .claim(&key, &fingerprint(&req.key), IDEMPOTENCY_LOCK_MS, now_ms)
        .await?
    {
        Claim::AlreadyDone => return Ok(GreetingOutcome::Duplicate),
        Claim::InProgress => return Err(ServiceError::Busy(key)),
        Claim::Acquired => {}
    }
    let result = async {
        let account = dir
            .account(&req.account_id)
            .await?
            .ok_or_else(|| ServiceError::Unknown(format!("account {}", req.account_id)))?;
        let situation = rules::GreetingSituation {
            trigger: req.trigger,
            agents_online: req.agents_online,
            waiting: req.waiting,
            busy_threshold: account.busy_threshold,
            within_business_hours: req.within_business_hours,
        };
        let Some(kind) = rules::choose_greeting(&situation) else {
            return Ok(GreetingOutcome::NoneConfigured);
        };
        let greetings = dir.greetings(&req.account_id).await?;
        let Some(greeting) = rules::pick_greeting(
            &greetings,
            kind,
            &req.channel_id,
            req.customer_lang.as_ref(),
            &account.default_lang,
        ) else {
            return Ok(GreetingOutcome::NoneConfigured);
        };
        let text = rules::render(
            &greeting.text,
            req.customer_name.as_deref(),
            req.agent_name.as_deref(),
        );
        let kf_account = match &req.agent_id {
            Some(agent_id) => dir
                .agent(&req.account_id, agent_id)
                .await?
                .and_then(|a| a.kf_account),
            None => None,
        };
        let msg = OutboundMessage {
            v: FORMAT_VERSION,
            message_id: format!("greet:{}", req.key),
            account_id: req.account_id.clone(),
            channel_id: req.channel_id.clone(),
            customer: req.customer.clone(),
            conversation_id: req.conversation_id.clone(),
            body: OutboundBody::Text { text },
            origin: Origin::Greeting { kind },
            kf_account,
            created_ms: now_ms,
        };
        outbound.send(&msg).await?;
        Ok(GreetingOutcome::Sent {
            kind,
            message_id: msg.message_id,
        })
    }
    .await;
    match &result {
        Ok(_) => idem.complete(&key, IDEMPOTENCY_KEEP_S, now_ms).await?,
        Err(_) => {
            let _ = idem.release(&key).await;
        }
    }
    result
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent,
    /// The channel refused it for good (reason kept on the stored message); not retried.
    Rejected(String),
    Duplicate,
}

/// Channel sender: sends one outbound message at most once after success and records it on the
/// conversation. Retryable failures give the claim back and surface as errors (the queue retries);
/// refusals are recorded and not retried.
pub async fn send_outbound<S, I, C, X>(
    store: &S,
    idem: &I,
    api: &C,
    secrets: &X,
    msg: &OutboundMessage,
    now_ms: i64,
) -> Result<SendOutcome, ServiceError>
where
    S: Directory + Conversations,
    I: Idempotency,
    C: ChannelApi,
    X: Secrets,
{
    let key = format!("send:{}", msg.message_id);
    match idem
        .claim(&key, &fingerprint(&msg.body), IDEMPOTENCY_LOCK_MS, now_ms)
        .await?
    {
        Claim::AlreadyDone => return Ok(SendOutcome::Duplicate),
        Claim::InProgress => return Err(ServiceError::Busy(key)),
        Claim::Acquired => {}
    }
    let result: Result<SendOutcome, ServiceError> = async {
        let channel = store
            .channel(&msg.channel_id)
            .await?
            .ok_or_else(|| ServiceError::Unknown(format!("channel {}", msg.channel_id)))?;
        let creds = secrets.channel_secrets(&channel.secret_ref).await?;
        let outcome = match api.send(&channel, &creds, msg).await {
            Ok(()) => SendOutcome::Sent,
            Err(SendError::Rejected(reason)) => SendOutcome::Rejected(reason),
            Err(e) => return Err(e.into()),
        };
        // Recorded on the conversation (refusals too, with the reason, so agents see what did not arrive).
        // `created_ms` keeps the record's key stable across retries.
        if let (Some(conv), Some(content)) = (&msg.conversation_id, msg.body.to_content()) {
            store
                .append_message(&StoredMessage {
                    conversation_id: conv.clone(),
                    message_key: msg.message_id.clone(),
                    direction: Direction::Outbound,
                    at_ms: msg.created_ms,
                    content,
                    agent_id: match &msg.origin {
                        Origin::Agent { agent_id } => Some(agent_id.clone()),
                        Origin::Greeting { .. } => None,
                    },
                    error: match &outcome {
                        SendOutcome::Rejected(reason) => Some(reason.clone()),
                        _ => None,
                    },
                })
                .await?;
        }
        Ok(outcome)
    }
    .await;
    match &result {
        Ok(_) => idem.complete(&key, IDEMPOTENCY_KEEP_S, now_ms).await?,
        Err(_) => {
            let _ = idem.release(&key).await;
        }
    }
    result
}

/// Assigns the account's waiting conversations to agents with free capacity, longest waiting first.
/// Returns the assignments made.
pub async fn assign_waiting<S>(
    store: &S,
    account_id: &str,
    now_ms: i64,
) -> Result<Vec<rules::Assignment>, ServiceError>
where
    S: Directory + Conversations,
{
    let waiting = store.waiting(account_id, 100).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let agents = store.agents(account_id).await?;
    let mut made = Vec::new();
    for a in rules::plan_assignments(&waiting, &agents, now_ms) {
        if store
            .assign(account_id, &a.conversation_id, &a.agent_id, now_ms)
            .await?
        {
            made.push(a);
        }
    }
    Ok(made)
}
