//! `CallLedger`: the one call lifecycle every per-call actor owns — the Twilio and
//! browser `CallActor` and the jambonz call alike. It takes the Supervisor's
//! admission verdict, writes the call row (started, refused, ended) through the Store
//! actor, numbers and stores transcript lines, records tool runs, publishes the
//! call's live events, keeps its metrics, and releases the Supervisor's slot
//! (`CallFinished`) exactly once, and hands the ended call to the Notifier
//! (summary, post-call notification). Nothing here is on the audio path: every write is
//! fire-and-forget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use crate::actor_messages::{CallFinished, ToolResult};
use crate::events::{CallEvent, EventBus};
use crate::lifecycle::{AdmitAnswer, AnsweredBy, Carrier, EndReason, Refused};
use crate::metrics::Metrics;
use crate::model::session::Role;
use crate::notify::Notifier;
use crate::store::calls::CallEnd;
use crate::store::models::CallStatus;
use crate::store::writer::{
    RecordCallEnded, RecordCallRefused, RecordCallStarted, RecordTranscript, Store,
};
use crate::tenant::TenantConfig;
use crate::tools::env::ToolEnv;
use crate::tools::{record_tool_run, ToolContext, ToolRun};

use super::env::CallEnv;

/// Line starts kept for items not yet stored; past it they are forgotten.
const MAX_LINE_STARTS: usize = 64;

/// Who a call is: what its row, events and tool context say about it.
#[derive(Debug, Clone)]
pub struct CallIdentity {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    pub carrier: Carrier,
    /// The carrier's call id (Twilio `CA…`, jambonz `call_sid`, browser session id).
    pub call_sid: Option<String>,
    /// The carrier's stream id (Twilio `MZ…`).
    pub stream_sid: Option<String>,
    /// Caller number as the carrier reported it.
    pub from: Option<String>,
    /// Dialled number.
    pub to: Option<String>,
    pub tenant: Arc<TenantConfig>,
    /// `calls.model_provider`: `openai`, `xai`, `simulator`, `jambonz-openai`, …
    pub model_provider: String,
}

/// Where a transcript line is stored: a corrected caller line rewrites the same row.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    /// `transcript_entries.id` (UUID v4).
    pub row_id: String,
    /// `transcript_entries.seq`: 1, 2, … within the call.
    pub seq: i32,
    /// `transcript_entries.offset_ms`: where the line began, ms from the call's
    /// start; `None` before the call's row is written.
    pub offset_ms: Option<i64>,
}

/// One call's lifecycle: rows, events, metrics and the Supervisor slot.
pub struct CallLedger {
    id: CallIdentity,
    store: Addr<Store>,
    events: EventBus,
    metrics: Arc<Metrics>,
    /// Where the slot is released; `None` for a call turned away before the
    /// Supervisor saw it.
    finished_to: Option<Recipient<CallFinished>>,
    /// Writes the call's summary and the owner's post-call notification.
    notifier: Addr<Notifier>,
    started: Instant,
    /// When the call's row was written ([`CallLedger::start`]): 0 ms of its
    /// lines' offsets and of its recording.
    clock: Option<Instant>,
    /// Where lines not yet stored began, by conversation item id (ms from `clock`).
    line_starts: HashMap<String, i64>,
    seq: i32,
    /// The Supervisor holds a slot for this call.
    slot_held: bool,
    /// The call row was written as started.
    admitted: bool,
    finished: bool,
    link_restarts: u32,
    turn_latencies_ms: Vec<u32>,
    /// Twilio's answering machine verdict, written with the call's end.
    answered_by: Option<AnsweredBy>,
}

