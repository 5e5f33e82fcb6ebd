//! Queries over `users` and `user_sessions`: the people who sign in and their
//! server-side sessions (found by the SHA-256 of the cookie, refused once
//! expired, deleted on sign-out, password change or removal).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{UserRow, UserSessionRow};
use super::schema::{user_sessions, users};
use super::{DbConnection, StoreError};

/// Inserts one user.
///
/// Errors: [`StoreError::Conflict`] when the email is taken.
pub fn insert(conn: &mut DbConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The user with this (lowercase) email.
pub fn by_email(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every user, by tenant then email.
pub fn all(conn: &mut DbConnection) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table
        .order((users::tenant_id.asc(), users::email.asc()))
        .select(UserRow::as_select())
        .load(conn)?)
}

/// How many users exist.
pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(users::table.count().get_result(conn)?)
}

/// Removes the user with this email and their sessions; the removed row, if any.
pub fn remove(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, StoreError> {
    conn.transaction(|conn| {
        let Some(user) = by_email(conn, email)? else {
            return Ok(None);
        };
        diesel::delete(user_sessions::table.filter(user_sessions::user_id.eq(&user.id)))
            .execute(conn)?;
        diesel::delete(users::table.filter(users::id.eq(&user.id))).execute(conn)?;
        Ok(Some(user))
    })
}

/// Replaces the password hash of the user with this email and ends every one
/// of their sessions; the user, if any.
pub fn set_password(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
) -> Result<Option<UserRow>, StoreError> {
    conn.transaction(|conn| {
        let Some(user) = by_email(conn, email)? else {
            return Ok(None);
        };
        diesel::update(users::table.filter(users::id.eq(&user.id)))
            .set(users::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::delete(user_sessions::table.filter(user_sessions::user_id.eq(&user.id)))
            .execute(conn)?;
        Ok(Some(user))
    })
}

/// Stores a new session.
pub fn insert_session(conn: &mut DbConnection, row: &UserSessionRow) -> Result<(), StoreError> {
    diesel::insert_into(user_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The user of the session whose cookie hashes to `token_hash`, when it has
/// not expired at `now`.
pub fn session_user(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<UserRow>, StoreError> {
    Ok(user_sessions::table
        .inner_join(users::table)
        .filter(user_sessions::token_hash.eq(token_hash))
        .filter(user_sessions::expires_at.gt(now))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Ends the session whose cookie hashes to `token_hash` (and every expired
/// session, which nobody can use any more); whether it existed.
pub fn end_session(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::delete(user_sessions::table.filter(user_sessions::token_hash.eq(token_hash)))
        .execute(conn)?;
    diesel::delete(user_sessions::table.filter(user_sessions::expires_at.le(now))).execute(conn)?;
    Ok(n > 0)
}
