//! The `Supervisor` actor: the call registry. It admits or refuses calls
//! (`calls.max_calls`, draining), decides what happens when a call's model link
//! fails (restart with exponential backoff while the caller stays on the line, or
//! give up after the restart budget), and ends every call on shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext as _, Context, Handler, Message, MessageResponse, Recipient};

use crate::call::EndCall;
use crate::lifecycle::{EndReason, Refusal};
use crate::metrics::Metrics;
use crate::session_settings::{ApplySessionSettings, SessionSettings};

/// How long the node must stay without calls before freed memory is returned.
const IDLE_TRIM_DELAY: Duration = Duration::from_secs(2);

/// Why a call was not admitted; mapped to a WebSocket close (1013 try again later).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AdmitError {
    /// `max_calls` calls are in progress.
    #[error("at capacity ({0} calls)")]
    AtCapacity(usize),
    /// The server is shutting down.
    #[error("server is draining")]
    Draining,
}

impl AdmitError {
    /// The recorded refusal (`refused_capacity`, `refused_draining`); its
    /// [`Refusal::metric_label`] labels `calls_refused_total`.
    pub fn reason(&self) -> Refusal {
        match self {
            AdmitError::AtCapacity(_) => Refusal::Capacity,
            AdmitError::Draining => Refusal::Draining,
        }
    }
}

/// Asks to carry a new call. `addr` is whatever owns the call (a `CallActor`, or a
/// jambonz call whose audio jambonz carries itself); it receives [`EndCall`] on shutdown.
#[derive(Message)]
#[rtype(result = "Result<(), AdmitError>")]
pub struct Admit {
    pub call_id: String,
    pub addr: Recipient<EndCall>,
    /// Where operator session edits for this call go.
    pub settings: Recipient<ApplySessionSettings>,
}

/// Forwards operator session settings to the live call `call_id`; false when no
/// such call is in progress.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct UpdateCallSession {
    pub call_id: String,
    pub settings: SessionSettings,
}

/// A live call's handles.
struct LiveCall {
    end: Recipient<EndCall>,
    settings: Recipient<ApplySessionSettings>,
}

/// A call ended and released its slot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CallFinished {
    pub call_id: String,
}

/// A call's model link failed for the `failures`-th time (1-based).
#[derive(Message)]
#[rtype(result = "RestartDecision")]
pub struct LinkFailed {
    pub call_id: String,
    pub failures: u32,
}

/// The Supervisor's answer to [`LinkFailed`].
#[derive(Debug, Clone, PartialEq, MessageResponse)]
pub enum RestartDecision {
    /// Start a new link after this delay.
    Restart { after: Duration },
    /// The restart budget is spent: apologise and end the call.
    GiveUp,
}

/// Stop admitting calls (SIGTERM/SIGINT); existing calls continue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Ends every call now with `reason` (after the drain timeout).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct EndAllCalls {
    pub reason: EndReason,
}

/// Number of calls in progress.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveCalls;

/// Restart policy for model links.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Restarts allowed per call.
    pub attempts: u32,
    /// Delay before the first restart; doubles each time, capped at 5 s.
    pub backoff: Duration,
}

impl RestartPolicy {
    /// The decision for the `failures`-th failure of one call.
    pub fn decide(&self, failures: u32) -> RestartDecision {
        if failures == 0 || failures > self.attempts {
            return RestartDecision::GiveUp;
        }
        let factor = 1u32 << (failures - 1).min(10);
        let after = (self.backoff * factor).min(Duration::from_secs(5));
        RestartDecision::Restart { after }
    }
}

/// The call registry; one per process.
pub struct Supervisor {
    calls: HashMap<String, LiveCall>,
    max_calls: usize,
    draining: bool,
    policy: RestartPolicy,
    metrics: Arc<Metrics>,
}

