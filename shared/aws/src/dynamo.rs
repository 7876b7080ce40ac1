//! DynamoDB adapter for [`Directory`] and [`Conversations`] on the data table (`DATA_TABLE`).
//!
//! # Data table layout
//!
//! One table, generic keys `pk` / `sk` (strings), one sparse global secondary index `gsi1`
//! (`gsi1pk` / `gsi1sk`). Every item carries `type`.
//!
//! | item | pk | sk | gsi1pk / gsi1sk | access pattern |
//! |---|---|---|---|---|
//! | account | `ACC#{account}` | `META` | | load settings (default language, busy threshold, business hours) |
//! | agent | `ACC#{account}` | `AGENT#{agent}` | | all agents of an account (Query `begins_with AGENT#`); presence; capacity counters; identity shown to customers (`display_name`, `line2`) |
//! | greeting | `ACC#{account}` | `GREETING#{channel\|*}#{kind}#{lang}` | | all greetings of an account (Query `begins_with GREETING#`) |
//! | channel | `CH#{channel}` | `META` | | webhook: channel by id from the URL (GetItem) |
//! | customer | `CUST#{channel}#{external id}` | `META` | | customer by channel id (openid, PSID…), its open conversation, its last inbound time (reply windows) |
//! | conversation | `CONV#{conversation}` | `META` | `WAIT#{account}` / `{waiting since ms, 13 digits}#{conversation}` **only while waiting** | conversation by id; the account's waiting queue in arrival order (Query gsi1) and its length (Select COUNT) |
//! | message | `CONV#{conversation}` | `MSG#{at ms, 13 digits}#{message key}` | | a conversation's history in order; the deterministic key makes a repeated store a no-op |
//!
//! A customer item keeps `first_seen_ms` / `last_seen_ms` (any event, written by `touch_customer`) and
//! `last_inbound_ms`: the channel's time of the customer's latest inbound event other than an unfollow,
//! written by the conversation router through [`DynamoStore::note_inbound`] before it routes the event,
//! only ever moved forward. Senders of channels with a reply window (Messenger: 24 hours, 7 days for a human
//! agent) read it with [`DynamoStore::customer`].
//!
//! An account item may carry `business_hours` (S): the JSON of [`BusinessHours`] (time zone, weekly open
//! intervals, holidays, special days; format in `kefu_domain::rules::business_hours`). Channels without agent
//! presence (WeCom) greet online inside those hours and offline outside; without the attribute the account
//! counts as always open. A value that does not parse (unknown time zone, bad interval) makes the account
//! item corrupt.
//!
//! An agent item may carry `line2` (S): the second line of the agent's identity under `display_name` (a team
//! or a location), which web chat shows to visitors. The web chat visitor API long-polls a conversation's
//! messages from a time on (Query `sk BETWEEN MSG#{from ms} AND MSG#~`, [`DynamoStore::messages_from`]).
//!
//! Attribute formats: timestamps are milliseconds since the epoch (N); languages are kefu tags (`en`,
//! `zh-Hans`, `zh-Hant`); message `content` is the JSON of [`Content`] (S); an agent's API token is kept as
//! `token_sha256` (hex), never in clear.
//!
//! Writes that must agree (a new conversation and the customer's pointer to it; an assignment and the
//! agent's load) are DynamoDB transactions with conditions, so concurrent routers and the assigner never
//! double-assign or exceed an agent's capacity.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, Select, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use kefu_domain::messages::Content;
use kefu_domain::model::*;
use kefu_domain::ports::*;
use kefu_domain::rules::{BusinessHours, WaitingChat};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The data-table adapter.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn unavailable<E: std::fmt::Debug>(e: E) -> StoreError {
    StoreError::Unavailable(format!("{e:?}").chars().take(500).collect())
}

/// Reads typed attributes out of an item, naming the item in errors.
pub(crate) struct Rec<'a> {
    pub key: String,
    pub item: &'a Item,
}

impl<'a> Rec<'a> {
    pub fn new(item: &'a Item) -> Self {
        let key = format!(
            "{}|{}",
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("?"),
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("")
        );
        Rec { key, item }
    }
    fn corrupt(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            key: self.key.clone(),
            reason,
        }
    }
    pub fn opt_s(&self, name: &str) -> Option<String> {
        self.item.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    pub fn s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)
            .ok_or_else(|| self.corrupt(format!("missing {name}")))
    }
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(format!("{name} not a number"))),
            Some(_) => Err(self.corrupt(format!("{name} not a number"))),
        }
    }
    pub fn i64(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_i64(name)?
            .ok_or_else(|| self.corrupt(format!("missing {name}")))
    }
    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        self.item
            .get(name)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(default)
    }
}

