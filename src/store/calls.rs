//! Queries over `calls`: a call is inserted when it starts (or is refused),
//! updated once when it ends, and read back by id, by carrier call id or as
//! recent history. [`close_in_progress`] is crash recovery: at start-up no
//! call can still be live, so rows left `in_progress` are closed.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::db::on_backend;
use super::models::{CallRow, CallStatus, NewCall};
use super::schema::calls;
use super::{DbConnection, StoreError};

/// Insert a call row as given (`status` is normally `in_progress`, or
/// `refused` with `ended_at`/`ended_reason` set).
///
/// Errors: [`StoreError::Conflict`] if the id exists, [`StoreError::Query`].
pub fn insert_started(conn: &mut DbConnection, call: &NewCall) -> Result<(), StoreError> {
    diesel::insert_into(calls::table)
        .values(call)
        .execute(conn)?;
    Ok(())
}

/// Insert a call row unless one with the same id exists (`INSERT … ON
/// CONFLICT (id) DO NOTHING`): replaying a spooled start twice leaves one row.
/// Returns whether a row was inserted.
///
/// Errors: [`StoreError::Conflict`] for another unique constraint,
/// [`StoreError::Query`].
pub fn insert_started_once(conn: &mut DbConnection, call: &NewCall) -> Result<bool, StoreError> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(calls::table)
        .values(call)
        .on_conflict(calls::id)
        .do_nothing()
        .execute(c))?;
    Ok(inserted > 0)
}

/// How a call ended, as written to its row by [`mark_ended`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallEnd {
    pub ended_at: NaiveDateTime,
    pub duration_ms: i64,
    /// e.g. `caller_hangup`, `carrier_timeout`, `model_unavailable: …`.
    pub reason: String,
    pub status: CallStatus,
    pub link_restarts: i32,
    /// Median and worst turn latency (end of caller speech to first reply audio), ms.
    pub turn_latency_p50_ms: Option<i32>,
    pub turn_latency_max_ms: Option<i32>,
    /// Twilio's answering machine detection verdict, when one came
    /// (`AnsweredBy`); absent in spools written before it was recorded.
    #[serde(default)]
    pub answered_by: Option<String>,
}

