//! The `MessageRouter` actor: every inbound SMS and email passes through it.
//! It stores the message (idempotent on the provider id), links it to the
//! customer, hands it to the text agent with the customer's history, stores the
//! reply, and sends the reply back the way the message came: to the waiting
//! Twilio webhook, through SendGrid mail-send, or into the `outbox` for the
//! tenant's Node client. It also keeps the registry of connected Node sessions
//! and delivers `outbox` rows to them in `seq` order.
//!
//! A Node client message without `id` (the webhook form of existing clients) is
//! different: its answer is the text model's reply handed back to the waiting
//! gateway session (never the auto-reply, never pushed later); without a text
//! model it is stored and not answered; a resend of it (same tenant, channel,
//! from, to, subject and text within `messaging.resend_window_secs`) gets the
//! stored reply instead of a second row and a second model call.
//!
//! The router runs on its own arbiter and talks to the database synchronously
//! (short single-row queries): idempotency checks, `outbox` sequence numbers
//! and delivery order are then decided in one place, one message at a time.
//! Nothing on a call's audio path waits on it.
//!
//! In a cluster every node's router shares the database and tells the others
//! (`crate::cluster::clients`) which Node sessions it holds and which `outbox`
//! rows it stored: a tenant's responses are pushed by the node holding the
//! tenant's newest session cluster-wide, wherever they were stored, in the
//! database's `seq` order, each marked delivered there when acknowledged. A
//! retried message whose first copy is being answered on another node waits
//! for the reply that node stores.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::agent::{self, AgentRequest, CallSummary, HistoryEntry};
use super::peers::PeerSessions;
use super::protocol::ServerMessage;
use super::router_messages::{
    Accepted, AnswerWritten, Channel, ClientConnected, ClientGone, EmailReceived, Origin,
    OutboxDelivered, OutboxItem, PendingReply, PushResponses, SmsReceived,
};
use super::MessagingError;
use crate::cluster::clients::{AnnouncedSession, ClientNews, OutboxNotice, SessionsAnnounce};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::rest::sendgrid;
use crate::store::text_messages::ResendKey;
use crate::store::{
    calls, customers, outbox, text_messages, transcripts, DbConnection, MessageRow, OutboxRow,
    Pool, StoreError,
};
use crate::tenant::TenantConfig;
use crate::tools::env::ToolEnv;

/// Calls whose transcripts the agent sees per customer.
const HISTORY_CALLS: i64 = 3;

/// Outbox rows loaded per (re)delivery.
const REDELIVERY_BATCH: i64 = 1000;

/// How often a retry waiting for another node's reply looks for it in the database.
const REPLY_POLL: Duration = Duration::from_millis(200);

/// How long after `messaging.reply_timeout_secs` a retry still waits for
/// another node's reply (that node stores the auto-reply at the timeout).
const REPLY_SLACK: Duration = Duration::from_secs(2);

/// One inbound message of either channel, as the router handles it.
#[derive(Debug, Clone)]
struct Inbound {
    channel: Channel,
    origin: Origin,
    tenant: Arc<TenantConfig>,
    from: String,
    from_name: Option<String>,
    to: String,
    subject: Option<String>,
    body: String,
    provider_id: Option<String>,
    user: Option<String>,
}

/// A stored inbound message waiting for its reply.
#[derive(Debug, Clone)]
struct Job {
    inbound: Inbound,
    message_id: String,
    customer_id: Option<String>,
}

/// One request waiting for the reply to an inbound message.
struct Waiter {
    tx: oneshot::Sender<Option<String>>,
    /// Only a text model's reply is an answer for this waiter (a Node client
    /// message without `id`); it gets `None` for the auto-reply.
    model_only: bool,
}

struct Session {
    id: u64,
    tenant_ids: Vec<String>,
    recipient: Recipient<PushResponses>,
    /// When it registered (ranks it against other nodes' sessions).
    since: DateTime<Utc>,
}

