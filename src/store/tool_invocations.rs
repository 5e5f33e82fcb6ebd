//! Queries over `tool_invocations`: one row per tool call a model made, with
//! its JSON arguments, result or error, and run time.

use diesel::prelude::*;

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
