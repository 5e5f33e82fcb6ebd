//! The `Store` actor: write-behind, batched persistence for every other actor.
//! Callers `do_send` fire-and-forget `Record…` messages and never wait on the
//! database; the actor queues them and, every [`FLUSH_INTERVAL`] or as soon as
//! [`MAX_BATCH`] writes are pending, commits the oldest pending writes as ONE
//! transaction on a blocking thread. Only one batch is in flight at a time, so
//! writes commit in the order they were received (a call row before its
//! transcript). A batch that fails is logged with its call ids and kept at the
//! front of the queue for the next tick; a single write the database rejects
//! for good (unique, foreign-key, not-null or check violation) would block
//! every later write forever, so that write alone is logged in full and
//! discarded and the rest retried. [`Flush`] waits for everything sent before
//! it; [`Stats`] reports queue depth and counters.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix::prelude::*;
use chrono::NaiveDateTime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use tokio::sync::oneshot;

use super::calls::CallEnd;
use super::db::Pool;
use super::models::{CallStatus, NewCall, ToolInvocationRow, TranscriptRow};
use super::{calls, tool_invocations, transcripts, DbConnection, StoreError};

/// How often pending writes are committed when fewer than [`MAX_BATCH`]
/// are queued: 50 ms.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// Most writes per transaction; reaching it starts a batch at once.
pub const MAX_BATCH: usize = 256;

/// A call was admitted and its media started: inserts a `calls` row with
/// status `in_progress`. Times are UTC.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordCallStarted {
    pub call_id: String,
    pub tenant_id: Option<String>,
    /// `twilio`, `jambonz`, `browser`, …
    pub carrier: String,
    /// The carrier's call id (Twilio `CallSid`).
    pub carrier_call_sid: Option<String>,
    /// The carrier's stream id (Twilio `streamSid`).
    pub stream_sid: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    /// `openai`, `xai`, `simulator`, …
    pub model_provider: Option<String>,
    pub started_at: NaiveDateTime,
}

/// A call was refused admission (e.g. `max_calls` reached): inserts a
/// `calls` row with status `refused`, `ended_at = started_at`,
/// `duration_ms = 0` and `ended_reason = reason`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordCallRefused {
    pub call_id: String,
    pub tenant_id: Option<String>,
    pub carrier: String,
    pub carrier_call_sid: Option<String>,
    pub stream_sid: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub model_provider: Option<String>,
    pub started_at: NaiveDateTime,
    /// Why the call was refused, e.g. `max_calls`.
    pub reason: String,
}

/// One transcript entry of a call; `seq` is unique within the call.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordTranscript {
    pub id: String,
    pub call_id: String,
    pub seq: i32,
    /// `user`, `assistant` or `system`.
    pub role: String,
    pub text: String,
    /// Realtime conversation item id.
    pub item_id: Option<String>,
    /// True when the caller barged in over this (assistant) text.
    pub interrupted: bool,
    pub created_at: NaiveDateTime,
}

/// One finished tool call; `arguments`/`result` are JSON text, `duration_ms`
/// the tool's wall time in milliseconds.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordToolInvocation {
    pub id: String,
    pub call_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The model's function-call id.
    pub tool_call_id: String,
    pub name: String,
    pub arguments: String,
    pub result: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub created_at: NaiveDateTime,
}

/// A call ended: sets `ended_at` (UTC), `duration_ms`, `ended_reason`,
/// `status` and `link_restarts` on its row. A call id with no row is logged
/// and skipped.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordCallEnded {
    pub call_id: String,
    pub end: CallEnd,
}

/// Resolves when every write the actor received before this message is
/// committed: `Ok(())`, or `Err(StoreError::BatchFailed)` if the batch
/// holding one of them failed (those writes stay queued for retry).
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Flush;

/// Ask for the writer's counters.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "StoreStats")]
pub struct Stats;

/// The writer's queue depth and counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct StoreStats {
    /// Writes queued and not in the batch in flight.
    pub pending: usize,
    /// Writes in the batch being committed now (0 when idle).
    pub in_flight: usize,
    /// Batches committed.
    pub batches_written: u64,
    /// Writes committed.
    pub writes_written: u64,
    /// Batches that failed and were kept for retry.
    pub failures: u64,
    /// Writes discarded because the database rejected them for good.
    pub dropped: u64,
}

/// One queued write.
#[derive(Debug, Clone)]
enum Write {
    CallStarted(NewCall),
    CallEnded(RecordCallEnded),
    Transcript(TranscriptRow),
    ToolInvocation(ToolInvocationRow),
}

impl Write {
    fn call_id(&self) -> Option<&str> {
        match self {
            Write::CallStarted(call) => Some(&call.id),
            Write::CallEnded(ended) => Some(&ended.call_id),
            Write::Transcript(entry) => Some(&entry.call_id),
            Write::ToolInvocation(tool) => tool.call_id.as_deref(),
        }
    }

