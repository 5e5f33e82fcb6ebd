//! Row types for every table in [`super::schema`], one set for both backends.
//! `…Row` structs are read with `Selectable` (and most are inserted whole);
//! [`NewCall`] is the insert shape of a call, whose end-of-call columns are
//! filled later. Timestamps are chrono `NaiveDateTime` in UTC; durations and
//! latencies are milliseconds. Status columns are plain text in the database
//! and typed here by [`CallStatus`] and [`AppointmentStatus`].

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::{
    api_tokens, appointments, audit_log, caller_messages, calls, customers, messages, node_clients,
    notifications, outbox, tenants, tool_invocations, transcript_entries, user_sessions, users,
    voicemails,
};

/// Lifecycle state of a call, stored as `calls.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Audio is flowing (`in_progress`).
    InProgress,
    /// The call ended normally: hang-up or an orderly finish (`completed`).
    Completed,
    /// The supervisor refused admission, e.g. at `max_calls` (`refused`).
    Refused,
    /// The call was cut short: restart budget spent, or the process died
    /// while it was live (`interrupted`).
    Interrupted,
}

impl CallStatus {
    /// The text stored in `calls.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::InProgress => "in_progress",
            CallStatus::Completed => "completed",
            CallStatus::Refused => "refused",
            CallStatus::Interrupted => "interrupted",
        }
    }

    /// Parse the text stored in `calls.status`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "in_progress" => Some(CallStatus::InProgress),
            "completed" => Some(CallStatus::Completed),
            "refused" => Some(CallStatus::Refused),
            "interrupted" => Some(CallStatus::Interrupted),
            _ => None,
        }
    }
}

/// State of an appointment, stored as `appointments.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Holds its slot (`booked`); at most one per tenant and start time.
    Booked,
    /// Released its slot (`cancelled`).
    Cancelled,
}

impl AppointmentStatus {
    /// The text stored in `appointments.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }

    /// Parse the text stored in `appointments.status`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "booked" => Some(AppointmentStatus::Booked),
            "cancelled" => Some(AppointmentStatus::Cancelled),
            _ => None,
        }
    }
}

/// A `tenants` row; `config_json` is the tenant's configuration as JSON text.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = tenants)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub config_json: String,
    pub updated_at: NaiveDateTime,
}

/// A `calls` row as read back.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = calls)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CallRow {
    pub id: String,
    pub tenant_id: Option<String>,
    /// Carrier name, e.g. `twilio`, `jambonz`, `browser`.
    pub carrier: String,
    /// The carrier's call id (Twilio `CallSid`).
    pub carrier_call_sid: Option<String>,
    /// The carrier's media stream id (Twilio `streamSid`).
    pub stream_sid: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// One of [`CallStatus::as_str`].
    pub status: String,
    /// Realtime model provider, e.g. `openai`, `xai`, `simulator`.
    pub model_provider: Option<String>,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    /// Call length in milliseconds.
    pub duration_ms: Option<i64>,
    pub ended_reason: Option<String>,
    /// Model-link restarts during the call.
    pub link_restarts: i32,
    /// Median caller-stops-talking → first-audio latency, milliseconds.
    pub turn_latency_p50_ms: Option<i32>,
    /// Worst turn latency, milliseconds.
    pub turn_latency_max_ms: Option<i32>,
    pub recording_sid: Option<String>,
    /// Short summary of the call, written once it has ended (`crate::summary`).
    pub summary: Option<String>,
    /// The node that carried the call (`cluster.node_id`).
    pub node_id: Option<String>,
    /// Twilio's answering machine detection verdict on an outbound call
    /// (`human`, `machine_end_beep`, …; see [`crate::lifecycle::AnsweredBy`]).
    pub answered_by: Option<String>,
    /// The call's local recording, relative to `recording.dir`
    /// (`tenant/YYYY-MM-DD/call id.wav`); `None` when not recorded.
    pub recording_file: Option<String>,
    /// Why the local recording stopped early or lost audio; `None` when whole.
    pub recording_note: Option<String>,
}