impl CallLedger {
    /// The ledger of a call not yet admitted; its clock starts now. `finished_to`
    /// receives [`CallFinished`] once when an admitted call ends.
    pub fn new(
        id: CallIdentity,
        env: &CallEnv,
        finished_to: Option<Recipient<CallFinished>>,
    ) -> Self {
        CallLedger {
            id,
            store: env.store.clone(),
            events: env.events.clone(),
            metrics: env.metrics.clone(),
            finished_to,
            notifier: env.notifier.clone(),
            started: Instant::now(),
            clock: None,
            line_starts: HashMap::new(),
            seq: 0,
            slot_held: false,
            admitted: false,
            finished: false,
            link_restarts: 0,
            turn_latencies_ms: Vec::new(),
            answered_by: None,
        }
    }

    /// The call's identity.
    pub fn id(&self) -> &CallIdentity {
        &self.id
    }

    /// switchboard's call id.
    pub fn call_id(&self) -> &str {
        &self.id.call_id
    }

    /// The carrier's call id, `-` when it gave none (for log lines).
    pub fn sid(&self) -> &str {
        self.id.call_sid.as_deref().unwrap_or("-")
    }

    /// The call row was written as started (and not refused).
    pub fn is_admitted(&self) -> bool {
        self.admitted
    }

    /// [`CallLedger::finish`] or [`CallLedger::refuse`] has run.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Time since the ledger was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// What a tool acting for this call's caller sees (no conversation yet).
    pub fn tool_context(&self) -> ToolContext {
        ToolContext {
            call_id: Some(self.id.call_id.clone()),
            call_sid: self.id.call_sid.clone(),
            tenant: self.id.tenant.clone(),
            caller: self.id.from.clone(),
            carrier: Some(self.id.carrier),
            conversation: Vec::new(),
        }
    }

    /// Takes the Supervisor's verdict: on `Ok` the slot is held (released by
    /// [`CallLedger::finish`] or [`CallLedger::refuse`]).
    pub fn admission(&mut self, answer: AdmitAnswer) -> AdmitAnswer {
        self.slot_held = answer.is_ok();
        answer
    }

    /// The carrier stream of a pre-warmed call has started: its id goes into the
    /// row [`CallLedger::start`] writes.
    pub fn stream_started(&mut self, stream_sid: String) {
        self.id.stream_sid = Some(stream_sid);
    }

    /// The call is admitted: writes its row (`in_progress`) and publishes
    /// `call_started`.
    pub fn start(&mut self) {
        self.admitted = true;
        self.clock = Some(Instant::now());
        let id = &self.id;
        self.store.do_send(RecordCallStarted {
            call_id: id.call_id.clone(),
            tenant_id: Some(id.tenant.id.clone()),
            carrier: id.carrier.to_string(),
            carrier_call_sid: id.call_sid.clone(),
            stream_sid: id.stream_sid.clone(),
            from_number: id.from.clone(),
            to_number: id.to.clone(),
            model_provider: Some(id.model_provider.clone()),
            started_at: Utc::now().naive_utc(),
        });
        self.events.publish(
            &self.id.tenant.id,
            CallEvent::CallStarted {
                call_id: id.call_id.clone(),
                call_sid: id.call_sid.clone(),
                tenant: Some(id.tenant.id.clone()),
                from: id.from.clone(),
                to: id.to.clone(),
                carrier: id.carrier.to_string(),
            },
        );
    }

    /// The call is turned away: logs the detail, writes a `refused` row with the
    /// reason, releases the slot if one was held, and marks the call finished.
    pub fn refuse(&mut self, refused: &Refused) {
        if self.finished {
            return;
        }
        self.finished = true;
        log::warn!(
            "{} call {} ({}) for tenant {} refused: {}",
            self.id.carrier,
            self.id.call_id,
            self.sid(),
            self.id.tenant.id,
            refused.detail
        );
        self.release_slot();
        let id = &self.id;
        self.store.do_send(RecordCallRefused {
            call_id: id.call_id.clone(),
            tenant_id: Some(id.tenant.id.clone()),
            carrier: id.carrier.to_string(),
            carrier_call_sid: id.call_sid.clone(),
            stream_sid: id.stream_sid.clone(),
            from_number: id.from.clone(),
            to_number: id.to.clone(),
            model_provider: Some(id.model_provider.clone()),
            started_at: Utc::now().naive_utc(),
            reason: refused.refusal.to_string(),
        });
    }