/// This router's part in a cluster.
struct ClusterLink {
    cluster: Cluster,
    /// The other nodes' sessions.
    peers: PeerSessions,
    /// Version of this node's next session announcement.
    version: u64,
}

/// The text-channel router; one per process.
pub struct MessageRouter {
    pool: Pool,
    config: Arc<Config>,
    /// The text agent's tools and text model.
    tools: Arc<ToolEnv>,
    /// Connected Node sessions, oldest first; the newest serving a tenant gets its responses.
    sessions: Vec<Session>,
    next_seq: i64,
    /// Inbound message id → requests waiting for its reply (webhooks, Node
    /// client messages without `id`).
    in_flight: HashMap<String, Vec<Waiter>>,
    /// `None` on a single node.
    cluster: Option<ClusterLink>,
}

impl MessageRouter {
    /// A router over `pool` whose replies come from the text agent over `tools`.
    pub fn new(pool: Pool, config: Arc<Config>, tools: Arc<ToolEnv>) -> Self {
        MessageRouter {
            pool,
            config,
            tools,
            sessions: Vec::new(),
            next_seq: 1,
            in_flight: HashMap::new(),
            cluster: None,
        }
    }

    /// This router as one node of `cluster`: it announces its own sessions
    /// and `outbox` rows, and takes the other nodes' as [`ClientNews`]
    /// messages (from `crate::cluster::clients::forward_news`).
    pub fn with_cluster(mut self, cluster: Cluster) -> Self {
        let version = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0);
        self.cluster = Some(ClusterLink {
            cluster,
            peers: PeerSessions::default(),
            version,
        });
        self
    }

    fn conn(&self) -> Result<crate::store::PooledConnection, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Stores the message (or recognises a retry) and starts the reply.
    fn accept(
        &mut self,
        inbound: Inbound,
        ctx: &mut Context<Self>,
    ) -> Result<Accepted, MessagingError> {
        let now = Utc::now();
        let mut conn = self.conn()?;
        let answer_inline = inbound.origin.is_node_without_id();
        if answer_inline {
            if let Some(first) = self.find_resend(&mut conn, &inbound, now)? {
                return self.duplicate(&mut conn, first, true);
            }
        }
        let customer_id = link_customer(&mut conn, &inbound, now);
        let row = MessageRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: Some(inbound.tenant.id.clone()),
            channel: inbound.channel.as_str().into(),
            direction: "inbound".into(),
            provider_id: inbound.provider_id.clone(),
            customer_id: customer_id.clone(),
            from_addr: inbound.from.clone(),
            to_addr: inbound.to.clone(),
            subject: inbound.subject.clone(),
            body: inbound.tenant.redacted(&inbound.body).into_owned(),
            in_reply_to: None,
            created_at: now.naive_utc(),
        };
        match text_messages::insert(&mut conn, &row) {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) if inbound.provider_id.is_some() => {
                let provider_id = inbound.provider_id.as_deref().unwrap_or("");
                let first = text_messages::find_by_provider_id(&mut conn, provider_id)?
                    .ok_or_else(|| {
                        MessagingError::Store(StoreError::Conflict(format!(
                            "message {provider_id} conflicts but cannot be read"
                        )))
                    })?;
                return self.duplicate(&mut conn, first, answer_inline);
            }
            Err(e) => return Err(e.into()),
        }
        let has_model = self.tools.chat.has_api_key();
        if answer_inline && !has_model {
            // The auto-reply is for the webhooks switchboard answers itself; this
            // client falls back to its own processing on the acknowledgement.
            log::info!(
                "{} {} from {} (Node client, no id): stored; no text model, acknowledged only",
                inbound.channel.as_str(),
                row.id,
                inbound.from
            );
            return Ok(Accepted {
                message_id: row.id,
                received_at: now,
                duplicate: false,
                reply: PendingReply::Ready(None),
            });
        }
        let history = load_history(
            &mut conn,
            &inbound,
            customer_id.as_deref(),
            &row.id,
            self.config.messaging.history_limit,
        );
        drop(conn);
        let mut waiters = Vec::new();
        let reply = if inbound.origin == Origin::TwilioWebhook || answer_inline {
            let (tx, rx) = oneshot::channel();
            waiters.push(Waiter {
                tx,
                model_only: answer_inline,
            });
            PendingReply::Later(rx)
        } else {
            PendingReply::Elsewhere
        };
        self.in_flight.insert(row.id.clone(), waiters);
        let job = Job {
            inbound,
            message_id: row.id.clone(),
            customer_id,
        };
        self.start_reply(job, history, ctx);
        Ok(Accepted {
            message_id: row.id,
            received_at: now,
            duplicate: false,
            reply,
        })
    }

    /// The first copy of a Node client message without `id`, when `inbound`
    /// repeats one stored within `messaging.resend_window_secs`.
    fn find_resend(
        &self,
        conn: &mut DbConnection,
        inbound: &Inbound,
        now: DateTime<Utc>,
    ) -> Result<Option<MessageRow>, StoreError> {
        let window = self.config.messaging.resend_window_secs;
        if window == 0 {
            return Ok(None);
        }
        // At most one day (checked at start-up), so the cast cannot wrap.
        let window = chrono::Duration::seconds(window.min(86_400) as i64);
        let key = ResendKey {
            tenant_id: &inbound.tenant.id,
            channel: inbound.channel.as_str(),
            from_addr: &inbound.from,
            to_addr: &inbound.to,
            subject: inbound.subject.as_deref(),
            // Compared as stored.
            body: &inbound.tenant.redacted(&inbound.body),
        };
        text_messages::find_resend(conn, key, (now - window).naive_utc())
    }

    /// A message seen before (same provider id, or a resend without one): the
    /// first message's id and its reply — the stored one, the one being written
    /// (waited for), or none. `model_only`: the asker takes only a text model's
    /// reply as an answer (a Node client message without `id`).
    fn duplicate(
        &mut self,
        conn: &mut DbConnection,
        first: MessageRow,
        model_only: bool,
    ) -> Result<Accepted, MessagingError> {
        let reply = if let Some(reply) = text_messages::reply_to(conn, &first.id)? {
            PendingReply::Ready(Some(reply.body))
        } else if let Some(waiters) = self.in_flight.get_mut(&first.id) {
            let (tx, rx) = oneshot::channel();
            waiters.push(Waiter { tx, model_only });
            PendingReply::Later(rx)
        } else if let Some(rx) = self.reply_elsewhere(&first) {
            PendingReply::Later(rx)
        } else {
            PendingReply::Ready(None)
        };
        log::info!(
            "{} {} seen before (retry or resend); no new message stored",
            first.channel,
            first.provider_id.as_deref().unwrap_or(&first.id)
        );
        Ok(Accepted {
            message_id: first.id,
            received_at: first.created_at.and_utc(),
            duplicate: true,
            reply,
        })
    }

    /// In a cluster, the first copy of a retried message may be being answered
    /// by another node: the reply that node stores, looked for every
    /// [`REPLY_POLL`] until `messaging.reply_timeout_secs` + [`REPLY_SLACK`]
    /// after the first copy arrived (`None` then). `None` at once on a single
    /// node (nobody else answers) and once that time has passed. Only a text
    /// model's reply is ever stored for a Node client message without `id`, so
    /// a reply found is an answer for any asker.
    fn reply_elsewhere(&self, first: &MessageRow) -> Option<oneshot::Receiver<Option<String>>> {
        self.cluster.as_ref()?;
        let wait = Duration::from_secs(self.config.messaging.reply_timeout_secs) + REPLY_SLACK;
        let deadline = first.created_at.and_utc() + chrono::Duration::from_std(wait).ok()?;
        let left = (deadline - Utc::now()).to_std().ok()?;
        let (mut tx, rx) = oneshot::channel();
        let (pool, id) = (self.pool.clone(), first.id.clone());
        actix::spawn(async move {
            let until = tokio::time::Instant::now() + left;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(REPLY_POLL) => {}
                    _ = tx.closed() => return,
                }
                let found = pool
                    .get()
                    .map_err(StoreError::from)
                    .and_then(|mut conn| text_messages::reply_to(&mut conn, &id));
                match found {
                    Ok(Some(reply)) => {
                        let _ = tx.send(Some(reply.body));
                        return;
                    }
                    Ok(None) => {}
                    Err(e) => log::warn!("looking for the reply to {id}: {e}"),
                }
                if tokio::time::Instant::now() >= until {
                    let _ = tx.send(None);
                    return;
                }
            }
        });
        Some(rx)
    }

    fn start_reply(&mut self, job: Job, history: agent::History, ctx: &mut Context<Self>) {
        let request = AgentRequest {
            tenant: job.inbound.tenant.clone(),
            channel: job.inbound.channel,
            from: job.inbound.from.clone(),
            from_name: job.inbound.from_name.clone(),
            to: job.inbound.to.clone(),
            subject: job.inbound.subject.clone(),
            body: job.inbound.body.clone(),
            user: job.inbound.user.clone(),
            history,
        };
        let tools = self.tools.clone();
        let timeout = Duration::from_secs(self.config.messaging.reply_timeout_secs);
        let auto_reply = self.config.messaging.auto_reply.clone();
        let fut = async move {
            match tokio::time::timeout(timeout, agent::answer(tools, request)).await {
                Ok(reply) => reply,
                Err(_) => agent::Reply::auto(
                    auto_reply,
                    &format!("no reply within {} s", timeout.as_secs()),
                ),
            }
        };
        ctx.spawn(
            fut.into_actor(self)
                .map(move |reply, act, _| act.finish(job, reply)),
        );
    }

    /// Stores the reply and sends it the way the message came.
    fn finish(&mut self, job: Job, reply: agent::Reply) {
        let inbound = &job.inbound;
        let from_model = reply.source == agent::ReplySource::Model;
        if inbound.origin.is_node_without_id() && !from_model {
            // Not an answer for this client (it was or will be acknowledged and
            // falls back to its own processing): nothing is sent, nothing stored.
            log::info!(
                "{} {} from {} (Node client, no id): not answered ({})",
                inbound.channel.as_str(),
                job.message_id,
                inbound.from,
                reply.source
            );
            for waiter in self.in_flight.remove(&job.message_id).unwrap_or_default() {
                let _ = waiter.tx.send(None);
            }
            return;
        }
        let subject = inbound.subject.as_deref().map(reply_subject);
        let row = MessageRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: Some(inbound.tenant.id.clone()),
            channel: inbound.channel.as_str().into(),
            direction: "outbound".into(),
            provider_id: None,
            customer_id: job.customer_id.clone(),
            from_addr: inbound.to.clone(),
            to_addr: inbound.from.clone(),
            subject: subject.clone(),
            body: inbound.tenant.redacted(&reply.text).into_owned(),
            in_reply_to: Some(job.message_id.clone()),
            created_at: Utc::now().naive_utc(),
        };
        match self
            .conn()
            .and_then(|mut c| text_messages::insert(&mut c, &row))
        {
            Ok(()) => log::info!(
                "{} {} from {}: replied ({})",
                inbound.channel.as_str(),
                job.message_id,
                inbound.from,
                reply.source
            ),
            Err(e) => log::error!("storing the reply to {}: {e}", job.message_id),
        }
        for waiter in self.in_flight.remove(&job.message_id).unwrap_or_default() {
            let answer = (from_model || !waiter.model_only).then(|| reply.text.clone());
            let _ = waiter.tx.send(answer);
        }
        match &inbound.origin {
            Origin::TwilioWebhook => {}
            Origin::SendGridWebhook => {
                let sendgrid_config = self.config.sendgrid.clone();
                let mail = sendgrid::OutboundEmail {
                    from: if self.config.sendgrid.from_address.is_empty() {
                        inbound.to.clone()
                    } else {
                        self.config.sendgrid.from_address.clone()
                    },
                    to: inbound.from.clone(),
                    subject: subject.unwrap_or_default(),
                    text: reply.text,
                };
                actix::spawn(async move {
                    if let Err(e) = sendgrid::send(&sendgrid_config, &mail).await {
                        log::error!("email reply to {} not sent: {e}", mail.to);
                    }
                });
            }
            // The waiting gateway session got the reply above; if it gave up
            // (acknowledged instead), the reply is kept for a resend only.
            Origin::NodeClient {
                request_id: None, ..
            } => {}
            Origin::NodeClient {
                request_id: Some(request_id),
                ..
            } => {
                let outbox_id = uuid::Uuid::new_v4().to_string();
                let message = match inbound.channel {
                    Channel::Sms => ServerMessage::SendSmsResponse {
                        id: Some(outbox_id.clone()),
                        in_reply_to: Some(request_id.clone()),
                        message_id: job.message_id.clone(),
                        tenant: inbound.tenant.id.clone(),
                        to: inbound.from.clone(),
                        from: inbound.to.clone(),
                        message: reply.text.clone(),
                        body: reply.text,
                        user: inbound.user.clone(),
                    },
                    Channel::Email => ServerMessage::SendEmailResponse {
                        id: Some(outbox_id.clone()),
                        in_reply_to: Some(request_id.clone()),
                        message_id: job.message_id.clone(),
                        tenant: inbound.tenant.id.clone(),
                        to: inbound.from.clone(),
                        from: inbound.to.clone(),
                        subject: subject.unwrap_or_default(),
                        body: reply.text,
                        user: inbound.user.clone(),
                    },
                };
                self.enqueue(&inbound.tenant.id, outbox_id, message.to_json());
            }
        }
    }

    /// Stores a response in `outbox` and pushes it to a connected client of
    /// the tenant; in a cluster, tells the other nodes it is stored.
    fn enqueue(&mut self, tenant_id: &str, id: String, payload: String) {
        let stored = self.conn().and_then(|mut c| {
            let row = OutboxRow {
                id: id.clone(),
                seq: self.take_seq(&mut c, tenant_id)?,
                tenant_id: tenant_id.to_owned(),
                payload: payload.clone(),
                created_at: Utc::now().naive_utc(),
                delivered_at: None,
            };
            outbox::insert(&mut c, &row)
        });
        match stored {
            Ok(()) => self.notify_stored(tenant_id, &id),
            Err(e) => log::error!("outbox row {id} for {tenant_id} not stored: {e}"),
        }
        match self.target(tenant_id) {
            Some(session) => session
                .recipient
                .do_send(PushResponses(vec![OutboxItem { id, payload }])),
            None => log::info!(
                "no Node client of {tenant_id} connected here; response {id} waits for one"
            ),
        }
    }

    /// The `outbox.seq` of a new row of `tenant_id`: this router's counter —
    /// in a cluster first raised past the tenant's highest stored `seq`, so a
    /// row stored after another node's row sorts after it (rows stored at the
    /// same moment on two nodes may share a `seq`; `id` then orders them).
    fn take_seq(&mut self, conn: &mut DbConnection, tenant_id: &str) -> Result<i64, StoreError> {
        if self.cluster.is_some() {
            self.next_seq = self
                .next_seq
                .max(outbox::max_seq_of_tenant(conn, tenant_id)? + 1);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(seq)
    }

    /// In a cluster: tells the other nodes that outbox row `id` of `tenant_id`
    /// is stored (the one holding the tenant's newest session pushes it).
    fn notify_stored(&self, tenant_id: &str, id: &str) {
        let Some(link) = &self.cluster else { return };
        let cluster = link.cluster.clone();
        let notice = OutboxNotice {
            tenant_id: tenant_id.to_owned(),
            id: id.to_owned(),
        };
        actix::spawn(async move {
            if let Err(e) = cluster.notify_outbox(&notice).await {
                log::warn!("cluster: outbox row {} not announced: {e}", notice.id);
            }
        });
    }

    /// In a cluster: publishes this node's registered sessions.
    fn announce_sessions(&mut self) {
        let Some(link) = &mut self.cluster else {
            return;
        };
        let announce = SessionsAnnounce {
            version: link.version,
            sessions: self
                .sessions
                .iter()
                .map(|s| AnnouncedSession {
                    session: s.id,
                    tenant_ids: s.tenant_ids.clone(),
                    since: s.since,
                })
                .collect(),
        };
        link.version += 1;
        let cluster = link.cluster.clone();
        actix::spawn(async move {
            if let Err(e) = cluster.announce_sessions(&announce).await {
                log::warn!("cluster: Node sessions not announced: {e}");
            }
        });
    }

    /// The session that receives a tenant's responses: the newest serving it
    /// here — unless, in a cluster, another node holds a newer one.
    fn target(&self, tenant_id: &str) -> Option<&Session> {
        let local = self
            .sessions
            .iter()
            .rev()
            .find(|s| s.tenant_ids.iter().any(|t| t == tenant_id))?;
        if let Some(link) = &self.cluster {
            let here = (local.since, link.cluster.node_id(), local.id);
            if link
                .peers
                .newest(tenant_id)
                .is_some_and(|there| there > here)
            {
                return None;
            }
        }
        Some(local)
    }

    /// Pushes the pending rows of those of `tenant_ids` whose responses now
    /// go to a session here (another node's session of theirs went away).
    fn redeliver_served(&self, tenant_ids: BTreeSet<String>) {
        let served: Vec<String> = tenant_ids
            .into_iter()
            .filter(|t| self.target(t).is_some())
            .collect();
        if !served.is_empty() {
            self.redeliver(&served);
        }
    }

    /// Pushes every undelivered row of `tenant_ids`, in `seq` order, to the
    /// session now serving each row's tenant.
    fn redeliver(&self, tenant_ids: &[String]) {
        let rows = match self
            .conn()
            .and_then(|mut c| outbox::pending(&mut c, tenant_ids, REDELIVERY_BATCH))
        {
            Ok(rows) => rows,
            Err(e) => {
                log::error!("loading pending responses: {e}");
                return;
            }
        };
        let mut batches: Vec<(u64, Recipient<PushResponses>, Vec<OutboxItem>)> = Vec::new();
        for row in rows {
            let Some(session) = self.target(&row.tenant_id) else {
                continue;
            };
            let item = OutboxItem {
                id: row.id,
                payload: row.payload,
            };
            match batches.iter_mut().find(|(id, _, _)| *id == session.id) {
                Some((_, _, items)) => items.push(item),
                None => batches.push((session.id, session.recipient.clone(), vec![item])),
            }
        }
        for (_, recipient, items) in batches {
            recipient.do_send(PushResponses(items));
        }
    }
}

