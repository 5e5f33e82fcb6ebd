//! Queries over `audit_log`: appended once per change, read newest first,
//! filtered by tenant.

use diesel::prelude::*;

use super::models::AuditRow;
use super::schema::audit_log;
use super::{DbConnection, StoreError};

/// Appends one entry.
pub fn insert(conn: &mut DbConnection, row: &AuditRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A page of entries, newest first, and how many there are in all: of
/// `tenant` only when given, else of every tenant and the whole server.
pub fn list(
    conn: &mut DbConnection,
    tenant: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditRow>, i64), StoreError> {
    let mut rows = audit_log::table.into_boxed();
    let mut total = audit_log::table.into_boxed();
    if let Some(t) = tenant {
        rows = rows.filter(audit_log::tenant_id.eq(t.to_string()));
        total = total.filter(audit_log::tenant_id.eq(t.to_string()));
    }
    let items = rows
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .offset(offset)
        .select(AuditRow::as_select())
        .load(conn)?;
    let total = total.count().get_result(conn)?;
    Ok((items, total))
}
