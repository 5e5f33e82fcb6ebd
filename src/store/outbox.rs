//! Queries over `outbox`: responses kept for a tenant's Node client until a
//! client acknowledges them (`delivered`). Rows are read in `seq` order per
//! tenant; `delivered_at` is set on the client's acknowledgement — or, for the
//! direct answer to a Node client message without `id`, inserted already set at
//! the moment it was written to the client's open socket (those clients never
//! acknowledge), so such rows are never pending.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::OutboxRow;
use super::schema::outbox;
use super::{DbConnection, StoreError};

/// Insert one outbox row.
///
/// Errors: [`StoreError::Conflict`] if the id exists.
pub fn insert(conn: &mut DbConnection, row: &OutboxRow) -> Result<(), StoreError> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Undelivered rows of the given tenants, oldest `seq` first, at most `limit`.
pub fn pending(
    conn: &mut DbConnection,
    tenant_ids: &[String],
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(outbox::table
        .filter(outbox::tenant_id.eq_any(tenant_ids))
        .filter(outbox::delivered_at.is_null())
        .order((outbox::seq.asc(), outbox::id.asc()))
        .limit(limit.max(0))
        .select(OutboxRow::as_select())
        .load(conn)?)
}

/// Marks row `id` delivered at `now` if it belongs to one of `tenant_ids` and
/// is not yet delivered. Returns whether a row changed (false for an unknown,
/// foreign or already delivered id).
pub fn mark_delivered(
    conn: &mut DbConnection,
    id: &str,
    tenant_ids: &[String],
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::tenant_id.eq_any(tenant_ids))
            .filter(outbox::delivered_at.is_null()),
    )
    .set(outbox::delivered_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

/// The highest `seq` stored, or 0 for an empty outbox.
pub fn max_seq(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let max: Option<i64> = outbox::table
        .select(diesel::dsl::max(outbox::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// The highest `seq` stored for `tenant_id`, or 0 when it has no row.
pub fn max_seq_of_tenant(conn: &mut DbConnection, tenant_id: &str) -> Result<i64, StoreError> {
    let max: Option<i64> = outbox::table
        .filter(outbox::tenant_id.eq(tenant_id))
        .select(diesel::dsl::max(outbox::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}