/// The customer a message belongs to (created on first contact); `None` when the
/// lookup fails (logged; the message is stored anyway).
fn link_customer(conn: &mut DbConnection, inbound: &Inbound, now: DateTime<Utc>) -> Option<String> {
    let tenant = &inbound.tenant.id;
    let result = match inbound.channel {
        Channel::Sms => {
            customers::upsert_by_phone(conn, tenant, &inbound.from, None, None, now.naive_utc())
        }
        Channel::Email => customers::find_or_create_by_email(
            conn,
            tenant,
            &inbound.from,
            inbound.from_name.as_deref(),
            now.naive_utc(),
        ),
    };
    match result {
        Ok(c) => Some(c.id),
        Err(e) => {
            log::warn!("linking {} to a customer of {tenant}: {e}", inbound.from);
            None
        }
    }
}

/// The customer's earlier messages (oldest first) and recent calls' transcripts.
fn load_history(
    conn: &mut DbConnection,
    inbound: &Inbound,
    customer_id: Option<&str>,
    this_message: &str,
    limit: i64,
) -> agent::History {
    let mut history = agent::History::default();
    let mut phone = (inbound.channel == Channel::Sms).then(|| inbound.from.clone());
    if let Some(customer_id) = customer_id {
        match text_messages::for_customer(conn, customer_id, limit + 1) {
            Ok(rows) => {
                let mut earlier: Vec<MessageRow> = rows
                    .into_iter()
                    .filter(|m| m.id != this_message)
                    .take(limit.max(0) as usize)
                    .collect();
                earlier.reverse();
                history.messages = earlier
                    .into_iter()
                    .map(|m| HistoryEntry {
                        at: m.created_at.and_utc(),
                        channel: m.channel,
                        inbound: m.direction == "inbound",
                        subject: m.subject,
                        body: m.body,
                    })
                    .collect();
            }
            Err(e) => log::warn!("loading message history: {e}"),
        }
        if phone.is_none() {
            phone = customers::find_by_id(conn, customer_id)
                .ok()
                .flatten()
                .and_then(|c| c.phone);
        }
    }
    if let Some(phone) = phone {
        let recent = calls::recent_from_caller(conn, &inbound.tenant.id, &phone, HISTORY_CALLS)
            .unwrap_or_default();
        for call in recent {
            let lines = transcripts::for_call(conn, &call.id).unwrap_or_default();
            let skip = lines.len().saturating_sub(limit.max(0) as usize);
            history.calls.push(CallSummary {
                started_at: call.started_at.and_utc(),
                ended_reason: call.ended_reason,
                lines: lines
                    .into_iter()
                    .skip(skip)
                    .map(|l| (l.role, l.text))
                    .collect(),
            });
        }
    }
    history
}

