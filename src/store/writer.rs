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
//!
//! With a spool file ([`Store::with_spool`]), a batch the database cannot take
//! (unreachable, erroring, pool timeout) is appended to the spool instead
//! (see [`super::spool`]) and counts as settled once `fsync`ed; while the
//! spool holds writes every later batch follows it there, so order is kept,
//! and every `replay_every` the actor tries to [`super::spool::replay`] it.
//! Once the replay commits, the spool is empty and batches go to the
//! database again. In a cluster ([`Store::with_shared_spool`]) such a batch
//! goes to the cluster's spool first (any node replays it, so it outlives
//! this node), the file only when that cannot take it either.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::NaiveDateTime;
use tokio::sync::oneshot;

use super::batch::{write_pooled, BatchOutcome, Queued, Write};
pub use super::batch::{RecordCallEnded, MAX_BATCH};
use super::db::{Link, Pool};
use super::models::{CallStatus, NewCall, ToolInvocationRow, TranscriptRow};
use super::spool::{self, SharedSpool};
use super::StoreError;

/// How often pending writes are committed when fewer than [`MAX_BATCH`]
/// are queued: 50 ms.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// How long a batch waits for a pool connection when a spool is configured
/// (past it the batch is spooled): 2 s.
const SPOOLING_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a spool replay waits for a pool connection: 1 s.
pub const REPLAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

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

/// One transcript entry of a call; `seq` is unique within the call. A second
/// record with the same `id` replaces the entry's text (a corrected transcript).
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
    /// Where the line began, ms from the call's start.
    pub offset_ms: Option<i64>,
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

/// Resolves when every write the actor received before this message is
/// committed or, with a spool, durably spooled: `Ok(())`, or `Err(StoreError::BatchFailed)` if the batch
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
    /// Writes waiting in the spool file for the database (spool depth).
    pub spooled: usize,
    /// Writes appended to the spool since start.
    pub spooled_total: u64,
    /// Spooled writes replayed into the database since start.
    pub replayed: u64,
}

/// The spool file and its state, when spooling is configured.
struct SpoolState {
    path: PathBuf,
    /// Writes in the file.
    depth: usize,
    /// Minimum time between replay attempts.
    replay_every: Duration,
    last_attempt: Option<Instant>,
    /// A replay task is running.
    replaying: bool,
}

/// The write-behind store actor. Start it once per process with
/// `Store::new(pool).start()` (optionally `.with_spool(…)`) and share its
/// `Addr`.
pub struct Store {
    pool: Pool,
    spool: Option<SpoolState>,
    pending: VecDeque<Queued>,
    /// Arrival number of the last write received.
    received: u64,
    /// Every write with `seq <= settled` is committed (or discarded).
    settled: u64,
    /// Writes in the batch being committed, 0 when none.
    in_flight: usize,
    waiters: Vec<(u64, oneshot::Sender<Result<(), StoreError>>)>,
    stats: StoreStats,
    /// Written on every call row (`calls.node_id`).
    node_id: Option<String>,
    /// The pool's reachability: outages are logged there, once each.
    link: Option<Arc<Link>>,
    /// The cluster's shared spool, tried before the file.
    shared: Option<SharedState>,
}

/// The shared spool and what this writer put there.
struct SharedState {
    spool: Arc<dyn SharedSpool>,
    /// This process's run id: with a batch's first arrival number, the
    /// idempotency key of its message (a retried push is stored once).
    run: String,
    /// Writes this writer pushed that may still wait there (0 once the
    /// shared spool is seen empty).
    depth: usize,
    /// Minimum time between checks of the shared spool's depth.
    check_every: Duration,
    last_check: Option<Instant>,
    checking: bool,
    /// Batches pushed since start: a depth check that saw a push land
    /// meanwhile is ignored.
    pushes: u64,
}

impl Store {
    /// A writer over `pool`; migrations must already be applied.
    pub fn new(pool: Pool) -> Self {
        Store {
            pool,
            spool: None,
            pending: VecDeque::new(),
            received: 0,
            settled: 0,
            in_flight: 0,
            waiters: Vec::new(),
            stats: StoreStats::default(),
            node_id: None,
            link: None,
            shared: None,
        }
    }

    /// Put batches the database cannot take into `shared` (the cluster's
    /// spool, which every node replays) before the spool file, which stays
    /// the fallback when `shared` cannot take them either. While writes of
    /// this writer wait there, later batches follow them (order); the writer
    /// looks whether they were replayed at most every `check_every`.
    pub fn with_shared_spool(
        mut self,
        shared: Arc<dyn SharedSpool>,
        check_every: Duration,
    ) -> Self {
        self.shared = Some(SharedState {
            spool: shared,
            run: uuid::Uuid::new_v4().simple().to_string(),
            depth: 0,
            check_every,
            last_check: None,
            checking: false,
            pushes: 0,
        });
        self
    }