impl CallRow {
    /// The typed status; `None` if the stored text is not a known status.
    pub fn call_status(&self) -> Option<CallStatus> {
        CallStatus::parse(&self.status)
    }
}

/// The insert shape of a call: everything known when it starts (or is
/// refused). End-of-call columns are set by `calls::mark_ended`.
#[derive(Debug, Clone, PartialEq, Insertable, Serialize, Deserialize)]
#[diesel(table_name = calls)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct NewCall {
    pub id: String,
    pub tenant_id: Option<String>,
    pub carrier: String,
    pub carrier_call_sid: Option<String>,
    pub stream_sid: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// One of [`CallStatus::as_str`].
    pub status: String,
    pub model_provider: Option<String>,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
    pub ended_reason: Option<String>,
    pub link_restarts: i32,
    /// The node carrying the call (`cluster.node_id`); absent in spools
    /// written before nodes were recorded.
    #[serde(default)]
    pub node_id: Option<String>,
}

/// A `transcript_entries` row: one utterance; `seq` orders a call's entries.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = transcript_entries)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct TranscriptRow {
    pub id: String,
    pub call_id: String,
    pub seq: i32,
    /// `user` (the caller), `assistant` or `system`.
    pub role: String,
    pub text: String,
    /// The realtime conversation item id this text belongs to.
    pub item_id: Option<String>,
    /// True when the caller barged in and the text was cut short.
    pub interrupted: bool,
    pub created_at: NaiveDateTime,
    /// Where the line began, ms from the call's start (its recording's first
    /// sample); absent in spools written before it was kept.
    #[serde(default)]
    pub offset_ms: Option<i64>,
}

/// A `tool_invocations` row; `arguments`/`result` are JSON text.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize, Deserialize)]
#[diesel(table_name = tool_invocations)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ToolInvocationRow {
    pub id: String,
    pub call_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The model's id for this call (Realtime `call_id` of the function call).
    pub tool_call_id: String,
    pub name: String,
    pub arguments: String,
    pub result: Option<String>,
    pub error: Option<String>,
    /// Wall time of the tool run, milliseconds.
    pub duration_ms: i64,
    pub created_at: NaiveDateTime,
}

/// A `customers` row, unique per `(tenant_id, phone)`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = customers)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CustomerRow {
    pub id: String,
    pub tenant_id: String,
    pub name: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An `appointments` row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = appointments)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AppointmentRow {
    pub id: String,
    pub tenant_id: String,
    pub customer_id: String,
    pub service: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    /// One of [`AppointmentStatus::as_str`].
    pub status: String,
    pub call_id: Option<String>,
    pub created_at: NaiveDateTime,
    /// URL of the booking's event in the tenant's CalDAV calendar, once it
    /// landed (RFC 4791 §5.3.2).
    pub calendar_href: Option<String>,
    /// The event's ETag as the server answered it (RFC 4791 §5.3.4).
    pub calendar_etag: Option<String>,
}

/// A `caller_messages` row: a message or callback request taken on a call.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = caller_messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CallerMessageRow {
    pub id: String,
    pub tenant_id: String,
    pub call_id: Option<String>,
    /// `message`, `callback_info` or `voicemail` (its audio in [`VoicemailRow`]).
    pub kind: String,
    pub caller_name: String,
    pub caller_phone: Option<String>,
    pub message: String,
    /// Free text chosen by the tool, e.g. `low`, `normal`, `urgent`.
    pub urgency: String,
    pub created_at: NaiveDateTime,
    /// `new`, `read` or `handled`.
    pub status: String,
    /// Who marked it read or handled (free text the dashboard sends).
    pub handled_by: Option<String>,
    /// When it was marked read or handled (UTC).
    pub handled_at: Option<NaiveDateTime>,
}

