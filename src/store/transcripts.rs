//! Queries over `transcript_entries`: one row per utterance, ordered within a
//! call by `seq` (unique per call).

use diesel::prelude::*;

use super::db::on_backend;
use super::models::TranscriptRow;
use super::schema::transcript_entries;
use super::{DbConnection, StoreError};

/// Insert one transcript entry. The call row must exist (foreign key).
///
/// Errors: [`StoreError::Conflict`] if the id or `(call_id, seq)` exists,
/// [`StoreError::Query`] otherwise.
pub fn insert(conn: &mut DbConnection, entry: &TranscriptRow) -> Result<(), StoreError> {
    diesel::insert_into(transcript_entries::table)
        .values(entry)
        .execute(conn)?;
    Ok(())
}

/// Insert a transcript entry unless one with the same id exists (`ON
/// CONFLICT (id) DO NOTHING`), so a replayed write is a no-op. Returns
/// whether a row was inserted.
///
/// Errors: [`StoreError::Conflict`] if another entry holds `(call_id, seq)`,
/// [`StoreError::Query`] (e.g. no such call).
pub fn insert_once(conn: &mut DbConnection, entry: &TranscriptRow) -> Result<bool, StoreError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(transcript_entries::table)
        .values(entry)
        .on_conflict(transcript_entries::id)
        .do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

/// A call's transcript in `seq` order.
pub fn for_call(conn: &mut DbConnection, call_id: &str) -> Result<Vec<TranscriptRow>, StoreError> {
    Ok(transcript_entries::table
        .filter(transcript_entries::call_id.eq(call_id))
        .order(transcript_entries::seq.asc())
        .select(TranscriptRow::as_select())
        .load(conn)?)
}