    fn apply(&self, conn: &mut DbConnection) -> Result<(), DieselError> {
        let result = match self {
            Write::CallStarted(call) => calls::insert_started(conn, call),
            Write::Transcript(entry) => transcripts::insert(conn, entry),
            Write::ToolInvocation(tool) => tool_invocations::insert(conn, tool),
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
struct Queued {
    seq: u64,
    write: Write,
}

/// How a batch ended.
#[derive(Debug)]
enum BatchOutcome {
    Committed,
    /// The write at this index was rejected for good; nothing committed.
    Rejected {
        index: usize,
        error: String,
    },
    /// Transient failure (pool, connection, lock timeout, panic); nothing
    /// committed.
    Failed(String),
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

/// Commit `batch` as one transaction (runs on a blocking thread).
fn write_batch(pool: &Pool, batch: &[Queued]) -> BatchOutcome {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(err) => return BatchOutcome::Failed(format!("pool: {err}")),
    };
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

/// The write-behind store actor. Start it once per process with
/// `Store::new(pool).start()` and share its `Addr`.
pub struct Store {
    pool: Pool,
    pending: VecDeque<Queued>,
    /// Arrival number of the last write received.
    received: u64,
    /// Every write with `seq <= settled` is committed (or discarded).
    settled: u64,
    /// Writes in the batch being committed, 0 when none.
    in_flight: usize,
    waiters: Vec<(u64, oneshot::Sender<Result<(), StoreError>>)>,
    stats: StoreStats,
}

impl Store {
    /// A writer over `pool`; migrations must already be applied.
    pub fn new(pool: Pool) -> Self {
        Store {
            pool,
            pending: VecDeque::new(),
            received: 0,
            settled: 0,
            in_flight: 0,
            waiters: Vec::new(),
            stats: StoreStats::default(),
        }
    }

    /// Writes queued and not yet committed (including the batch in flight).
    pub fn pending(&self) -> usize {
        self.pending.len() + self.in_flight
    }

    fn enqueue(&mut self, write: Write, ctx: &mut Context<Self>) {
        self.received += 1;
        self.pending.push_back(Queued {
            seq: self.received,
            write,
        });
        if self.pending.len() >= MAX_BATCH {
            self.start_batch(ctx);
        }
    }

    /// Start committing the oldest pending writes unless a batch is in flight.
    fn start_batch(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight > 0 || self.pending.is_empty() {
            return;
        }
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<Queued> = self.pending.drain(..take).collect();
        self.in_flight = batch.len();
        let pool = self.pool.clone();
        let task = tokio::task::spawn_blocking(move || {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| write_batch(&pool, &batch)))
                .unwrap_or_else(|_| BatchOutcome::Failed("batch writer panicked".to_owned()));
            (batch, outcome)
        });
        ctx.spawn(task.into_actor(self).map(|joined, act, ctx| match joined {
            Ok((batch, outcome)) => act.batch_done(batch, outcome, ctx),
            Err(err) => {
                // Only reachable if the runtime is shutting down.
                log::error!(
                    "store: batch task lost ({err}); {} writes not committed",
                    act.in_flight
                );
                act.in_flight = 0;
            }
        }));
    }

    fn batch_done(
        &mut self,
        mut batch: Vec<Queued>,
        outcome: BatchOutcome,
        ctx: &mut Context<Self>,
    ) {
        self.in_flight = 0;
        match outcome {
            BatchOutcome::Committed => {
                self.stats.batches_written += 1;
                self.stats.writes_written += batch.len() as u64;
                if let Some(last) = batch.last() {
                    self.settled = last.seq;
                }
                self.resolve_waiters();
                if self.pending.len() >= MAX_BATCH || !self.waiters.is_empty() {
                    self.start_batch(ctx);
                }
            }
            BatchOutcome::Rejected { index, error } => {
                self.stats.failures += 1;
                self.stats.dropped += 1;
                let rejected = batch.remove(index);
                log::error!(
                    "store: database rejected write #{} for good ({error}); discarding {:?}",
                    rejected.seq,
                    rejected.write
                );
                self.fail_waiters_from(
                    rejected.seq,
                    &format!("write #{} rejected: {error}", rejected.seq),
                );
                if batch.is_empty() {
                    self.settled = rejected.seq;
                    self.resolve_waiters();
                }
                self.requeue(batch);
                self.start_batch(ctx);
            }
            BatchOutcome::Failed(error) => {
                self.stats.failures += 1;
                let mut call_ids: Vec<&str> =
                    batch.iter().filter_map(|q| q.write.call_id()).collect();
                call_ids.sort_unstable();
                call_ids.dedup();
                log::error!(
                    "store: batch of {} writes failed, kept for retry: {error}; calls {:?}",
                    batch.len(),
                    call_ids
                );
                let first = batch.first().map_or(self.received, |q| q.seq);
                self.fail_waiters_from(first, &error);
                self.requeue(batch);
            }
        }
    }

    /// Put an uncommitted batch back at the front, in order.
    fn requeue(&mut self, batch: Vec<Queued>) {
        for queued in batch.into_iter().rev() {
            self.pending.push_front(queued);
        }
    }

    /// Answer `Ok` to every flush whose writes are all settled.
    fn resolve_waiters(&mut self) {
        let settled = self.settled;
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(target, _)| *target <= settled);
        self.waiters = waiting;
        for (_, tx) in done {
            let _ = tx.send(Ok(()));
        }
    }

    /// Answer `Err` to every flush that waits on write `seq` or later.
    fn fail_waiters_from(&mut self, seq: u64, error: &str) {
        let (failed, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(target, _)| *target >= seq);
        self.waiters = waiting;
        for (_, tx) in failed {
            let _ = tx.send(Err(StoreError::BatchFailed(error.to_owned())));
        }
    }
}

impl Actor for Store {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(FLUSH_INTERVAL, |act, ctx| act.start_batch(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let lost = self.pending();
        if lost > 0 {
            let mut call_ids: Vec<&str> = self
                .pending
                .iter()
                .filter_map(|q| q.write.call_id())
                .collect();
            call_ids.sort_unstable();
            call_ids.dedup();
            log::error!(
                "store: stopped with {lost} uncommitted writes (send Flush before stopping); calls {call_ids:?}"
            );
        }
    }
}

impl Handler<RecordCallStarted> for Store {
    type Result = ();

