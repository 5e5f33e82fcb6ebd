//! The [`Notifier`] actor: delivers the stored owner notifications and writes
//! call summaries. It runs on its own (the system) arbiter, never on a call's:
//! every `notify.poll_ms` it reads the due rows of `notifications`, sends each
//! through the Twilio Messages API (SMS) or SendGrid mail-send (email), one at a
//! time, and records the outcome — sent (with Twilio's `SM…` sid), retried later
//! with doubling backoff (transport failures, 5xx, 429), or failed (refused by
//! the provider, provider not configured, or `notify.max_attempts` spent).
//! Because rows are stored before they are sent and only this actor sends them,
//! a notification survives restarts and provider outages and is sent once (a
//! crash between the provider's acceptance and the row's update is the one
//! window in which it would be sent again).
//!
//! When a call ends ([`CallEnded`]) it waits for the call's writes to land
//! ([`Flush`]), writes the call's summary ([`crate::summary`]) and enqueues
//! the post-call notification.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use diesel::Connection;

use crate::chat::ChatClient;
use crate::config::Config;
use crate::rest::sendgrid::{self, MailSendError, OutboundEmail};
use crate::rest::twilio::{TwilioRest, TwilioRestError};
use crate::store::models::NotificationRow;
use crate::store::writer::{Flush, Store};
use crate::store::{blocking, calls, notifications, Pool, StoreError};
use crate::tenant::TenantConfig;

use super::event::{enqueue, OwnerEvent};

/// Due rows read per look at the outbox.
const BATCH: i64 = 20;

/// Longest SMS `Body` Twilio's Messages API takes, characters.
const MAX_SMS_CHARS: usize = 1600;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The provider accepted it; Twilio's message sid for SMS.
    Sent(Option<String>),
    /// Worth trying again later (transport failure, 5xx, 429).
    Retry(String),
    /// Will not work by retrying (refused, not configured).
    GiveUp(String),
}

/// A call has ended: write its summary and enqueue the post-call notification.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CallEnded {
    /// switchboard's call id.
    pub call_id: String,
    pub tenant: Arc<TenantConfig>,
}

/// Look at the outbox now instead of at the next tick.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "()")]
pub struct DeliverNow;

/// What delivery needs: the database, provider settings and TLS.
#[derive(Clone)]
struct Outbox {
    pool: Pool,
    config: Arc<Config>,
    tls: Option<openssl::ssl::SslConnector>,
}

/// Delivers owner notifications and writes call summaries (see the module docs).
pub struct Notifier {
    outbox: Outbox,
    store: Addr<Store>,
    chat: ChatClient,
    /// A delivery pass is running; ticks meanwhile are skipped.
    busy: bool,
}

impl Notifier {
    /// A notifier over `pool`, sending with `config.twilio`/`config.sendgrid`,
    /// pacing by `config.notify`, summarising with `chat` when it has a key.
    pub fn new(
        pool: Pool,
        store: Addr<Store>,
        config: Arc<Config>,
        chat: ChatClient,
        tls: Option<openssl::ssl::SslConnector>,
    ) -> Self {
        Notifier {
            outbox: Outbox { pool, config, tls },
            store,
            chat,
            busy: false,
        }
    }

    fn kick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let outbox = self.outbox.clone();
        ctx.spawn(
            async move { outbox.deliver_due().await }
                .into_actor(self)
                .map(|_, act, _| act.busy = false),
        );
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_millis(self.outbox.config.notify.poll_ms.max(1));
        ctx.run_interval(every, |act, ctx| act.kick(ctx));
    }
}

impl Handler<DeliverNow> for Notifier {
    type Result = ();

    fn handle(&mut self, _: DeliverNow, ctx: &mut Context<Self>) {
        self.kick(ctx);
    }
}

