//! Queries over `voicemails`: the audio of `voicemail` caller messages, stored
//! with its message in one transaction and read back for the owner's inbox.

use diesel::prelude::*;

use super::caller_messages;
use super::models::{CallerMessageRow, VoicemailRow};
use super::schema::voicemails;
use super::{DbConnection, StoreError};

/// Stores a voicemail: its caller message (`kind = voicemail`) and its audio,
/// both or neither.
///
/// Errors: [`StoreError::Conflict`] when the message id, or the audio's
/// `recording_sid` (a Twilio status callback delivered twice), is stored
/// already; [`StoreError::Query`] otherwise.
pub fn insert(
    conn: &mut DbConnection,
    message: &CallerMessageRow,
    audio: &VoicemailRow,
) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        caller_messages::insert(conn, message)?;
        diesel::insert_into(voicemails::table)
            .values(audio)
            .execute(conn)?;
        Ok(())
    })
}

/// The audio of caller message `message_id`, `None` when it has none.
pub fn find(conn: &mut DbConnection, message_id: &str) -> Result<Option<VoicemailRow>, StoreError> {
    Ok(voicemails::table
        .find(message_id)
        .select(VoicemailRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the Twilio recording `recording_sid` is stored already.
pub fn has_recording(conn: &mut DbConnection, recording_sid: &str) -> Result<bool, StoreError> {
    let count: i64 = voicemails::table
        .filter(voicemails::recording_sid.eq(recording_sid))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}