fn is_conditional_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| {
            c == "ConditionalCheckFailedException" || c == "TransactionCanceledException"
        })
}

pub mod keys {
    //! Key builders: the one place that spells the layout above.
    pub fn account(account: &str) -> (String, String) {
        (format!("ACC#{account}"), "META".into())
    }
    pub fn agent(account: &str, agent: &str) -> (String, String) {
        (format!("ACC#{account}"), format!("AGENT#{agent}"))
    }
    pub fn greeting(
        account: &str,
        channel: Option<&str>,
        kind: &str,
        lang: &str,
    ) -> (String, String) {
        (
            format!("ACC#{account}"),
            format!("GREETING#{}#{kind}#{lang}", channel.unwrap_or("*")),
        )
    }
    pub fn channel(channel: &str) -> (String, String) {
        (format!("CH#{channel}"), "META".into())
    }
    pub fn customer(channel: &str, external: &str) -> (String, String) {
        (format!("CUST#{channel}#{external}"), "META".into())
    }
    pub fn conversation(conv: &str) -> (String, String) {
        (format!("CONV#{conv}"), "META".into())
    }
    pub fn message(conv: &str, at_ms: i64, key: &str) -> (String, String) {
        (format!("CONV#{conv}"), format!("MSG#{at_ms:013}#{key}"))
    }
    pub fn waiting(account: &str, since_ms: i64, conv: &str) -> (String, String) {
        (format!("WAIT#{account}"), format!("{since_ms:013}#{conv}"))
    }
}

fn key_item((pk, sk): (String, String)) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn agent_from(item: &Item) -> Result<Agent, StoreError> {
    let r = Rec::new(item);
    Ok(Agent {
        account_id: r.s("account_id")?,
        agent_id: r.s("agent_id")?,
        display_name: r.s("display_name")?,
        presence: Presence::parse(&r.s("presence")?)
            .ok_or_else(|| r.corrupt("bad presence".into()))?,
        capacity: r.i64("capacity")?.clamp(0, u32::MAX as i64) as u32,
        active_chats: r
            .opt_i64("active_chats")?
            .unwrap_or(0)
            .clamp(0, u32::MAX as i64) as u32,
        last_assigned_ms: r.opt_i64("last_assigned_ms")?.unwrap_or(0),
        kf_account: r.opt_s("kf_account"),
        enabled: r.bool_or("enabled", true),
        line2: r.opt_s("line2"),
    })
}

fn customer_from(item: &Item) -> Result<Customer, StoreError> {
    let r = Rec::new(item);
    Ok(Customer {
        account_id: r.s("account_id")?,
        channel_id: r.s("channel_id")?,
        external_id: r.s("external_id")?,
        display_name: r.opt_s("display_name"),
        lang: r.opt_s("lang").and_then(|l| Lang::parse(&l)),
        following: r.bool_or("following", false),
        open_conversation_id: r.opt_s("open_conversation_id"),
        first_seen_ms: r.i64("first_seen_ms")?,
        last_seen_ms: r.i64("last_seen_ms")?,
        last_inbound_ms: r.opt_i64("last_inbound_ms")?,
    })
}

fn conversation_from(item: &Item) -> Result<(Conversation, Option<String>), StoreError> {
    let r = Rec::new(item);
    let conv = Conversation {
        conversation_id: r.s("conversation_id")?,
        account_id: r.s("account_id")?,
        channel_id: r.s("channel_id")?,
        customer_id: r.s("customer_id")?,
        status: ConversationStatus::parse(&r.s("status")?)
            .ok_or_else(|| r.corrupt("bad status".into()))?,
        created_ms: r.i64("created_ms")?,
        waiting_since_ms: r.i64("waiting_since_ms")?,
        agent_id: r.opt_s("agent_id"),
        assigned_ms: r.opt_i64("assigned_ms")?,
    };
    Ok((conv, r.opt_s("opened_by")))
}

