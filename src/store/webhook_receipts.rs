//! Queries over `webhook_receipts`: a delivery (or the call it announced) is
//! acted on by whichever node claims its key first, on any backend; the rest
//! answer the sender 200 and do nothing. Rows past the signature window can
//! match no valid delivery any more and are purged.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::db::on_backend;
use super::schema::webhook_receipts;
use super::{DbConnection, StoreError};

/// Claims `key` at `now`: true when this call inserted it, false when it was
/// claimed before (`ON CONFLICT DO NOTHING`).
///
/// Errors: [`StoreError`] from the database.
pub fn claim(conn: &mut DbConnection, key: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(webhook_receipts::table)
        .values((
            webhook_receipts::key.eq(key),
            webhook_receipts::received_at.eq(now),
        ))
        .on_conflict(webhook_receipts::key)
        .do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Deletes receipts received before `before`; returns how many.
///
/// Errors: [`StoreError`] from the database.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(webhook_receipts::table.filter(webhook_receipts::received_at.lt(before)))
            .execute(conn)?,
    )
}