impl Handler<CallEnded> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: CallEnded, ctx: &mut Context<Self>) {
        let (pool, store, chat) = (
            self.outbox.pool.clone(),
            self.store.clone(),
            self.chat.clone(),
        );
        ctx.spawn(
            async move {
                if let Err(e) = summarise_ended_call(pool, store, chat, &msg).await {
                    log::error!("summary of call {}: {e}", msg.call_id);
                }
            }
            .into_actor(self)
            .map(|_, act, ctx| act.kick(ctx)),
        );
    }
}

/// Waits for the call's writes, writes its summary and enqueues the post-call
/// notification in one transaction.
async fn summarise_ended_call(
    pool: Pool,
    store: Addr<Store>,
    chat: ChatClient,
    msg: &CallEnded,
) -> Result<(), StoreError> {
    match store.send(Flush).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(StoreError::BatchFailed(e.to_string())),
    }
    let call_id = msg.call_id.clone();
    let facts = blocking(&pool, move |conn| {
        crate::summary::CallFacts::load(conn, &call_id)
    })
    .await?;
    let Some(facts) = facts else {
        return Ok(());
    };
    let summary = crate::summary::write(&chat, &facts, &msg.tenant).await;
    let tenant = msg.tenant.clone();
    let event = OwnerEvent::CallSummary {
        call_id: msg.call_id.clone(),
        caller: facts.caller_label(),
        summary: summary.clone(),
    };
    let call_id = msg.call_id.clone();
    blocking(&pool, move |conn| {
        conn.transaction(|conn| {
            calls::set_summary(conn, &call_id, &summary)?;
            enqueue(conn, &tenant, &event, Utc::now())
        })
    })
    .await?;
    Ok(())
}

impl Outbox {
    /// Sends every due row, a batch at a time, until none is due.
    async fn deliver_due(&self) {
        loop {
            let now = Utc::now().naive_utc();
            let due = match blocking(&self.pool, move |conn| notifications::due(conn, now, BATCH))
                .await
            {
                Ok(rows) => rows,
                Err(e) if e.is_unreachable() => {
                    log::debug!("notifications: reading the outbox deferred: {e}");
                    return;
                }
                Err(e) => {
                    log::error!("notifications: reading the outbox failed: {e}");
                    return;
                }
            };
            let full = due.len() as i64 == BATCH;
            for row in due {
                let attempt = self.send(&row).await;
                self.record(&row, attempt).await;
            }
            if !full {
                return;
            }
        }
    }

    /// One delivery attempt of `row`.
    async fn send(&self, row: &NotificationRow) -> Attempt {
        let config = self.config.clone();
        match row.channel.as_str() {
            "sms" => {
                let rest = match TwilioRest::from_config(&config.twilio, self.tls.clone()) {
                    Ok(rest) => rest,
                    Err(e) => return Attempt::GiveUp(e.to_string()),
                };
                let from = sms_sender(&config, &row.tenant_id);
                let Some(from) = from else {
                    return Attempt::GiveUp(
                        "no sender number (tenant phone_numbers or notify.sms_from)".into(),
                    );
                };
                let body = sms_text(&row.body);
                match rest.send_message(&row.recipient, &from, &body).await {
                    Ok(sid) => Attempt::Sent(Some(sid)),
                    Err(TwilioRestError::Status { status, body }) if is_permanent(status) => {
                        Attempt::GiveUp(format!("Twilio answered {status}: {body}"))
                    }
                    Err(e @ TwilioRestError::NotConfigured) => Attempt::GiveUp(e.to_string()),
                    Err(e) => Attempt::Retry(e.to_string()),
                }
            }
            "email" => {
                if config.sendgrid.from_address.is_empty() {
                    return Attempt::GiveUp("no sender address (sendgrid.from_address)".into());
                }
                let mail = OutboundEmail {
                    from: config.sendgrid.from_address.clone(),
                    to: row.recipient.clone(),
                    subject: row.subject.clone(),
                    text: row.body.clone(),
                };
                match sendgrid::send(&config.sendgrid, &mail).await {
                    Ok(()) => Attempt::Sent(None),
                    Err(MailSendError::Status { status, body }) if is_permanent(status) => {
                        Attempt::GiveUp(format!("SendGrid answered {status}: {body}"))
                    }
                    Err(e @ MailSendError::NoApiKey) => Attempt::GiveUp(e.to_string()),
                    Err(e) => Attempt::Retry(e.to_string()),
                }
            }
            other => Attempt::GiveUp(format!("unknown channel {other:?}")),
        }
    }