    fn handle(&mut self, msg: RecordCallStarted, ctx: &mut Self::Context) {
        let call = NewCall {
            id: msg.call_id,
            tenant_id: msg.tenant_id,
            carrier: msg.carrier,
            carrier_call_sid: msg.carrier_call_sid,
            stream_sid: msg.stream_sid,
            from_number: msg.from_number,
            to_number: msg.to_number,
            status: CallStatus::InProgress.as_str().to_owned(),
            model_provider: msg.model_provider,
            started_at: msg.started_at,
            ended_at: None,
            duration_ms: None,
            ended_reason: None,
            link_restarts: 0,
        };
        self.enqueue(Write::CallStarted(call), ctx);
    }
}

impl Handler<RecordCallRefused> for Store {
    type Result = ();

    fn handle(&mut self, msg: RecordCallRefused, ctx: &mut Self::Context) {
        let call = NewCall {
            id: msg.call_id,
            tenant_id: msg.tenant_id,
            carrier: msg.carrier,
            carrier_call_sid: msg.carrier_call_sid,
            stream_sid: msg.stream_sid,
            from_number: msg.from_number,
            to_number: msg.to_number,
            status: CallStatus::Refused.as_str().to_owned(),
            model_provider: msg.model_provider,
            started_at: msg.started_at,
            ended_at: Some(msg.started_at),
            duration_ms: Some(0),
            ended_reason: Some(msg.reason),
            link_restarts: 0,
        };
        self.enqueue(Write::CallStarted(call), ctx);
    }
}

impl Handler<RecordTranscript> for Store {
    type Result = ();

    fn handle(&mut self, msg: RecordTranscript, ctx: &mut Self::Context) {
        let entry = TranscriptRow {
            id: msg.id,
            call_id: msg.call_id,
            seq: msg.seq,
            role: msg.role,
            text: msg.text,
            item_id: msg.item_id,
            interrupted: msg.interrupted,
            created_at: msg.created_at,
        };
        self.enqueue(Write::Transcript(entry), ctx);
    }
}

impl Handler<RecordToolInvocation> for Store {
    type Result = ();

    fn handle(&mut self, msg: RecordToolInvocation, ctx: &mut Self::Context) {
        let row = ToolInvocationRow {
            id: msg.id,
            call_id: msg.call_id,
            tenant_id: msg.tenant_id,
            tool_call_id: msg.tool_call_id,
            name: msg.name,
            arguments: msg.arguments,
            result: msg.result,
            error: msg.error,
            duration_ms: msg.duration_ms,
            created_at: msg.created_at,
        };
        self.enqueue(Write::ToolInvocation(row), ctx);
    }
}

impl Handler<RecordCallEnded> for Store {
    type Result = ();

    fn handle(&mut self, msg: RecordCallEnded, ctx: &mut Self::Context) {
        self.enqueue(Write::CallEnded(msg), ctx);
    }
}

impl Handler<Flush> for Store {
    type Result = ResponseFuture<Result<(), StoreError>>;

    fn handle(&mut self, _msg: Flush, ctx: &mut Self::Context) -> Self::Result {
        let target = self.received;
        if target <= self.settled {
            return Box::pin(async { Ok(()) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push((target, tx));
        self.start_batch(ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StoreError::BatchFailed("store stopped".to_owned())))
        })
    }
}

impl Handler<Stats> for Store {
    type Result = StoreStats;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Self::Context) -> StoreStats {
        StoreStats {
            pending: self.pending.len(),
            in_flight: self.in_flight,
            ..self.stats
        }
    }
}