impl Supervisor {
    /// A supervisor admitting at most `max_calls` calls at once.
    pub fn new(max_calls: usize, policy: RestartPolicy, metrics: Arc<Metrics>) -> Self {
        Supervisor {
            calls: HashMap::new(),
            max_calls,
            draining: false,
            policy,
            metrics,
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Registration traffic is small; a larger mailbox absorbs call bursts.
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<Admit> for Supervisor {
    type Result = Result<(), AdmitError>;

    fn handle(&mut self, msg: Admit, _: &mut Context<Self>) -> Self::Result {
        if self.draining {
            self.metrics
                .calls_refused
                .with_label_values(&[Refusal::Draining.metric_label()])
                .inc();
            return Err(AdmitError::Draining);
        }
        if self.calls.len() >= self.max_calls {
            self.metrics
                .calls_refused
                .with_label_values(&[Refusal::Capacity.metric_label()])
                .inc();
            return Err(AdmitError::AtCapacity(self.max_calls));
        }
        self.calls.insert(
            msg.call_id,
            LiveCall {
                end: msg.addr,
                settings: msg.settings,
            },
        );
        self.metrics.calls_total.inc();
        self.metrics.calls_active.set(self.calls.len() as i64);
        Ok(())
    }
}

impl Handler<CallFinished> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: CallFinished, ctx: &mut Context<Self>) {
        self.calls.remove(&msg.call_id);
        self.metrics.calls_active.set(self.calls.len() as i64);
        if self.calls.is_empty() {
            // The last call's actors free their memory just after this message;
            // once the node is still idle a moment later, give it back to the OS.
            ctx.run_later(IDLE_TRIM_DELAY, |act, _| {
                if act.calls.is_empty() && crate::memory::release_free_memory() {
                    log::debug!("idle: freed heap memory returned to the OS");
                }
            });
        }
    }
}

impl Handler<LinkFailed> for Supervisor {
    type Result = RestartDecision;

    fn handle(&mut self, msg: LinkFailed, _: &mut Context<Self>) -> RestartDecision {
        let decision = if self.draining {
            RestartDecision::GiveUp
        } else {
            self.policy.decide(msg.failures)
        };
        if let RestartDecision::Restart { after } = decision {
            self.metrics.link_restarts.inc();
            log::info!(
                "call {}: model link restart {} in {} ms",
                msg.call_id,
                msg.failures,
                after.as_millis()
            );
        } else {
            log::warn!(
                "call {}: model link failed {} times; giving up",
                msg.call_id,
                msg.failures
            );
        }
        decision
    }
}

impl Handler<Drain> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
        self.draining = true;
        log::info!("draining: {} calls in progress", self.calls.len());
    }
}

impl Handler<EndAllCalls> for Supervisor {
    type Result = usize;

    fn handle(&mut self, msg: EndAllCalls, _: &mut Context<Self>) -> usize {
        for call in self.calls.values() {
            call.end.do_send(EndCall {
                reason: msg.reason.clone(),
                apologise: true,
            });
        }
        self.calls.len()
    }
}

impl Handler<UpdateCallSession> for Supervisor {
    type Result = bool;

    fn handle(&mut self, msg: UpdateCallSession, _: &mut Context<Self>) -> bool {
        match self.calls.get(&msg.call_id) {
            Some(call) => {
                call.settings.do_send(ApplySessionSettings(msg.settings));
                true
            }
            None => false,
        }
    }
}

impl Handler<ActiveCalls> for Supervisor {
    type Result = usize;

    fn handle(&mut self, _: ActiveCalls, _: &mut Context<Self>) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_gives_up() {
        let policy = RestartPolicy {
            attempts: 3,
            backoff: Duration::from_millis(200),
        };
        assert_eq!(
            policy.decide(1),
            RestartDecision::Restart {
                after: Duration::from_millis(200)
            }
        );
        assert_eq!(
            policy.decide(3),
            RestartDecision::Restart {
                after: Duration::from_millis(800)
            }
        );
        assert_eq!(policy.decide(4), RestartDecision::GiveUp);
    }
}