    /// Stores the outcome of an attempt on `row`.
    async fn record(&self, row: &NotificationRow, attempt: Attempt) {
        let notify = &self.config.notify;
        let attempts = row.attempts + 1;
        let id = row.id.clone();
        let result = match attempt {
            Attempt::Sent(sid) => {
                blocking(&self.pool, move |conn| {
                    notifications::mark_sent(conn, &id, sid.as_deref(), Utc::now().naive_utc())
                })
                .await
            }
            Attempt::Retry(error) if attempts < notify.max_attempts as i32 => {
                let wait = backoff_ms(notify.retry_base_ms, notify.retry_max_ms, attempts);
                log::warn!(
                    "notification {} to {}: attempt {attempts} failed, retry in {wait} ms: {error}",
                    row.event_key,
                    row.recipient
                );
                let next = Utc::now().naive_utc() + chrono::Duration::milliseconds(wait as i64);
                blocking(&self.pool, move |conn| {
                    notifications::mark_attempt_failed(conn, &id, &error, Some(next))
                })
                .await
            }
            Attempt::Retry(error) | Attempt::GiveUp(error) => {
                log::error!(
                    "notification {} to {} failed after {attempts} attempts: {error}",
                    row.event_key,
                    row.recipient
                );
                blocking(&self.pool, move |conn| {
                    notifications::mark_attempt_failed(conn, &id, &error, None)
                })
                .await
            }
        };
        if let Err(e) = result {
            log::error!("notification {}: recording the attempt failed: {e}", row.id);
        }
    }
}

/// `body` cut to Twilio's 1600-character `Body` limit (docs/twilio.md), `…` when cut;
/// longer bodies are refused with 400 and would never be delivered.
fn sms_text(body: &str) -> String {
    if body.chars().count() <= MAX_SMS_CHARS {
        return body.to_string();
    }
    let mut cut: String = body.chars().take(MAX_SMS_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The SMS sender of a tenant: `notify.sms_from`, else its first phone number.
fn sms_sender(config: &Config, tenant_id: &str) -> Option<String> {
    let tenant = config.tenants.iter().find(|t| t.id == tenant_id)?;
    if !tenant.notify.sms_from.is_empty() {
        return Some(tenant.notify.sms_from.clone());
    }
    tenant.phone_numbers.first().cloned()
}

/// 4xx other than 408 and 429: the request itself is wrong; retrying will not help.
fn is_permanent(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, at most `max`.
fn backoff_ms(base: u64, max: u64, attempts: i32) -> u64 {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    base.saturating_mul(1u64 << doublings).min(max.max(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff_ms(1000, 10_000, 1), 1000);
        assert_eq!(backoff_ms(1000, 10_000, 2), 2000);
        assert_eq!(backoff_ms(1000, 10_000, 4), 8000);
        assert_eq!(backoff_ms(1000, 10_000, 5), 10_000);
        assert_eq!(backoff_ms(1000, 10_000, 60), 10_000);
    }

    #[test]
    fn sms_bodies_fit_twilios_limit() {
        assert_eq!(sms_text("short"), "short");
        let long = "x".repeat(2500);
        let cut = sms_text(&long);
        assert_eq!(cut.chars().count(), MAX_SMS_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn only_client_errors_are_permanent() {
        assert!(is_permanent(400));
        assert!(is_permanent(401));
        assert!(!is_permanent(429));
        assert!(!is_permanent(408));
        assert!(!is_permanent(500));
        assert!(!is_permanent(503));
    }
}
