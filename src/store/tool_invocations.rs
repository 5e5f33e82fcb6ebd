//! Queries over `tool_invocations`: one row per tool call a model made, with
//! its JSON arguments, result or error, and run time.

use diesel::prelude::*;

use super::db::on_backend;
use super::models::ToolInvocationRow;
use super::schema::tool_invocations;
use super::{DbConnection, StoreError};

/// Insert one tool invocation.
///
/// Errors: [`StoreError::Conflict`] if the id exists, [`StoreError::Query`].
pub fn insert(conn: &mut DbConnection, row: &ToolInvocationRow) -> Result<(), StoreError> {
    diesel::insert_into(tool_invocations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Insert a tool invocation unless one with the same id exists (`ON
/// CONFLICT (id) DO NOTHING`), so a replayed write is a no-op. Returns
/// whether a row was inserted.
///
/// Errors: [`StoreError::Query`].
pub fn insert_once(conn: &mut DbConnection, row: &ToolInvocationRow) -> Result<bool, StoreError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(tool_invocations::table)
        .values(row)
        .on_conflict(tool_invocations::id)
        .do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

/// A call's tool invocations, oldest first.
pub fn for_call(
    conn: &mut DbConnection,
    call_id: &str,
) -> Result<Vec<ToolInvocationRow>, StoreError> {
    Ok(tool_invocations::table
        .filter(tool_invocations::call_id.eq(call_id))
        .order((
            tool_invocations::created_at.asc(),
            tool_invocations::id.asc(),
        ))
        .select(ToolInvocationRow::as_select())
        .load(conn)?)
}

/// The tool invocations of any of `call_ids`, oldest first (one query for a
/// page of calls).
pub fn for_calls(
    conn: &mut DbConnection,
    call_ids: &[String],
) -> Result<Vec<ToolInvocationRow>, StoreError> {
    Ok(tool_invocations::table
        .filter(tool_invocations::call_id.eq_any(call_ids))
        .order((
            tool_invocations::created_at.asc(),
            tool_invocations::id.asc(),
        ))
        .select(ToolInvocationRow::as_select())
        .load(conn)?)
}