/// `Re: <subject>` unless it already starts with `Re:` (`Re: your message` for an
/// empty subject): the subject of an email reply.
pub fn reply_subject(subject: &str) -> String {
    if subject.trim_start().to_ascii_lowercase().starts_with("re:") {
        subject.to_owned()
    } else if subject.trim().is_empty() {
        "Re: your message".into()
    } else {
        format!("Re: {subject}")
    }
}

impl Actor for MessageRouter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        match self.conn().and_then(|mut c| outbox::max_seq(&mut c)) {
            Ok(max) => self.next_seq = max + 1,
            Err(e) => log::error!("reading the outbox sequence: {e}"),
        }
        if let Some(link) = &self.cluster {
            // Every heartbeat: re-announce (a silent node's sessions are
            // forgotten after `lease_secs`) and forget silent nodes.
            let (beat, lease) = (link.cluster.heartbeat(), link.cluster.lease());
            ctx.run_interval(beat, move |act, _| {
                act.announce_sessions();
                if let Some(link) = &mut act.cluster {
                    let lost = link.peers.expire(Instant::now(), lease);
                    act.redeliver_served(lost);
                }
            });
            self.announce_sessions();
        }
    }
}

impl Handler<ClientNews> for MessageRouter {
    type Result = ();

    fn handle(&mut self, news: ClientNews, _: &mut Context<Self>) {
        let Some(link) = &mut self.cluster else {
            return;
        };
        match news {
            ClientNews::Outbox(notice) => {
                if self.target(&notice.tenant_id).is_some() {
                    self.redeliver(&[notice.tenant_id]);
                }
            }
            ClientNews::Sessions { node, announce } => {
                // A node heard for the first time learns this one's sessions now.
                let new_node = !link.peers.knows(&node);
                let lost = link.peers.apply(&node, announce, Instant::now());
                if new_node {
                    self.announce_sessions();
                }
                self.redeliver_served(lost);
            }
        }
    }
}

