//! Queries over `notifications`, the owner-notification outbox: rows are
//! inserted once per event and recipient (a repeat of the same `event_key` and
//! `recipient` is ignored), then taken by the delivery actor when due, and
//! marked sent, retried later, or failed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::db::on_backend;
use super::models::NotificationRow;
use super::schema::notifications;
use super::{DbConnection, StoreError};

/// Inserts `rows`, skipping any whose `(event_key, recipient)` is already
/// stored (`ON CONFLICT DO NOTHING`). Returns how many were inserted.
pub fn enqueue(conn: &mut DbConnection, rows: &[NotificationRow]) -> Result<usize, StoreError> {
    let mut inserted = 0;
    for row in rows {
        inserted += on_backend!(conn, |c| diesel::insert_into(notifications::table)
            .values(row)
            .on_conflict((notifications::event_key, notifications::recipient))
            .do_nothing()
            .execute(c))?;
    }
    Ok(inserted)
}

/// Up to `limit` pending rows due at `now`, oldest due first.
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NotificationRow>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq("pending"))
        .filter(notifications::next_attempt_at.le(now))
        .order((
            notifications::next_attempt_at.asc(),
            notifications::id.asc(),
        ))
        .limit(limit.max(0))
        .select(NotificationRow::as_select())
        .load(conn)?)
}

/// Marks a pending row sent at `now` with the provider's id (Twilio `SM…`).
/// Returns false when the row was not pending.
pub fn mark_sent(
    conn: &mut DbConnection,
    id: &str,
    provider_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::status.eq("pending")),
    )
    .set((
        notifications::status.eq("sent"),
        notifications::attempts.eq(notifications::attempts + 1),
        notifications::provider_id.eq(provider_id),
        notifications::sent_at.eq(now),
        notifications::last_error.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Records a failed attempt: the row stays pending until `next` (retry) or,
/// with `next = None`, becomes `failed` (given up).
pub fn mark_attempt_failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    next: Option<NaiveDateTime>,
) -> Result<bool, StoreError> {
    let target = notifications::table
        .filter(notifications::id.eq(id))
        .filter(notifications::status.eq("pending"));
    let n = match next {
        Some(at) => diesel::update(target)
            .set((
                notifications::attempts.eq(notifications::attempts + 1),
                notifications::next_attempt_at.eq(at),
                notifications::last_error.eq(error),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                notifications::status.eq("failed"),
                notifications::attempts.eq(notifications::attempts + 1),
                notifications::last_error.eq(error),
            ))
            .execute(conn)?,
    };
    Ok(n > 0)
}

/// One page of a tenant's (or every tenant's) notifications, newest first,
/// and how many there are in all.
pub fn list(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<NotificationRow>, i64), StoreError> {
    Ok(on_backend!(conn, |c| {
        let filtered = || {
            let mut query = notifications::table.into_boxed();
            if let Some(t) = tenant_id {
                query = query.filter(notifications::tenant_id.eq(t.to_string()));
            }
            query
        };
        let total: i64 = filtered().count().get_result(c)?;
        let rows = filtered()
            .order((notifications::created_at.desc(), notifications::id.desc()))
            .limit(limit.max(0))
            .offset(offset.max(0))
            .select(NotificationRow::as_select())
            .load(c)?;
        (rows, total)
    }))
}
