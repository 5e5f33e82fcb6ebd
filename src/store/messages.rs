//! Queries over `messages` (SMS and email, inbound and outbound) for the admin API.

use diesel::prelude::*;

use super::models::MessageRow;
use super::schema::messages;
use super::{DbConnection, StoreError};

/// Up to `limit` messages, newest first.
pub fn list_recent(conn: &mut DbConnection, limit: i64) -> Result<Vec<MessageRow>, StoreError> {
    Ok(messages::table
        .order((messages::created_at.desc(), messages::id.desc()))
        .limit(limit.max(0))
        .select(MessageRow::as_select())
        .load(conn)?)
}
