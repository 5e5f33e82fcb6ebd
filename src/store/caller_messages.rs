//! Queries over `caller_messages`: messages and callback requests the
//! receptionist took from callers, read back per tenant.

use diesel::prelude::*;

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