/// A `voicemails` row: the audio of a `voicemail` caller message.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = voicemails)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct VoicemailRow {
    /// The caller message (`kind = voicemail`) this audio belongs to.
    pub message_id: String,
    pub call_id: Option<String>,
    /// `local` (captured by switchboard) or `twilio` (a `<Record>` recording).
    pub source: String,
    /// Twilio `RecordingSid` (`RE…`) for a `twilio` voicemail.
    pub recording_sid: Option<String>,
    /// Always `audio/wav` (16-bit mono PCM).
    pub content_type: String,
    /// Length of the recording, ms.
    pub duration_ms: i64,
    /// The WAV file, bytes.
    pub audio: Vec<u8>,
    pub created_at: NaiveDateTime,
}

/// A `messages` row: one SMS or email, inbound or outbound.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MessageRow {
    pub id: String,
    pub tenant_id: Option<String>,
    /// `sms` or `email`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The provider's unique id (Twilio `MessageSid`, SendGrid message id).
    pub provider_id: Option<String>,
    pub customer_id: Option<String>,
    pub from_addr: String,
    pub to_addr: String,
    pub subject: Option<String>,
    pub body: String,
    /// The `messages.id` this one answers.
    pub in_reply_to: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A `node_clients` row: an authenticated Node.js webhook client.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = node_clients)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct NodeClientRow {
    pub id: String,
    pub name: String,
    /// JSON array of tenant ids the client serves.
    pub tenant_ids: String,
    /// A hash of the bearer token; never serialised.
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// After this instant (UTC) the token is refused; `None` = no expiry.
    pub expires_at: Option<NaiveDateTime>,
}

/// An `outbox` row: an event kept for a tenant's Node client, `seq`-ordered.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = outbox)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct OutboxRow {
    pub id: String,
    pub seq: i64,
    pub tenant_id: String,
    /// JSON text of the event.
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A `notifications` row: one owner notification (an event for one
/// recipient on one channel), stored before it is sent.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = notifications)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct NotificationRow {
    pub id: String,
    pub tenant_id: String,
    /// Unique per event (`message_taken:{message id}`, `call_summary:{call id}`, …);
    /// with `recipient` it makes enqueueing idempotent.
    pub event_key: String,
    /// `message_taken`, `booking_made`, `booking_cancelled` or `call_summary`.
    pub event: String,
    /// Urgent notifications are sent during quiet hours too.
    pub urgent: bool,
    /// `sms` or `email`.
    pub channel: String,
    /// E.164 number or email address.
    pub recipient: String,
    /// Email subject (kept for SMS too, for the dashboard).
    pub subject: String,
    pub body: String,
    pub call_id: Option<String>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// When a `pending` row is next tried (UTC); the end of quiet hours for a
    /// held one.
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    /// Twilio `SM…` sid of a sent SMS.
    pub provider_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// A `users` row: a person who signs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct UserRow {
    pub id: String,
    /// Lowercase; unique.
    pub email: String,
    /// `None` for an admin of the whole server.
    pub tenant_id: Option<String>,
    /// `owner`, `staff` or `admin`.
    pub role: String,
    /// An Argon2id PHC string; never serialised.
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

/// A `user_sessions` row: one signed-in browser.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = user_sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct UserSessionRow {
    /// SHA-256 (lowercase hex) of the session cookie's value.
    pub token_hash: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The address the session signed in from.
    pub address: Option<String>,
}

/// An `api_tokens` row: an integration token of one tenant.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiTokenRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// SHA-256 (lowercase hex) of the token; never serialised.
    #[serde(skip)]
    pub token_hash: String,
    /// Reads only: no change is accepted with it.
    pub read_only: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// An `audit_log` row: one change by a person or token.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = audit_log)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    /// Who: an email, `token <name>`, `admin token`, or `command line`.
    pub actor: String,
    /// `user`, `token`, `admin_token`, `cli` or `anonymous` (a failed sign-in).
    pub actor_kind: String,
    /// The tenant whose data changed; `None` for the whole server.
    pub tenant_id: Option<String>,
    /// What, as a dotted name: `sign_in.succeeded`, `message.marked`, `call.hang_up`, ….
    pub action: String,
    /// The object it was done to (a call, message, user or token id; a tenant).
    pub object: Option<String>,
    /// More, in words (never a password or token).
    pub detail: Option<String>,
    /// The client address it came from (`command line` changes: none).
    pub address: Option<String>,
}