fn message_from(item: &Item) -> Result<StoredMessage, StoreError> {
    let r = Rec::new(item);
    let content: Content =
        serde_json::from_str(&r.s("content")?).map_err(|e| r.corrupt(format!("content: {e}")))?;
    Ok(StoredMessage {
        conversation_id: r.s("conversation_id")?,
        message_key: r.s("message_key")?,
        direction: match r.s("direction")?.as_str() {
            "inbound" => Direction::Inbound,
            "outbound" => Direction::Outbound,
            other => return Err(r.corrupt(format!("bad direction {other}"))),
        },
        at_ms: r.i64("at_ms")?,
        content,
        agent_id: r.opt_s("agent_id"),
        error: r.opt_s("error"),
    })
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, key: (String, String)) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// All items of a partition whose sort key starts with `prefix`, following pagination.
    async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    // ---- administration writes (seeding, console) ----

    pub async fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let mut item = key_item(keys::account(&a.account_id));
        item.insert("type".into(), s("account"));
        item.insert("account_id".into(), s(&a.account_id));
        item.insert("name".into(), s(&a.name));
        item.insert("default_lang".into(), s(a.default_lang.as_str()));
        if let Some(t) = a.busy_threshold {
            item.insert("busy_threshold".into(), n(t));
        }
        if let Some(h) = &a.business_hours {
            let json = serde_json::to_string(h).map_err(|e| StoreError::Corrupt {
                key: format!("ACC#{}|META", a.account_id),
                reason: format!("business_hours: {e}"),
            })?;
            item.insert("business_hours".into(), s(json));
        }
        self.put(item).await
    }

    pub async fn put_channel(&self, c: &Channel) -> Result<(), StoreError> {
        let mut item = key_item(keys::channel(&c.channel_id));
        item.insert("type".into(), s("channel"));
        item.insert("channel_id".into(), s(&c.channel_id));
        item.insert("account_id".into(), s(&c.account_id));
        item.insert("kind".into(), s(c.kind.as_str()));
        item.insert("external_id".into(), s(&c.external_id));
        item.insert("name".into(), s(&c.name));
        item.insert("secret_ref".into(), s(&c.secret_ref));
        item.insert("enabled".into(), AttributeValue::Bool(c.enabled));
        self.put(item).await
    }

    /// Creates or replaces an agent. `token_sha256` is the hex SHA-256 of the agent's API token.
    pub async fn put_agent(&self, a: &Agent, token_sha256: &str) -> Result<(), StoreError> {
        let mut item = key_item(keys::agent(&a.account_id, &a.agent_id));
        item.insert("type".into(), s("agent"));
        item.insert("account_id".into(), s(&a.account_id));
        item.insert("agent_id".into(), s(&a.agent_id));
        item.insert("display_name".into(), s(&a.display_name));
        item.insert("presence".into(), s(a.presence.as_str()));
        item.insert("capacity".into(), n(a.capacity));
        item.insert("active_chats".into(), n(a.active_chats));
        item.insert("last_assigned_ms".into(), n(a.last_assigned_ms));
        item.insert("enabled".into(), AttributeValue::Bool(a.enabled));
        item.insert("token_sha256".into(), s(token_sha256));
        if let Some(kf) = &a.kf_account {
            item.insert("kf_account".into(), s(kf));
        }
        if let Some(l2) = &a.line2 {
            item.insert("line2".into(), s(l2));
        }
        self.put(item).await
    }

    pub async fn put_greeting(&self, g: &Greeting) -> Result<(), StoreError> {
        let mut item = key_item(keys::greeting(
            &g.account_id,
            g.channel_id.as_deref(),
            g.kind.as_str(),
            g.lang.as_str(),
        ));
        item.insert("type".into(), s("greeting"));
        item.insert("account_id".into(), s(&g.account_id));
        if let Some(c) = &g.channel_id {
            item.insert("channel_id".into(), s(c));
        }
        item.insert("kind".into(), s(g.kind.as_str()));
        item.insert("lang".into(), s(g.lang.as_str()));
        item.insert("text".into(), s(&g.text));
        item.insert("enabled".into(), AttributeValue::Bool(g.enabled));
        self.put(item).await
    }

    pub async fn customer(
        &self,
        channel_id: &str,
        external_id: &str,
    ) -> Result<Option<Customer>, StoreError> {
        self.get(keys::customer(channel_id, external_id))
            .await?
            .as_ref()
            .map(customer_from)
            .transpose()
    }
}