    fn release_slot(&mut self) {
        if std::mem::take(&mut self.slot_held) {
            if let Some(to) = &self.finished_to {
                to.do_send(CallFinished {
                    call_id: self.id.call_id.clone(),
                });
            }
        }
    }

    /// Time since the call's row was written, ms; `None` before.
    pub fn offset_ms(&self) -> Option<i64> {
        self.clock
            .map(|c| i64::try_from(c.elapsed().as_millis()).unwrap_or(i64::MAX))
    }

    /// The line of conversation item `item_id` begins `ahead` from now (the
    /// caller started speaking; the receptionist's first audio will play then):
    /// its row gets this offset. The first mark of an item counts.
    pub fn line_starts(&mut self, item_id: &str, ahead: Duration) {
        let Some(now) = self.offset_ms() else {
            return;
        };
        if self.line_starts.len() >= MAX_LINE_STARTS {
            // Items that never became lines (no transcript came): forget them.
            self.line_starts.clear();
        }
        let ahead = i64::try_from(ahead.as_millis()).unwrap_or(0);
        self.line_starts
            .entry(item_id.to_string())
            .or_insert(now.saturating_add(ahead));
    }

    /// The next transcript row of the call (sequence numbers start at 1), for
    /// the line of `item_id`: its offset is where that item began, else now.
    pub fn next_line(&mut self, item_id: Option<&str>) -> LineRow {
        self.seq += 1;
        let began = item_id.and_then(|id| self.line_starts.remove(id));
        LineRow {
            row_id: uuid::Uuid::new_v4().to_string(),
            seq: self.seq,
            offset_ms: began.or_else(|| self.offset_ms()),
        }
    }

    /// Stores `text` in `row` (a second write to the same row replaces its
    /// text), redacted as the tenant asks, and publishes it as a `transcript`
    /// event (as said: the live view is not storage).
    pub fn store_line(
        &self,
        row: &LineRow,
        role: Role,
        text: String,
        item_id: Option<String>,
        interrupted: bool,
    ) {
        self.store.do_send(RecordTranscript {
            id: row.row_id.clone(),
            call_id: self.id.call_id.clone(),
            seq: row.seq,
            role: role.as_str().to_string(),
            text: self.id.tenant.redacted(&text).into_owned(),
            item_id,
            interrupted,
            created_at: Utc::now().naive_utc(),
            offset_ms: row.offset_ms,
        });
        self.events.publish(
            &self.id.tenant.id,
            CallEvent::Transcript {
                call_id: self.id.call_id.clone(),
                call_sid: self.id.call_sid.clone(),
                role: role.as_str().to_string(),
                text,
                interrupted,
            },
        );
    }

    /// Records a transfer's step as a `system` transcript line (and logs it).
    pub fn note_transfer(&mut self, note: super::transfer::TransferNote) {
        let line = note.line();
        log::info!("call {} ({}): {line}", self.id.call_id, self.sid());
        self.record_line(Role::System, line, None, false);
    }

    /// Stores a new transcript line in sequence; returns its row.
    pub fn record_line(
        &mut self,
        role: Role,
        text: String,
        item_id: Option<String>,
        interrupted: bool,
    ) -> LineRow {
        let row = self.next_line(item_id.as_deref());
        self.store_line(&row, role, text, item_id, interrupted);
        row
    }

    /// Records a tool run of this call: `tool_invocations` row, `tool_calls_total`,
    /// `tool_call` event.
    pub fn tool_ran(&self, tools: &ToolEnv, result: &ToolResult) {
        let run = ToolRun {
            output: result.output.clone(),
            error: result.error.clone(),
            is_error: result.is_error,
            action: None,
            duration: result.duration,
        };
        record_tool_run(
            tools,
            &self.tool_context(),
            &result.call_id,
            &result.name,
            &result.arguments,
            &run,
        );
    }

