//! A voicemail reaches the owner: the caller's recording becomes a caller
//! message of kind `voicemail` (with its audio) in the owner's inbox, and an
//! urgent owner notification in the same transaction — a caller who could not
//! reach the receptionist is always worth a call back.

use chrono::{DateTime, Utc};
use diesel::Connection;

use super::event::{enqueue, OwnerEvent};
use crate::store::models::{CallerMessageRow, VoicemailRow};
use crate::store::{voicemails, DbConnection, StoreError};
use crate::tenant::TenantConfig;

/// Where a voicemail's audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoicemailSource {
    /// Captured by switchboard from the call's own media stream.
    Local,
    /// A Twilio `<Record>` recording, fetched after its status callback.
    Twilio,
}

impl VoicemailSource {
    /// The word stored in `voicemails.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            VoicemailSource::Local => "local",
            VoicemailSource::Twilio => "twilio",
        }
    }
}

/// A recorded voicemail, ready to store.
#[derive(Debug, Clone)]
pub struct Voicemail {
    /// The switchboard call it was left on.
    pub call_id: Option<String>,
    /// The caller's number (E.164), when the carrier gave one.
    pub caller_phone: Option<String>,
    pub source: VoicemailSource,
    /// Twilio `RecordingSid` for a [`VoicemailSource::Twilio`] recording.
    pub recording_sid: Option<String>,
    /// A 16-bit mono WAV file, bytes.
    pub wav: Vec<u8>,
    /// Length of the recording, ms.
    pub duration_ms: u32,
}

/// The inbox line of a voicemail `duration_ms` long: `Voicemail (0:42) left
/// while the receptionist was unavailable.`
pub fn inbox_text(duration_ms: u32) -> String {
    let secs = duration_ms.div_ceil(1000);
    format!(
        "Voicemail ({}:{:02}) left while the receptionist was unavailable.",
        secs / 60,
        secs % 60
    )
}

/// Stores `voicemail` for `tenant` (message, audio and the owner's urgent
/// notifications, all or nothing) and returns the message row.
///
/// Errors: [`StoreError::Conflict`] when its Twilio recording is stored
/// already (a status callback delivered twice); [`StoreError::Query`] otherwise.
pub fn store(
    conn: &mut DbConnection,
    tenant: &TenantConfig,
    voicemail: Voicemail,
    now: DateTime<Utc>,
) -> Result<CallerMessageRow, StoreError> {
    let at = now.naive_utc();
    let message = CallerMessageRow {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        call_id: voicemail.call_id.clone(),
        kind: "voicemail".into(),
        caller_name: "Unknown caller".into(),
        caller_phone: voicemail.caller_phone,
        message: inbox_text(voicemail.duration_ms),
        urgency: "urgent".into(),
        created_at: at,
        status: "new".into(),
        handled_by: None,
        handled_at: None,
    };
    let audio = VoicemailRow {
        message_id: message.id.clone(),
        call_id: voicemail.call_id,
        source: voicemail.source.as_str().into(),
        recording_sid: voicemail.recording_sid,
        content_type: "audio/wav".into(),
        duration_ms: i64::from(voicemail.duration_ms),
        audio: voicemail.wav,
        created_at: at,
    };
    conn.transaction(|conn| {
        voicemails::insert(conn, &message, &audio)?;
        enqueue(
            conn,
            tenant,
            &OwnerEvent::MessageTaken(message.clone()),
            now,
        )?;
        Ok(message)
    })
}

#[cfg(test)]
mod tests {
    use super::inbox_text;

    #[test]
    fn inbox_text_rounds_up_to_whole_seconds() {
        assert!(inbox_text(41_200).starts_with("Voicemail (0:42)"));
        assert!(inbox_text(125_000).starts_with("Voicemail (2:05)"));
        assert!(inbox_text(0).starts_with("Voicemail (0:00)"));
    }
}