#[async_trait]
impl Directory for DynamoStore {
    async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let Some(item) = self.get(keys::account(account_id)).await? else {
            return Ok(None);
        };
        let r = Rec::new(&item);
        Ok(Some(Account {
            account_id: r.s("account_id")?,
            name: r.s("name")?,
            default_lang: Lang::parse(&r.s("default_lang")?).unwrap_or_else(Lang::en),
            busy_threshold: r
                .opt_i64("busy_threshold")?
                .map(|t| t.clamp(0, u32::MAX as i64) as u32),
            business_hours: r
                .opt_s("business_hours")
                .map(|json| serde_json::from_str::<BusinessHours>(&json))
                .transpose()
                .map_err(|e| r.corrupt(format!("business_hours: {e}")))?,
        }))
    }

    async fn channel(&self, channel_id: &str) -> Result<Option<Channel>, StoreError> {
        let Some(item) = self.get(keys::channel(channel_id)).await? else {
            return Ok(None);
        };
        let r = Rec::new(&item);
        let kind = r.s("kind")?;
        Ok(Some(Channel {
            channel_id: r.s("channel_id")?,
            account_id: r.s("account_id")?,
            kind: ChannelKind::parse(&kind)
                .ok_or_else(|| r.corrupt(format!("unknown kind {kind}")))?,
            external_id: r.s("external_id")?,
            name: r.opt_s("name").unwrap_or_default(),
            secret_ref: r.s("secret_ref")?,
            enabled: r.bool_or("enabled", true),
        }))
    }

    async fn agents(&self, account_id: &str) -> Result<Vec<Agent>, StoreError> {
        let (pk, _) = keys::account(account_id);
        self.query_prefix(&pk, "AGENT#")
            .await?
            .iter()
            .map(agent_from)
            .collect()
    }

    async fn agent(&self, account_id: &str, agent_id: &str) -> Result<Option<Agent>, StoreError> {
        self.get(keys::agent(account_id, agent_id))
            .await?
            .as_ref()
            .map(agent_from)
            .transpose()
    }

    async fn greetings(&self, account_id: &str) -> Result<Vec<Greeting>, StoreError> {
        let (pk, _) = keys::account(account_id);
        self.query_prefix(&pk, "GREETING#")
            .await?
            .iter()
            .map(|item| {
                let r = Rec::new(item);
                Ok(Greeting {
                    account_id: r.s("account_id")?,
                    channel_id: r.opt_s("channel_id"),
                    kind: GreetingKind::parse(&r.s("kind")?)
                        .ok_or_else(|| r.corrupt("bad kind".into()))?,
                    lang: Lang::parse(&r.s("lang")?).ok_or_else(|| r.corrupt("bad lang".into()))?,
                    text: r.s("text")?,
                    enabled: r.bool_or("enabled", true),
                })
            })
            .collect()
    }
}

impl DynamoStore {
    /// Records that the customer spoke or acted at `at_ms` (the channel's time of an inbound event):
    /// `last_inbound_ms` becomes `at_ms` unless it is already later (a late redelivery or an out-of-order
    /// event changes nothing). Creates the customer item on first contact with the same attributes as
    /// `touch_customer` (first and last seen at `now_ms`), so it is complete whatever happens next.
    pub async fn note_inbound(
        &self,
        account_id: &str,
        channel_id: &str,
        external_id: &str,
        at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::customer(channel_id, external_id))))
            .update_expression(
                "SET #type = :type, account_id = :acc, channel_id = :ch, external_id = :ext, \
                 first_seen_ms = if_not_exists(first_seen_ms, :now), \
                 last_seen_ms = if_not_exists(last_seen_ms, :now), \
                 following = if_not_exists(following, :nf), last_inbound_ms = :at",
            )
            .condition_expression("attribute_not_exists(last_inbound_ms) OR last_inbound_ms < :at")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":type", s("customer"))
            .expression_attribute_values(":acc", s(account_id))
            .expression_attribute_values(":ch", s(channel_id))
            .expression_attribute_values(":ext", s(external_id))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":nf", AttributeValue::Bool(false))
            .expression_attribute_values(":at", n(at_ms))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The stored SHA-256 (hex) of an agent's API token, for authenticating agent calls.
    pub async fn agent_token_hash(
        &self,
        account_id: &str,
        agent_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(keys::agent(account_id, agent_id))
            .await?
            .and_then(|i| Rec::new(&i).opt_s("token_sha256")))
    }
}

