//! People who sign in: adding them (`switchboard user add`), their
//! passwords, and their dashboard sessions — a random cookie value, stored
//! as its SHA-256 with an expiry, ended by signing out, by a password change
//! or by removing the user.

use chrono::{Duration, NaiveDateTime};

use crate::accounts::{password, secret, Role};
use crate::store::{users, DbConnection, StoreError, UserRow, UserSessionRow};

/// Longest email accepted, bytes (RFC 5321 §4.5.3.1: a path is at most 256
/// octets including the brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Why an account cannot be added or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email {0:?} is not an address")]
    BadEmail(String),
    #[error("an admin has no tenant; an owner or staff account needs --tenant")]
    TenantMismatch,
    #[error("no tenant {0:?} in the configuration")]
    UnknownTenant(String),
    #[error("an account with this email exists")]
    Exists,
    #[error("no account has this email")]
    NoSuchUser,
    #[error(transparent)]
    Password(#[from] password::PasswordError),
    #[error("storing the account: {0}")]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => AccountError::Exists,
            other => AccountError::Store(other),
        }
    }
}

/// `email` trimmed and lowercased, when it looks like one address
/// (`local@domain`, no spaces, at most [`MAX_EMAIL_BYTES`]).
pub fn normalise_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let plausible = email.len() <= MAX_EMAIL_BYTES
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if plausible {
        Ok(email)
    } else {
        Err(AccountError::BadEmail(email))
    }
}

/// Adds a user: `role` admin with no tenant, owner or staff of one of
/// `known_tenants`; the password hashed with Argon2id.
pub fn add(
    conn: &mut DbConnection,
    email: &str,
    tenant: Option<&str>,
    role: Role,
    password: &str,
    known_tenants: &[String],
    now: NaiveDateTime,
) -> Result<UserRow, AccountError> {
    let email = normalise_email(email)?;
    match (role, tenant) {
        (Role::Admin, None) => {}
        (Role::Owner | Role::Staff, Some(t)) => {
            if !known_tenants.iter().any(|k| k == t) {
                return Err(AccountError::UnknownTenant(t.to_string()));
            }
        }
        _ => return Err(AccountError::TenantMismatch),
    }
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        email,
        tenant_id: tenant.map(str::to_string),
        role: role.as_str().to_string(),
        password_hash: password::hash(password)?,
        created_at: now,
    };
    users::insert(conn, &row)?;
    Ok(row)
}

/// Replaces a user's password and ends their sessions.
pub fn set_password(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
) -> Result<UserRow, AccountError> {
    let email = normalise_email(email)?;
    let hash = password::hash(password)?;
    users::set_password(conn, &email, &hash)?.ok_or(AccountError::NoSuchUser)
}

/// The user `email` names when `password` is theirs; `None` otherwise, after
/// the same hashing work whether or not the account exists.
pub fn check_password(
    conn: &mut DbConnection,
    email: &str,
    password: &str,
) -> Result<Option<UserRow>, StoreError> {
    let Ok(email) = normalise_email(email) else {
        password::verify_nobody(password);
        return Ok(None);
    };
    match users::by_email(conn, &email)? {
        Some(user) if password::verify(password, &user.password_hash) => Ok(Some(user)),
        Some(_) => Ok(None),
        None => {
            password::verify_nobody(password);
            Ok(None)
        }
    }
}

/// Prefix of session cookie values.
const SESSION_PREFIX: &str = "sbs_";

/// Opens a session for `user` lasting `ttl`; returns the cookie value (shown
/// to the browser only).
pub fn open_session(
    conn: &mut DbConnection,
    user: &UserRow,
    now: NaiveDateTime,
    ttl: Duration,
    address: Option<String>,
) -> Result<String, StoreError> {
    let cookie = secret::generate(SESSION_PREFIX);
    users::insert_session(
        conn,
        &UserSessionRow {
            token_hash: secret::hash(&cookie),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + ttl,
            address,
        },
    )?;
    Ok(cookie)
}

/// The user of the unexpired session `cookie` names.
pub fn session_user(
    conn: &mut DbConnection,
    cookie: &str,
    now: NaiveDateTime,
) -> Result<Option<UserRow>, StoreError> {
    if !cookie.starts_with(SESSION_PREFIX) {
        return Ok(None);
    }
    users::session_user(conn, &secret::hash(cookie), now)
}

/// Ends the session `cookie` names; whether there was one.
pub fn close_session(
    conn: &mut DbConnection,
    cookie: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    users::end_session(conn, &secret::hash(cookie), now)
}
