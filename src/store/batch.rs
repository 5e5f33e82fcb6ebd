//! One batch of write-behind writes: what a queued write is ([`Write`], also the
//! `write` object of a spool line), and committing a batch as one transaction
//! ([`write_batch`]) — shared by the `Store` actor and the spool replay.

use std::time::Duration;

use actix::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

use super::calls::CallEnd;
use super::db::Pool;
use super::models::{NewCall, ToolInvocationRow, TranscriptRow};
use super::{calls, tool_invocations, transcripts, DbConnection, StoreError};

/// Most writes per transaction; reaching it starts a batch at once.
pub const MAX_BATCH: usize = 256;

/// A call ended: sets `ended_at` (UTC), `duration_ms`, `ended_reason`,
/// `status` and `link_restarts` on its row. A call id with no row is logged
/// and skipped.
#[derive(Debug, Clone, Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct RecordCallEnded {
    pub call_id: String,
    pub end: CallEnd,
}

/// One queued write; also the `write` object of a spool line
/// (`{"kind":"transcript","row":{…}}`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "row", rename_all = "snake_case")]
pub(crate) enum Write {
    CallStarted(NewCall),
    CallEnded(RecordCallEnded),
    Transcript(TranscriptRow),
    ToolInvocation(ToolInvocationRow),
}

impl Write {
    pub(crate) fn call_id(&self) -> Option<&str> {
        match self {
            Write::CallStarted(call) => Some(&call.id),
            Write::CallEnded(ended) => Some(&ended.call_id),
            Write::Transcript(entry) => Some(&entry.call_id),
            Write::ToolInvocation(tool) => tool.call_id.as_deref(),
        }
    }

    /// The write's identity across retries and replays: `call:<id>`,
    /// `call_end:<call id>`, `transcript:<id>` or `tool_invocation:<id>`.
    pub(super) fn stable_id(&self) -> String {
        match self {
            Write::CallStarted(call) => format!("call:{}", call.id),
            Write::CallEnded(ended) => format!("call_end:{}", ended.call_id),
            Write::Transcript(entry) => format!("transcript:{}", entry.id),
            Write::ToolInvocation(tool) => format!("tool_invocation:{}", tool.id),
        }
    }

    /// Apply the write idempotently: inserts skip a row whose id exists (a
    /// transcript entry takes the newer text), the end-of-call update sets the
    /// same values again.
    fn apply(&self, conn: &mut DbConnection) -> Result<(), DieselError> {
        let result = match self {
            Write::CallStarted(call) => calls::insert_started_once(conn, call).map(drop),
            Write::Transcript(entry) => transcripts::upsert(conn, entry).map(drop),
            Write::ToolInvocation(tool) => tool_invocations::insert_once(conn, tool).map(drop),
            Write::CallEnded(ended) => {
                calls::mark_ended(conn, &ended.call_id, &ended.end).map(|found| {
                    if !found {
                        log::warn!("store: call ended for unknown call {}", ended.call_id);
                    }
                })
            }
        };
        result.map_err(into_diesel)
    }
}

/// Recover the Diesel error a query function wrapped (the query modules map
/// unique violations to `Conflict`; the writer needs the kind back).
fn into_diesel(err: StoreError) -> DieselError {
    match err {
        StoreError::Query(err) => err,
        StoreError::Conflict(message) => {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(message))
        }
        other => DieselError::QueryBuilderError(Box::new(other)),
    }
}

/// A write with its arrival number (1-based).
#[derive(Debug)]
pub(crate) struct Queued {
    pub(super) seq: u64,
    pub(super) write: Write,
}

/// How a batch ended.
#[derive(Debug)]
pub(crate) enum BatchOutcome {
    Committed,
    /// The write at this index was rejected for good; nothing committed.
    Rejected {
        index: usize,
        error: String,
    },
    /// Transient failure (pool, connection, lock timeout, panic); nothing
    /// committed.
    Failed(String),
    /// Not committed but appended to the spool file and synced, or stored
    /// in the cluster's shared spool (`shared`); `cause` is the database
    /// failure that sent it there (`None` when the spool already held
    /// writes, which later writes must follow).
    Spooled {
        cause: Option<String>,
        shared: bool,
    },
}

fn is_permanent(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation,
            _
        )
    )
}

/// Check out a connection (within `timeout` when given) and commit `batch`
/// as one transaction (runs on a blocking thread).
pub(crate) fn write_pooled(
    pool: &Pool,
    timeout: Option<Duration>,
    batch: &[Queued],
) -> BatchOutcome {
    let conn = match timeout {
        Some(timeout) => pool.get_timeout(timeout),
        None => pool.get(),
    };
    match conn {
        Ok(mut conn) => write_batch(&mut conn, batch),
        Err(err) => BatchOutcome::Failed(format!("pool: {err}")),
    }
}

/// Commit `batch` as one transaction on `conn`.
pub(crate) fn write_batch(conn: &mut DbConnection, batch: &[Queued]) -> BatchOutcome {
    let mut failed_at = None;
    let result = conn.transaction::<(), DieselError, _>(|conn| {
        for (index, queued) in batch.iter().enumerate() {
            if let Err(err) = queued.write.apply(conn) {
                failed_at = Some(index);
                return Err(err);
            }
        }
        Ok(())
    });
    match (result, failed_at) {
        (Ok(()), _) => BatchOutcome::Committed,
        (Err(err), Some(index)) if is_permanent(&err) => BatchOutcome::Rejected {
            index,
            error: err.to_string(),
        },
        (Err(err), _) => BatchOutcome::Failed(err.to_string()),
    }
}