#[async_trait]
impl Conversations for DynamoStore {
    async fn touch_customer(
        &self,
        account_id: &str,
        channel_id: &str,
        external_id: &str,
        lang: Option<&Lang>,
        following: Option<bool>,
        now_ms: i64,
    ) -> Result<Customer, StoreError> {
        let mut expr = String::from(
            "SET #type = :type, account_id = :acc, channel_id = :ch, external_id = :ext, \
             first_seen_ms = if_not_exists(first_seen_ms, :now), last_seen_ms = :now",
        );
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::customer(channel_id, external_id))))
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":type", s("customer"))
            .expression_attribute_values(":acc", s(account_id))
            .expression_attribute_values(":ch", s(channel_id))
            .expression_attribute_values(":ext", s(external_id))
            .expression_attribute_values(":now", n(now_ms));
        if let Some(l) = lang {
            expr.push_str(", lang = :lang");
            req = req.expression_attribute_values(":lang", s(l.as_str()));
        }
        match following {
            Some(f) => {
                expr.push_str(", following = :f");
                req = req.expression_attribute_values(":f", AttributeValue::Bool(f));
            }
            None => {
                expr.push_str(", following = if_not_exists(following, :nf)");
                req = req.expression_attribute_values(":nf", AttributeValue::Bool(false));
            }
        }
        let out = req
            .update_expression(expr)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(unavailable)?;
        customer_from(&out.attributes.unwrap_or_default())
    }

    async fn open_conversation(
        &self,
        customer: &Customer,
        new_id: &str,
        opened_by: &str,
        now_ms: i64,
    ) -> Result<(Conversation, bool), StoreError> {
        let mut current = customer.open_conversation_id.clone();
        for _ in 0..3 {
            if let Some(id) = &current {
                if let Some(item) = self.get(keys::conversation(id)).await? {
                    let (conv, by) = conversation_from(&item)?;
                    if conv.status != ConversationStatus::Closed {
                        let ours = by.as_deref() == Some(opened_by);
                        return Ok((conv, ours));
                    }
                }
            }
            // Open a new conversation and point the customer at it, both or neither.
            let (wpk, wsk) = keys::waiting(&customer.account_id, now_ms, new_id);
            let mut conv_item = key_item(keys::conversation(new_id));
            for (k, v) in [
                ("type", s("conversation")),
                ("conversation_id", s(new_id)),
                ("account_id", s(&customer.account_id)),
                ("channel_id", s(&customer.channel_id)),
                ("customer_id", s(&customer.external_id)),
                ("status", s(ConversationStatus::Waiting.as_str())),
                ("created_ms", n(now_ms)),
                ("waiting_since_ms", n(now_ms)),
                ("opened_by", s(opened_by)),
                ("gsi1pk", s(wpk)),
                ("gsi1sk", s(wsk)),
            ] {
                conv_item.insert(k.to_string(), v);
            }
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(conv_item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(unavailable)?;
            let mut pointer = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key_item(keys::customer(
                    &customer.channel_id,
                    &customer.external_id,
                ))))
                .update_expression("SET open_conversation_id = :new")
                .expression_attribute_values(":new", s(new_id));
            pointer = match &current {
                Some(old) => pointer
                    .condition_expression("open_conversation_id = :old")
                    .expression_attribute_values(":old", s(old)),
                None => pointer.condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(open_conversation_id)",
                ),
            };
            let res = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(pointer.build().map_err(unavailable)?)
                        .build(),
                )
                .send()
                .await;
            match res {
                Ok(_) => {
                    let item = self
                        .get(keys::conversation(new_id))
                        .await?
                        .ok_or_else(|| StoreError::NotFound(new_id.into()))?;
                    return Ok((conversation_from(&item)?.0, true));
                }
                Err(e) if is_conditional_failure(&e) => {
                    // Someone else changed the customer's pointer (or this id exists): read again.
                    current = self
                        .get(keys::customer(&customer.channel_id, &customer.external_id))
                        .await?
                        .as_ref()
                        .map(customer_from)
                        .transpose()?
                        .and_then(|c| c.open_conversation_id);
                    if current.is_none() {
                        // The id exists but the pointer is gone (closed meanwhile): the event already
                        // opened its conversation; report it as is.
                        if let Some(item) = self.get(keys::conversation(new_id)).await? {
                            let (conv, by) = conversation_from(&item)?;
                            return Ok((conv, by.as_deref() == Some(opened_by)));
                        }
                    }
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "could not open a conversation for {}",
            customer.external_id
        )))
    }

    async fn conversation(
        &self,
        conversation_id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        Ok(self
            .get(keys::conversation(conversation_id))
            .await?
            .as_ref()
            .map(conversation_from)
            .transpose()?
            .map(|c| c.0))
    }

    async fn append_message(&self, msg: &StoredMessage) -> Result<bool, StoreError> {
        let mut item = key_item(keys::message(
            &msg.conversation_id,
            msg.at_ms,
            &msg.message_key,
        ));
        let content = serde_json::to_string(&msg.content).map_err(unavailable)?;
        for (k, v) in [
            ("type", s("message")),
            ("conversation_id", s(&msg.conversation_id)),
            ("message_key", s(&msg.message_key)),
            (
                "direction",
                s(match msg.direction {
                    Direction::Inbound => "inbound",
                    Direction::Outbound => "outbound",
                }),
            ),
            ("at_ms", n(msg.at_ms)),
            ("kind", s(msg.content.kind())),
            ("content", s(content)),
        ] {
            item.insert(k.to_string(), v);
        }
        if let Some(a) = &msg.agent_id {
            item.insert("agent_id".into(), s(a));
        }
        if let Some(e) = &msg.error {
            item.insert("error".into(), s(e));
        }
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let (pk, _) = keys::conversation(conversation_id);
        self.query_prefix(&pk, "MSG#")
            .await?
            .iter()
            .map(message_from)
            .collect()
    }

    async fn waiting(&self, account_id: &str, limit: u32) -> Result<Vec<WaitingChat>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(format!("WAIT#{account_id}")))
            .scan_index_forward(true)
            .limit(limit.max(1) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let r = Rec::new(item);
                Ok(WaitingChat {
                    conversation_id: r.s("conversation_id")?,
                    waiting_since_ms: r.i64("waiting_since_ms")?,
                })
            })
            .collect()
    }

    async fn count_waiting(&self, account_id: &str) -> Result<u32, StoreError> {
        let mut total = 0u32;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(format!("WAIT#{account_id}")))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            total = total.saturating_add(out.count.max(0) as u32);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }

    async fn assign(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let conv = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::conversation(conversation_id))))
            .update_expression(
                "SET #st = :assigned, agent_id = :agent, assigned_ms = :now REMOVE gsi1pk, gsi1sk",
            )
            .condition_expression("#st = :waiting AND account_id = :acc")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":assigned", s(ConversationStatus::Assigned.as_str()))
            .expression_attribute_values(":waiting", s(ConversationStatus::Waiting.as_str()))
            .expression_attribute_values(":agent", s(agent_id))
            .expression_attribute_values(":acc", s(account_id))
            .expression_attribute_values(":now", n(now_ms))
            .build()
            .map_err(unavailable)?;
        let agent = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::agent(account_id, agent_id))))
            .update_expression("SET active_chats = if_not_exists(active_chats, :zero) + :one, last_assigned_ms = :now")
            .condition_expression(
                "presence = :online AND (attribute_not_exists(enabled) OR enabled = :true) \
                 AND (attribute_not_exists(active_chats) OR active_chats < #cap)",
            )
            // `capacity` is a DynamoDB reserved word.
            .expression_attribute_names("#cap", "capacity")
            .expression_attribute_values(":online", s(Presence::Online.as_str()))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms))
            .build()
            .map_err(unavailable)?;
        let res = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(conv).build())
            .transact_items(TransactWriteItem::builder().update(agent).build())
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_presence(
        &self,
        account_id: &str,
        agent_id: &str,
        presence: Presence,
        now_ms: i64,
    ) -> Result<Option<Agent>, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::agent(account_id, agent_id))))
            .update_expression("SET presence = :p, presence_changed_ms = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":p", s(presence.as_str()))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => agent_from(&out.attributes.unwrap_or_default()).map(Some),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }
}

// ---- Web chat: a conversation's messages from a time on (long polls) ----
impl DynamoStore {
    /// The messages of a conversation stored at or after `from_ms`, in order (time, then key).
    pub async fn messages_from(
        &self,
        conversation_id: &str,
        from_ms: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let (pk, _) = keys::conversation(conversation_id);
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":from", s(format!("MSG#{:013}", from_ms.max(0))))
                // `~` sorts after every digit and `#`: the end of the MSG# range.
                .expression_attribute_values(":to", s("MSG#~"))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items.iter().map(message_from).collect()
    }
}

impl DynamoStore {
    /// Accounts that have at least one waiting conversation: a scan of the sparse `gsi1`, which holds only
    /// waiting conversations (cheap however large the table).
    pub async fn accounts_with_waiting(&self) -> Result<Vec<String>, StoreError> {
        let mut accounts = std::collections::BTreeSet::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .index_name("gsi1")
                .projection_expression("account_id")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                if let Some(a) = Rec::new(&item).opt_s("account_id") {
                    accounts.insert(a);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(accounts.into_iter().collect()),
            }
        }
    }
}