    /// Writes waiting in a spool: the file's and this writer's in the shared one.
    fn spooled(&self) -> usize {
        self.spool.as_ref().map_or(0, |s| s.depth) + self.shared.as_ref().map_or(0, |s| s.depth)
    }

    /// Ask the shared spool, when this writer's writes may wait there and no
    /// batch is in flight, whether it is empty (every node's writes
    /// replayed); then batches go to the database again.
    fn maybe_check_shared(&mut self, ctx: &mut Context<Self>) {
        let in_flight = self.in_flight;
        let Some(shared) = self.shared.as_mut() else {
            return;
        };
        let due = shared
            .last_check
            .is_none_or(|at| at.elapsed() >= shared.check_every);
        if shared.depth == 0 || shared.checking || in_flight > 0 || !due {
            return;
        }
        shared.checking = true;
        let pushes = shared.pushes;
        let waiting = shared.spool.waiting();
        ctx.spawn(waiting.into_actor(self).map(move |waiting, act, ctx| {
            let Some(shared) = act.shared.as_mut() else {
                return;
            };
            shared.checking = false;
            shared.last_check = Some(Instant::now());
            match waiting {
                Ok(0) if shared.pushes == pushes => {
                    log::debug!("store: the cluster spool is replayed");
                    shared.depth = 0;
                    act.start_batch(ctx);
                }
                Ok(n) => log::debug!("store: {n} batches wait in the cluster spool"),
                Err(err) => log::debug!("store: cluster spool depth unknown: {err}"),
            }
        }));
    }

    /// Reports replayed writes and the spool's emptiness to `link`, which
    /// logs each outage once (its start and its end).
    pub fn with_link(mut self, link: Arc<Link>) -> Self {
        self.link = Some(link);
        self
    }

