//! Queries over `caller_messages`: messages and callback requests the
//! receptionist took from callers, read back per tenant (the owner's inbox)
//! and marked read or handled.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::db::on_backend;
use super::models::CallerMessageRow;
use super::schema::caller_messages;
use super::{DbConnection, StoreError};

/// Insert one caller message.
///
/// Errors: [`StoreError::Conflict`] if the id exists, [`StoreError::Query`]
/// (including a `kind` other than `message`/`callback_info`).
pub fn insert(conn: &mut DbConnection, row: &CallerMessageRow) -> Result<(), StoreError> {
    diesel::insert_into(caller_messages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Up to `limit` of the tenant's caller messages, newest first.
pub fn for_tenant(
    conn: &mut DbConnection,
    tenant_id: &str,
    limit: i64,
) -> Result<Vec<CallerMessageRow>, StoreError> {
    Ok(caller_messages::table
        .filter(caller_messages::tenant_id.eq(tenant_id))
        .order((
            caller_messages::created_at.desc(),
            caller_messages::id.desc(),
        ))
        .limit(limit.max(0))
        .select(CallerMessageRow::as_select())
        .load(conn)?)
}

/// What the owner's inbox lists: a tenant's (or every tenant's) messages,
/// optionally of one status, newest first, one page at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InboxQuery {
    /// Only this tenant's messages; `None` = every tenant.
    pub tenant_id: Option<String>,
    /// Only messages with this status (`new`, `read`, `handled`).
    pub status: Option<String>,
    /// Page size (clamped to 0…).
    pub limit: i64,
    /// Rows skipped before the page.
    pub offset: i64,
}

/// One page of caller messages matching `q` (newest first) and how many match
/// in all.
pub fn list(
    conn: &mut DbConnection,
    q: &InboxQuery,
) -> Result<(Vec<CallerMessageRow>, i64), StoreError> {
    Ok(on_backend!(conn, |c| {
        let filtered = || {
            let mut query = caller_messages::table.into_boxed();
            if let Some(t) = &q.tenant_id {
                query = query.filter(caller_messages::tenant_id.eq(t.clone()));
            }
            if let Some(s) = &q.status {
                query = query.filter(caller_messages::status.eq(s.clone()));
            }
            query
        };
        let total: i64 = filtered().count().get_result(c)?;
        let rows = filtered()
            .order((
                caller_messages::created_at.desc(),
                caller_messages::id.desc(),
            ))
            .limit(q.limit.max(0))
            .offset(q.offset.max(0))
            .select(CallerMessageRow::as_select())
            .load(c)?;
        (rows, total)
    }))
}

/// The message with this id.
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<CallerMessageRow>, StoreError> {
    Ok(caller_messages::table
        .find(id)
        .select(CallerMessageRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets a message's status (`new`, `read` or `handled`), who did it and when;
/// returns the updated row, `None` for an unknown id.
///
/// Errors: [`StoreError::Query`] for a status the table's CHECK refuses.
pub fn set_status(
    conn: &mut DbConnection,
    id: &str,
    status: &str,
    by: Option<&str>,
    at: NaiveDateTime,
) -> Result<Option<CallerMessageRow>, StoreError> {
    let updated = diesel::update(caller_messages::table.find(id))
        .set((
            caller_messages::status.eq(status),
            caller_messages::handled_by.eq(by),
            caller_messages::handled_at.eq(at),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Ok(None);
    }
    Ok(caller_messages::table
        .find(id)
        .select(CallerMessageRow::as_select())
        .first(conn)
        .optional()?)
}

/// The caller messages taken on a call, oldest first.
pub fn for_call(
    conn: &mut DbConnection,
    call_id: &str,
) -> Result<Vec<CallerMessageRow>, StoreError> {
    Ok(caller_messages::table
        .filter(caller_messages::call_id.eq(call_id))
        .order((caller_messages::created_at.asc(), caller_messages::id.asc()))
        .select(CallerMessageRow::as_select())
        .load(conn)?)
}
