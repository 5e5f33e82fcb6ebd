//! Node client tokens: generated once (`switchboard client add`), shown once,
//! or taken from the operator's environment (`--token-from-env`, for webhook
//! servers that already hold a shared token), stored only as a SHA-256 hash in
//! `node_clients`, and checked on every `/supervisor` connection: found by hash,
//! compared in constant time, refused when revoked or expired. There is no
//! built-in or default token.

use chrono::{NaiveDateTime, Utc};
use subtle::ConstantTimeEq;

use crate::accounts::secret;
use crate::store::{node_clients, DbConnection, NodeClientRow, StoreError};

/// Prefix of every generated token, so a leaked one is recognisable in logs and
/// scanners.
pub const TOKEN_PREFIX: &str = "sbn_";

/// Shortest token accepted from the operator (`--token-from-env`), characters.
pub const MIN_PROVIDED_TOKEN_CHARS: usize = 16;

/// Why an operator-provided token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProvidedTokenError {
    /// Shorter than [`MIN_PROVIDED_TOKEN_CHARS`] (after trimming).
    #[error("the token is {0} characters; at least {MIN_PROVIDED_TOKEN_CHARS} are required")]
    TooShort(usize),
    /// Contains whitespace or control characters (it would not survive a header
    /// or a copy through an env file intact).
    #[error("the token contains whitespace or control characters")]
    BadCharacters,
    /// Another client already has this token.
    #[error("another client already has this token")]
    InUse,
    /// The database refused the row.
    #[error("storing the client: {0}")]
    Store(#[from] StoreError),
}

/// Why a token was refused (HTTP 401 before the upgrade, or close 1008).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("missing token")]
    Missing,
    /// No client has this token.
    #[error("unknown token")]
    Unknown,
    /// The client was revoked at this instant (UTC).
    #[error("token revoked at {0}")]
    Revoked(NaiveDateTime),
    /// The token expired at this instant (UTC).
    #[error("token expired at {0}")]
    Expired(NaiveDateTime),
    /// The client row names no tenant (or its `tenant_ids` is not a JSON array).
    #[error("client {0} has no valid tenant list")]
    NoTenants(String),
    /// The database could not be asked.
    #[error("token check failed: {0}")]
    Store(#[from] StoreError),
}

/// An authenticated client.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizedClient {
    /// `node_clients.id`.
    pub id: String,
    pub name: String,
    /// Tenants the client may send for and receive responses of.
    pub tenant_ids: Vec<String>,
}

/// A new random token: [`TOKEN_PREFIX`] + 64 lowercase hex digits (256 bits).
pub fn generate() -> String {
    secret::generate(TOKEN_PREFIX)
}

/// SHA-256 of the token, lowercase hex: what `node_clients.token_hash` holds.
pub fn hash(token: &str) -> String {
    secret::hash(token)
}

/// Creates a client for `tenant_ids` named `name`, optionally expiring at
/// `expires_at` (UTC). Returns the stored row and the token, which is not
/// stored and cannot be shown again.
pub fn create_client(
    conn: &mut DbConnection,
    name: &str,
    tenant_ids: &[String],
    expires_at: Option<NaiveDateTime>,
) -> Result<(NodeClientRow, String), StoreError> {
    let token = generate();
    let row = insert_client(conn, name, tenant_ids, expires_at, &token)?;
    Ok((row, token))
}

/// Creates a client like [`create_client`] but with a token the operator already
/// has (e.g. the `SUPERVISOR_TOKEN` existing webhook servers read); it is stored
/// hashed like a generated one.
///
/// Errors: [`ProvidedTokenError::TooShort`], [`ProvidedTokenError::BadCharacters`],
/// [`ProvidedTokenError::InUse`] (another client has it), [`ProvidedTokenError::Store`].
pub fn create_client_with_token(
    conn: &mut DbConnection,
    name: &str,
    tenant_ids: &[String],
    expires_at: Option<NaiveDateTime>,
    token: &str,
) -> Result<NodeClientRow, ProvidedTokenError> {
    check_provided(token)?;
    if node_clients::find_by_token_hash(conn, &hash(token))?.is_some() {
        return Err(ProvidedTokenError::InUse);
    }
    match insert_client(conn, name, tenant_ids, expires_at, token) {
        Err(StoreError::Conflict(_)) => Err(ProvidedTokenError::InUse),
        other => Ok(other?),
    }
}

/// Checks an operator-provided token's shape.
pub fn check_provided(token: &str) -> Result<(), ProvidedTokenError> {
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ProvidedTokenError::BadCharacters);
    }
    let chars = token.chars().count();
    if chars < MIN_PROVIDED_TOKEN_CHARS {
        return Err(ProvidedTokenError::TooShort(chars));
    }
    Ok(())
}

fn insert_client(
    conn: &mut DbConnection,
    name: &str,
    tenant_ids: &[String],
    expires_at: Option<NaiveDateTime>,
    token: &str,
) -> Result<NodeClientRow, StoreError> {
    let row = NodeClientRow {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_owned(),
        tenant_ids: serde_json::to_string(tenant_ids).unwrap_or_else(|_| "[]".into()),
        token_hash: hash(token),
        created_at: Utc::now().naive_utc(),
        revoked_at: None,
        expires_at,
    };
    node_clients::insert(conn, &row)?;
    Ok(row)
}

/// Checks `token` at `now` (UTC).
///
/// Errors: [`AuthError::Unknown`], [`AuthError::Revoked`], [`AuthError::Expired`],
/// [`AuthError::NoTenants`], [`AuthError::Store`].
pub fn verify(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<AuthorizedClient, AuthError> {
    let presented = hash(token);
    let row = node_clients::find_by_token_hash(conn, &presented)?.ok_or(AuthError::Unknown)?;
    if !bool::from(row.token_hash.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(AuthError::Unknown);
    }
    if let Some(at) = row.revoked_at {
        return Err(AuthError::Revoked(at));
    }
    if let Some(at) = row.expires_at.filter(|at| *at <= now) {
        return Err(AuthError::Expired(at));
    }
    let tenant_ids: Vec<String> = serde_json::from_str(&row.tenant_ids).unwrap_or_default();
    if tenant_ids.is_empty() {
        return Err(AuthError::NoTenants(row.id));
    }
    Ok(AuthorizedClient {
        id: row.id,
        name: row.name,
        tenant_ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_to_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn provided_tokens_must_be_long_and_plain() {
        assert!(matches!(
            check_provided("dev-token-12345"),
            Err(ProvidedTokenError::TooShort(15))
        ));
        assert!(matches!(
            check_provided("a shared token with spaces"),
            Err(ProvidedTokenError::BadCharacters)
        ));
        assert!(matches!(
            check_provided("shared-token-0123456789\n"),
            Err(ProvidedTokenError::BadCharacters)
        ));
        assert!(check_provided("0f3c9a1e7b2d4c6e8a0b").is_ok());
    }
}