    /// Whether the pool's link knows the database is unreachable now.
    fn database_down(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.is_down())
    }

    /// Stamps every call row this writer inserts with `node_id`.
    pub fn with_node(mut self, node_id: String) -> Self {
        self.node_id = Some(node_id);
        self
    }

    /// Spool batches the database cannot take to the append-only file at
    /// `path` (created on first use; `depth` writes already in it, from
    /// [`spool::depth`]), retrying a replay at most every `replay_every`.
    pub fn with_spool(mut self, path: PathBuf, depth: usize, replay_every: Duration) -> Self {
        self.spool = Some(SpoolState {
            path,
            depth,
            replay_every,
            last_attempt: None,
            replaying: false,
        });
        self
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
        let replaying = self.spool.as_ref().is_some_and(|s| s.replaying);
        if self.in_flight > 0 || self.pending.is_empty() || replaying {
            return;
        }
        let take = self.pending.len().min(MAX_BATCH);
        let batch: Vec<Queued> = self.pending.drain(..take).collect();
        self.in_flight = batch.len();
        let pool = self.pool.clone();
        let spool_path = self.spool.as_ref().map(|s| s.path.clone());
        // Later writes follow earlier ones: into the file while it holds
        // writes, else into the shared spool while it holds this node's.
        let follow_spool = self.spool.as_ref().is_some_and(|s| s.depth > 0);
        let shared = self
            .shared
            .as_ref()
            .map(|s| (s.spool.clone(), s.run.clone()));
        let follow_shared = !follow_spool && self.shared.as_ref().is_some_and(|s| s.depth > 0);
        let timeout =
            (spool_path.is_some() || shared.is_some()).then_some(SPOOLING_CONNECT_TIMEOUT);
        let task = async move {
            let mut batch = batch;
            let mut cause = None;
            if !follow_spool && !follow_shared {
                let (returned, outcome) = tokio::task::spawn_blocking(move || {
                    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        write_pooled(&pool, timeout, &batch)
                    }))
                    .unwrap_or_else(|_| BatchOutcome::Failed("batch writer panicked".to_owned()));
                    (batch, outcome)
                })
                .await?;
                batch = returned;
                match outcome {
                    BatchOutcome::Failed(error) if timeout.is_some() => cause = Some(error),
                    other => return Ok((batch, other)),
                }
            }
            if !follow_spool {
                if let Some((shared, run)) = shared {
                    let pushed = match spool::encode(&batch) {
                        Ok(lines) => {
                            let id = format!("{run}-{}", batch.first().map_or(0, |q| q.seq));
                            shared.push(id, lines).await
                        }
                        Err(err) => Err(err.to_string()),
                    };
                    match pushed {
                        Ok(()) => {
                            return Ok((
                                batch,
                                BatchOutcome::Spooled {
                                    cause,
                                    shared: true,
                                },
                            ))
                        }
                        Err(err) => {
                            log::debug!("store: cluster spool unavailable ({err}); using the file");
                            cause = Some(match cause {
                                Some(cause) => format!("{cause}; cluster spool: {err}"),
                                None => format!("cluster spool: {err}"),
                            });
                        }
                    }
                }
            }
            let Some(path) = spool_path else {
                let error = cause.unwrap_or_else(|| "no spool".to_owned());
                return Ok((batch, BatchOutcome::Failed(error)));
            };
            tokio::task::spawn_blocking(move || {
                let outcome = match spool::append(&path, &batch) {
                    Ok(()) => BatchOutcome::Spooled {
                        cause,
                        shared: false,
                    },
                    Err(spool_err) => BatchOutcome::Failed(match cause {
                        Some(cause) => format!("{cause}; {spool_err}"),
                        None => spool_err.to_string(),
                    }),
                };
                (batch, outcome)
            })
            .await
        };
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
            BatchOutcome::Spooled { cause, shared } => {
                if let Some(cause) = cause {
                    self.stats.failures += 1;
                    let path = self
                        .spool
                        .as_ref()
                        .map_or_else(String::new, |s| s.path.display().to_string());
                    // Once the link has named the outage, this adds nothing.
                    if self.database_down() {
                        log::debug!("store: database unavailable ({cause}); spooling to {path}");
                    } else {
                        log::warn!(
                            "store: database unavailable ({cause}); spooling writes to {path}"
                        );
                    }
                }
                if shared {
                    if let Some(remote) = self.shared.as_mut() {
                        remote.depth += batch.len();
                        remote.pushes += 1;
                    }
                } else if let Some(spool) = self.spool.as_mut() {
                    spool.depth += batch.len();
                }
                self.stats.spooled_total += batch.len() as u64;
                if let Some(last) = batch.last() {
                    self.settled = last.seq;
                }
                self.resolve_waiters();
                if self.pending.len() >= MAX_BATCH || !self.waiters.is_empty() {
                    self.start_batch(ctx);
                }
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

    /// Replay the spool into the database when it holds writes, nothing is
    /// in flight, and `replay_every` has passed since the last attempt.
    fn maybe_replay(&mut self, ctx: &mut Context<Self>) {
        let in_flight = self.in_flight;
        // The file holds writes that came after this writer's writes in the
        // shared spool: it waits until those are replayed.
        if self.shared.as_ref().is_some_and(|s| s.depth > 0) {
            return;
        }
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        let due = spool
            .last_attempt
            .is_none_or(|at| at.elapsed() >= spool.replay_every);
        if spool.depth == 0 || spool.replaying || in_flight > 0 || !due {
            return;
        }
        spool.replaying = true;
        spool.last_attempt = Some(Instant::now());
        let pool = self.pool.clone();
        let path = spool.path.clone();
        let task = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                spool::replay(&pool, &path, REPLAY_CONNECT_TIMEOUT)
            }))
            .unwrap_or_else(|_| Err(StoreError::BatchFailed("spool replay panicked".to_owned())))
        });
        ctx.spawn(task.into_actor(self).map(|joined, act, ctx| {
            let Some(spool) = act.spool.as_mut() else {
                return;
            };
            spool.replaying = false;
            // The interval counts from the end of an attempt, so batches
            // waiting behind a slow attempt get their turn first.
            spool.last_attempt = Some(Instant::now());
            match joined {
                Ok(Ok(report)) => {
                    log::debug!(
                        "store: spool replayed: {} writes applied, {} rejected, {} unreadable",
                        report.applied,
                        report.rejected,
                        report.corrupt
                    );
                    if report.rejected > 0 || report.corrupt > 0 {
                        log::warn!(
                            "store: spool replay dropped {} rejected and {} unreadable writes",
                            report.rejected,
                            report.corrupt
                        );
                    }
                    if let Some(link) = &act.link {
                        link.replayed(report.applied as u64);
                    }
                    spool.depth = 0;
                    act.stats.replayed += report.applied as u64;
                    act.stats.dropped += report.rejected as u64;
                    act.start_batch(ctx);
                }
                Ok(Err(err)) => {
                    // The link logs the outage itself, once.
                    log::debug!(
                        "store: spool replay deferred ({} writes wait): {err}",
                        spool.depth
                    );
                    act.start_batch(ctx);
                }
                Err(err) => log::error!("store: spool replay task lost: {err}"),
            }
        }));
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
        ctx.run_interval(FLUSH_INTERVAL, |act, ctx| {
            act.start_batch(ctx);
            act.maybe_check_shared(ctx);
            act.maybe_replay(ctx);
            if let Some(link) = &act.link {
                link.settle(act.spooled() == 0);
            }
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(spool) = &self.spool {
            if !self.pending.is_empty() {
                let batch: Vec<Queued> = self.pending.drain(..).collect();
                match spool::append(&spool.path, &batch) {
                    Ok(()) => log::warn!(
                        "store: stopped with {} uncommitted writes; spooled to {}",
                        batch.len(),
                        spool.path.display()
                    ),
                    Err(err) => {
                        log::error!("store: cannot spool at stop: {err}");
                        self.requeue(batch);
                    }
                }
            }
        }
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
            node_id: self.node_id.clone(),
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
            node_id: self.node_id.clone(),
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
            offset_ms: msg.offset_ms,
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
            spooled: self.spooled(),
            ..self.stats
        }
    }
}
