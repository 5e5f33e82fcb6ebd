//! Queries over `messages`: SMS and email, inbound and outbound. The unique
//! `provider_id` (Twilio `MessageSid`, an email's `Message-ID`) makes webhook
//! retries idempotent: a second insert of the same id is a
//! [`StoreError::Conflict`], and the first row and its reply are looked up
//! instead.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::MessageRow;
use super::schema::messages;
use super::{DbConnection, StoreError};

/// Insert one message.
///
/// Errors: [`StoreError::Conflict`] when `provider_id` (or the id) exists,
/// [`StoreError::Query`] otherwise (including a `channel`/`direction` outside
/// the `CHECK` lists).
pub fn insert(conn: &mut DbConnection, row: &MessageRow) -> Result<(), StoreError> {
    diesel::insert_into(messages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The message with this provider id, if any.
pub fn find_by_provider_id(
    conn: &mut DbConnection,
    provider_id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(messages::table
        .filter(messages::provider_id.eq(provider_id))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?)
}

/// The first outbound message answering `message_id`, if one was stored.
pub fn reply_to(
    conn: &mut DbConnection,
    message_id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(messages::table
        .filter(messages::in_reply_to.eq(message_id))
        .filter(messages::direction.eq("outbound"))
        .order((messages::created_at.asc(), messages::id.asc()))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `limit` of a customer's messages (both channels, both directions),
/// newest first.
pub fn for_customer(
    conn: &mut DbConnection,
    customer_id: &str,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(messages::table
        .filter(messages::customer_id.eq(customer_id))
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit.max(0))
        .select(MessageRow::as_select())
        .load(conn)?)
}

/// Up to `limit` of a tenant's messages, newest first (admin and tests).
pub fn for_tenant(
    conn: &mut DbConnection,
    tenant_id: &str,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(messages::table
        .filter(messages::tenant_id.eq(tenant_id))
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit.max(0))
        .select(MessageRow::as_select())
        .load(conn)?)
}

/// Up to `limit` messages (of `tenant` when given, else of every tenant),
/// newest first (`GET /api/messages`).
pub fn list_recent(
    conn: &mut DbConnection,
    tenant: Option<&str>,
    limit: i64,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut q = messages::table.into_boxed();
    if let Some(t) = tenant {
        q = q.filter(messages::tenant_id.eq(t.to_string()));
    }
    Ok(q.order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit.max(0))
        .select(MessageRow::as_select())
        .load(conn)?)
}

/// What identifies a resent message without a provider id: tenant, channel,
/// sender, recipient, subject (email; `None` for SMS) and text.
#[derive(Debug, Clone, Copy)]
pub struct ResendKey<'a> {
    pub tenant_id: &'a str,
    pub channel: &'a str,
    pub from_addr: &'a str,
    pub to_addr: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
}

/// The earliest inbound message without a provider id that matches `key` and
/// was stored at or after `since` (UTC): the first copy of a message a Node
/// client resends without an `id`.
pub fn find_resend(
    conn: &mut DbConnection,
    key: ResendKey<'_>,
    since: NaiveDateTime,
) -> Result<Option<MessageRow>, StoreError> {
    // One concrete query per subject filter (`= subject` or `IS NULL`); served by
    // the `messages_sender_idx` index.
    macro_rules! first_match {
        ($subject:expr) => {
            messages::table
                .filter(messages::tenant_id.eq(key.tenant_id))
                .filter(messages::channel.eq(key.channel))
                .filter(messages::direction.eq("inbound"))
                .filter(messages::provider_id.is_null())
                .filter(messages::from_addr.eq(key.from_addr))
                .filter(messages::to_addr.eq(key.to_addr))
                .filter(messages::body.eq(key.body))
                .filter(messages::created_at.ge(since))
                .filter($subject)
                .order((messages::created_at.asc(), messages::id.asc()))
                .select(MessageRow::as_select())
                .first(conn)
                .optional()?
        };
    }
    Ok(match key.subject {
        Some(subject) => first_match!(messages::subject.eq(subject)),
        None => first_match!(messages::subject.is_null()),
    })
}
