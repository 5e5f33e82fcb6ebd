//! Integration tokens: a bearer token of one tenant for scripts and other
//! systems (`switchboard token add --tenant T --name N [--read-only]`),
//! printed once, stored as its SHA-256, listed with when it was created and
//! last used, revoked by id. A read-only token passes [`Access::Read`] only;
//! another has the owner's reach in its tenant.
//!
//! [`Access::Read`]: crate::accounts::Access::Read

use chrono::NaiveDateTime;

use crate::accounts::secret;
use crate::store::{api_tokens, ApiTokenRow, DbConnection, StoreError};

/// Prefix of every integration token, so a leaked one is recognisable in logs
/// and secret scanners.
pub const TOKEN_PREFIX: &str = "sbt_";

/// Creates a token for `tenant` named `name`; returns the row and the token,
/// which is not stored and cannot be shown again.
pub fn create(
    conn: &mut DbConnection,
    tenant: &str,
    name: &str,
    read_only: bool,
    now: NaiveDateTime,
) -> Result<(ApiTokenRow, String), StoreError> {
    let token = secret::generate(TOKEN_PREFIX);
    let row = ApiTokenRow {
        id: format!("tok_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        tenant_id: tenant.to_string(),
        name: name.to_string(),
        token_hash: secret::hash(&token),
        read_only,
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    api_tokens::insert(conn, &row)?;
    Ok((row, token))
}

/// The unrevoked token `token` names, marked used at `now`; `None` for any
/// other string (found by hash: the lookup itself compares no secret).
pub fn authenticate(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<ApiTokenRow>, StoreError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    api_tokens::use_token(conn, &secret::hash(token), now)
}
