//! Queries over `node_clients`: Node.js webhook servers allowed on the
//! `/supervisor` gateway. Only a SHA-256 hash of each token is stored; a
//! client is found by that hash (unique) and refused once revoked or expired.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::NodeClientRow;
use super::schema::node_clients;
use super::{DbConnection, StoreError};

/// Insert one client.
///
/// Errors: [`StoreError::Conflict`] if the id or token hash exists.
pub fn insert(conn: &mut DbConnection, row: &NodeClientRow) -> Result<(), StoreError> {
    diesel::insert_into(node_clients::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The client whose token hashes to `token_hash` (lowercase hex), revoked or not.
pub fn find_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<NodeClientRow>, StoreError> {
    Ok(node_clients::table
        .filter(node_clients::token_hash.eq(token_hash))
        .select(NodeClientRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks a client revoked at `now`; returns false when no unrevoked client has this id.
pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        node_clients::table
            .filter(node_clients::id.eq(id))
            .filter(node_clients::revoked_at.is_null()),
    )
    .set(node_clients::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

/// Every client, oldest first.
pub fn all(conn: &mut DbConnection) -> Result<Vec<NodeClientRow>, StoreError> {
    Ok(node_clients::table
        .order((node_clients::created_at.asc(), node_clients::id.asc()))
        .select(NodeClientRow::as_select())
        .load(conn)?)
}
