//! Queries over `api_tokens`: integration tokens of one tenant, found by the
//! SHA-256 of the token, refused once revoked.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::ApiTokenRow;
use super::schema::api_tokens;
use super::{DbConnection, StoreError};

/// How long a token's `last_used_at` may lag its real last use: one write a
/// minute at most per token, not one per request.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// Inserts one token.
///
/// Errors: [`StoreError::Conflict`] if the id or hash exists.
pub fn insert(conn: &mut DbConnection, row: &ApiTokenRow) -> Result<(), StoreError> {
    diesel::insert_into(api_tokens::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The unrevoked token whose value hashes to `token_hash`; marks it used at `now`.
pub fn use_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<ApiTokenRow>, StoreError> {
    let found = api_tokens::table
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(api_tokens::revoked_at.is_null())
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(token) = &found {
        let stale = now - chrono::Duration::seconds(LAST_USED_GRANULARITY_SECS);
        if token.last_used_at.is_none_or(|at| at < stale) {
            diesel::update(api_tokens::table.filter(api_tokens::id.eq(&token.id)))
                .set(api_tokens::last_used_at.eq(now))
                .execute(conn)?;
        }
    }
    Ok(found)
}

/// Marks a token revoked at `now`; the token, when an unrevoked one has this id.
pub fn revoke(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<Option<ApiTokenRow>, StoreError> {
    conn.transaction(|conn| {
        let n = diesel::update(
            api_tokens::table
                .filter(api_tokens::id.eq(id))
                .filter(api_tokens::revoked_at.is_null()),
        )
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)?;
        if n == 0 {
            return Ok(None);
        }
        Ok(api_tokens::table
            .filter(api_tokens::id.eq(id))
            .select(ApiTokenRow::as_select())
            .first(conn)
            .optional()?)
    })
}

/// Every token, oldest first.
pub fn all(conn: &mut DbConnection) -> Result<Vec<ApiTokenRow>, StoreError> {
    Ok(api_tokens::table
        .order((api_tokens::created_at.asc(), api_tokens::id.asc()))
        .select(ApiTokenRow::as_select())
        .load(conn)?)
}