impl Handler<SmsReceived> for MessageRouter {
    type Result = Result<Accepted, MessagingError>;

    fn handle(&mut self, msg: SmsReceived, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(
            Inbound {
                channel: Channel::Sms,
                origin: msg.origin,
                tenant: msg.tenant,
                from: msg.from,
                from_name: None,
                to: msg.to,
                subject: None,
                body: msg.body,
                provider_id: msg.provider_id,
                user: msg.user,
            },
            ctx,
        )
    }
}

impl Handler<EmailReceived> for MessageRouter {
    type Result = Result<Accepted, MessagingError>;

    fn handle(&mut self, msg: EmailReceived, ctx: &mut Context<Self>) -> Self::Result {
        self.accept(
            Inbound {
                channel: Channel::Email,
                origin: msg.origin,
                tenant: msg.tenant,
                from: msg.from,
                from_name: msg.from_name,
                to: msg.to,
                subject: Some(msg.subject),
                body: msg.body,
                provider_id: msg.provider_id,
                user: msg.user,
            },
            ctx,
        )
    }
}

impl Handler<ClientConnected> for MessageRouter {
    type Result = ();

    fn handle(&mut self, msg: ClientConnected, _: &mut Context<Self>) {
        log::info!(
            "node client {} connected (session {}) for {}",
            msg.client_id,
            msg.session_id,
            msg.tenant_ids.join(", ")
        );
        self.sessions.push(Session {
            id: msg.session_id,
            tenant_ids: msg.tenant_ids.clone(),
            recipient: msg.recipient,
            since: Utc::now(),
        });
        self.announce_sessions();
        self.redeliver(&msg.tenant_ids);
    }
}