/// Finalises a call row. Returns false when no call has this id.
pub fn mark_ended(
    conn: &mut DbConnection,
    call_id: &str,
    end: &CallEnd,
) -> Result<bool, StoreError> {
    let updated = diesel::update(calls::table.find(call_id))
        .set((
            calls::ended_at.eq(end.ended_at),
            calls::duration_ms.eq(end.duration_ms),
            calls::ended_reason.eq(&end.reason),
            calls::status.eq(end.status.as_str()),
            calls::link_restarts.eq(end.link_restarts),
            calls::turn_latency_p50_ms.eq(end.turn_latency_p50_ms),
            calls::turn_latency_max_ms.eq(end.turn_latency_max_ms),
            calls::answered_by.eq(&end.answered_by),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// Records Twilio's answering machine detection verdict (`AnsweredBy`) on the
/// call rows with carrier call id `call_sid`, for a verdict that came after
/// its call had ended (a live call writes it with its end, [`CallEnd`]).
/// Returns the number of rows updated (0 when no call has that sid).
pub fn set_answered_by(
    conn: &mut DbConnection,
    call_sid: &str,
    answered_by: &str,
) -> Result<usize, StoreError> {
    Ok(
        diesel::update(calls::table.filter(calls::carrier_call_sid.eq(call_sid)))
            .set(calls::answered_by.eq(answered_by))
            .execute(conn)?,
    )
}

/// Stores (or clears) the Twilio recording sid of a call. Returns false when no
/// call has this id.
pub fn set_recording_sid(
    conn: &mut DbConnection,
    call_id: &str,
    recording_sid: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = diesel::update(calls::table.find(call_id))
        .set(calls::recording_sid.eq(recording_sid))
        .execute(conn)?;
    Ok(updated > 0)
}

/// Stores where the call's local recording is (relative to `recording.dir`)
/// and why it is incomplete, if it is. Returns false when no call has this id.
pub fn set_recording(
    conn: &mut DbConnection,
    call_id: &str,
    file: &str,
    note: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = diesel::update(calls::table.find(call_id))
        .set((
            calls::recording_file.eq(file),
            calls::recording_note.eq(note),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}

/// The call with this id, if any.
pub fn get(conn: &mut DbConnection, call_id: &str) -> Result<Option<CallRow>, StoreError> {
    Ok(calls::table
        .find(call_id)
        .select(CallRow::as_select())
        .first(conn)
        .optional()?)
}

/// The most recently started call with this carrier call id (Twilio
/// `CallSid`), if any.
pub fn get_by_sid(
    conn: &mut DbConnection,
    carrier_call_sid: &str,
) -> Result<Option<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::carrier_call_sid.eq(carrier_call_sid))
        .order(calls::started_at.desc())
        .select(CallRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `limit` calls (of `tenant` when given), most recently started first.
pub fn list_recent(
    conn: &mut DbConnection,
    tenant: Option<&str>,
    limit: i64,
) -> Result<Vec<CallRow>, StoreError> {
    let mut q = calls::table.into_boxed();
    if let Some(t) = tenant {
        q = q.filter(calls::tenant_id.eq(t.to_string()));
    }
    Ok(q.order((calls::started_at.desc(), calls::id.desc()))
        .limit(limit.max(0))
        .select(CallRow::as_select())
        .load(conn)?)
}

/// Crash recovery: mark every `in_progress` call `interrupted` with
/// `ended_reason = reason`, `ended_at` = now (UTC) and `duration_ms` from its
/// start. Returns how many calls were closed. Run at start-up, before calls
/// are admitted; one transaction.
pub fn close_in_progress(
    conn: &mut DbConnection,
    reason: &str,
    node: Option<&str>,
) -> Result<usize, StoreError> {
    conn.transaction::<usize, StoreError, _>(|conn| {
        let open: Vec<(String, NaiveDateTime)> = match node {
            Some(node) => calls::table
                .filter(calls::status.eq(CallStatus::InProgress.as_str()))
                .filter(calls::node_id.eq(node))
                .select((calls::id, calls::started_at))
                .load(conn)?,
            None => calls::table
                .filter(calls::status.eq(CallStatus::InProgress.as_str()))
                .select((calls::id, calls::started_at))
                .load(conn)?,
        };
        close_open(conn, reason, &open).map(|ids| ids.len())
    })
}

/// Closes as `interrupted` (with `reason`) every call still `in_progress`
/// whose node is not in `alive` (or is unknown): their node died, and their
/// audio with it. Returns the closed call ids; one transaction.
pub fn close_orphaned(
    conn: &mut DbConnection,
    reason: &str,
    alive: &[String],
) -> Result<Vec<String>, StoreError> {
    conn.transaction::<Vec<String>, StoreError, _>(|conn| {
        let open: Vec<(String, NaiveDateTime)> = calls::table
            .filter(calls::status.eq(CallStatus::InProgress.as_str()))
            .filter(
                calls::node_id
                    .is_null()
                    .or(calls::node_id.ne_all(alive.to_vec())),
            )
            .select((calls::id, calls::started_at))
            .load(conn)?;
        close_open(conn, reason, &open)
    })
}

/// Marks the `open` calls (id, started_at) `interrupted` as of now, each only
/// if still `in_progress`; the ids it closed.
fn close_open(
    conn: &mut DbConnection,
    reason: &str,
    open: &[(String, NaiveDateTime)],
) -> Result<Vec<String>, StoreError> {
    let now = Utc::now().naive_utc();
    let mut closed = Vec::with_capacity(open.len());
    for (id, started_at) in open {
        let duration_ms = (now - *started_at).num_milliseconds().max(0);
        let n = diesel::update(
            calls::table
                .find(id)
                .filter(calls::status.eq(CallStatus::InProgress.as_str())),
        )
        .set((
            calls::status.eq(CallStatus::Interrupted.as_str()),
            calls::ended_at.eq(now),
            calls::duration_ms.eq(duration_ms),
            calls::ended_reason.eq(reason),
        ))
        .execute(conn)?;
        if n > 0 {
            closed.push(id.clone());
        }
    }
    Ok(closed)
}

/// Up to `limit` of the tenant's calls from `caller` (E.164), newest first:
/// the voice side of a customer's history for the text agent.
pub fn recent_from_caller(
    conn: &mut DbConnection,
    tenant_id: &str,
    caller: &str,
    limit: i64,
) -> Result<Vec<CallRow>, StoreError> {
    Ok(calls::table
        .filter(calls::tenant_id.eq(tenant_id))
        .filter(calls::from_number.eq(caller))
        .order((calls::started_at.desc(), calls::id.desc()))
        .limit(limit.max(0))
        .select(CallRow::as_select())
        .load(conn)?)
}

/// Stores the call's summary. Returns false when no call has this id.
pub fn set_summary(
    conn: &mut DbConnection,
    call_id: &str,
    summary: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(calls::table.find(call_id))
        .set(calls::summary.eq(summary))
        .execute(conn)?;
    Ok(updated > 0)
}