    /// The model link is being restarted (`attempt` from 1): publishes `link_restart`.
    pub fn link_restarting(&self, attempt: u32, cause: &str) {
        self.events.publish(
            &self.id.tenant.id,
            CallEvent::LinkRestart {
                call_id: self.id.call_id.clone(),
                call_sid: self.id.call_sid.clone(),
                attempt,
                cause: cause.to_string(),
            },
        );
    }

    /// A new model link was started after a failure (counted in `link_restarts`).
    pub fn link_restarted(&mut self) {
        self.link_restarts += 1;
    }

    /// The caller heard the first answer audio `ms` after they stopped speaking.
    pub fn turn_latency(&mut self, ms: u32) {
        self.turn_latencies_ms.push(ms);
        self.metrics.turn_latency.observe(f64::from(ms) / 1000.0);
    }

    /// Twilio's answering machine detection said who answered (stored in
    /// `calls.answered_by` when the call ends).
    pub fn answered_by(&mut self, answered_by: AnsweredBy) {
        self.answered_by = Some(answered_by);
    }

    /// The caller talked over the assistant (`barge_ins_total`).
    pub fn barge_in(&self) {
        self.metrics.barge_ins.inc();
    }

    /// Finalises the call once: for an admitted call the row (`completed`, reason,
    /// duration — `duration` when the carrier reported one, else the ledger's
    /// clock — link restarts, turn latencies), the slot, `calls_ended_total` and
    /// `call_ended`; then a log line. False when it had already finished.
    pub fn finish(&mut self, reason: &EndReason, duration: Option<Duration>) -> bool {
        if self.finished {
            return false;
        }
        self.finished = true;
        let duration_ms = duration
            .unwrap_or_else(|| self.started.elapsed())
            .as_millis() as i64;
        if self.admitted {
            let (p50, max) = latency_summary(&self.turn_latencies_ms);
            self.store.do_send(RecordCallEnded {
                call_id: self.id.call_id.clone(),
                end: CallEnd {
                    ended_at: Utc::now().naive_utc(),
                    duration_ms,
                    reason: reason.to_string(),
                    status: CallStatus::Completed,
                    link_restarts: self.link_restarts as i32,
                    turn_latency_p50_ms: p50,
                    turn_latency_max_ms: max,
                    answered_by: self.answered_by.map(|a| a.as_str().to_string()),
                },
            });
            self.release_slot();
            self.metrics
                .calls_ended
                .with_label_values(&[reason.metric_label()])
                .inc();
            self.events.publish(
                &self.id.tenant.id,
                CallEvent::CallEnded {
                    call_id: self.id.call_id.clone(),
                    call_sid: self.id.call_sid.clone(),
                    reason: reason.to_string(),
                    duration_ms: duration_ms as u64,
                },
            );
            // Summary and post-call notification, off the call's thread — not
            // for a webhook whose stream never came (nobody was on the line;
            // a replayed webhook must not text the owner).
            if !matches!(reason, EndReason::NoStream) {
                self.notifier.do_send(crate::notify::CallEnded {
                    call_id: self.id.call_id.clone(),
                    tenant: self.id.tenant.clone(),
                });
            }
        } else {
            self.release_slot();
        }
        log::info!(
            "{} call {} ({}) ended: {reason} after {duration_ms} ms",
            self.id.carrier,
            self.id.call_id,
            self.sid()
        );
        true
    }
}

/// (p50, max) of turn latencies in ms, `None` without turns.
fn latency_summary(samples: &[u32]) -> (Option<i32>, Option<i32>) {
    if samples.is_empty() {
        return (None, None);
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let p50 = sorted[(sorted.len() - 1) / 2];
    let max = sorted[sorted.len() - 1];
    (Some(p50 as i32), Some(max as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_summary_is_median_and_max() {
        assert_eq!(latency_summary(&[]), (None, None));
        assert_eq!(latency_summary(&[300, 100, 200]), (Some(200), Some(300)));
    }
}