impl Handler<ClientGone> for MessageRouter {
    type Result = ();

    fn handle(&mut self, msg: ClientGone, _: &mut Context<Self>) {
        let Some(pos) = self.sessions.iter().position(|s| s.id == msg.session_id) else {
            return;
        };
        let gone = self.sessions.remove(pos);
        self.announce_sessions();
        let still_served: Vec<String> = gone
            .tenant_ids
            .into_iter()
            .filter(|t| self.target(t).is_some())
            .collect();
        if !still_served.is_empty() {
            self.redeliver(&still_served);
        }
    }
}

impl Handler<AnswerWritten> for MessageRouter {
    type Result = ();

    fn handle(&mut self, msg: AnswerWritten, _: &mut Context<Self>) {
        let now = Utc::now().naive_utc();
        let stored = self.conn().and_then(|mut c| {
            let row = OutboxRow {
                id: uuid::Uuid::new_v4().to_string(),
                seq: self.take_seq(&mut c, &msg.tenant_id)?,
                tenant_id: msg.tenant_id.clone(),
                payload: msg.payload.clone(),
                created_at: now,
                delivered_at: Some(now),
            };
            outbox::insert(&mut c, &row)
        });
        match stored {
            Ok(()) => log::debug!("answer to {} written to its Node client", msg.message_id),
            Err(e) => log::error!(
                "recording the answer to {} as delivered: {e}",
                msg.message_id
            ),
        }
    }
}

impl Handler<OutboxDelivered> for MessageRouter {
    type Result = ();

    fn handle(&mut self, msg: OutboxDelivered, _: &mut Context<Self>) {
        let now = Utc::now().naive_utc();
        match self
            .conn()
            .and_then(|mut c| outbox::mark_delivered(&mut c, &msg.id, &msg.tenant_ids, now))
        {
            Ok(true) => {}
            Ok(false) => log::debug!("outbox {} was already delivered", msg.id),
            Err(e) => log::error!("marking outbox {} delivered: {e}", msg.id),
        }
    }
}
