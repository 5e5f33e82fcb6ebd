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

/// Insert a transcript entry, or — when one with the same id exists — set its
/// `text` and `interrupted` (`ON CONFLICT (id) DO UPDATE`): a replayed write is
/// a no-op, and a corrected line (a provider that re-sends the transcript of
/// one caller item) replaces the earlier text in place. Returns the rows
/// touched (1).
///
/// Errors: [`StoreError::Conflict`] if another entry holds `(call_id, seq)`,
/// [`StoreError::Query`] (e.g. no such call).
pub fn upsert(conn: &mut DbConnection, entry: &TranscriptRow) -> Result<usize, StoreError> {
    use diesel::upsert::excluded;
    let touched = on_backend!(conn, |c| diesel::insert_into(transcript_entries::table)
        .values(entry)
        .on_conflict(transcript_entries::id)
        .do_update()
        .set((
            transcript_entries::text.eq(excluded(transcript_entries::text)),
            transcript_entries::interrupted.eq(excluded(transcript_entries::interrupted)),
        ))
        .execute(c))?;
    Ok(touched)
}

/// A call's transcript in `seq` order.
pub fn for_call(conn: &mut DbConnection, call_id: &str) -> Result<Vec<TranscriptRow>, StoreError> {
    Ok(transcript_entries::table
        .filter(transcript_entries::call_id.eq(call_id))
        .order(transcript_entries::seq.asc())
        .select(TranscriptRow::as_select())
        .load(conn)?)
}
