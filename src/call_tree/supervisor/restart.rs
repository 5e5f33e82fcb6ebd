//! Restarts: when a call's model link fails, the Supervisor starts a new one
//! after a backoff (the caller stays on the line) or, past the restart budget
//! or while draining, ends the call with the apology.

use std::time::Duration;

use actix::prelude::*;

use super::live_call::Held;
use super::Supervisor;
use crate::actor_messages::{EndCall, LinkFailed, RestartLink};
use crate::lifecycle::EndReason;

/// What the Supervisor does about the `failures`-th link failure of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum RestartDecision {
    /// Start a new link after this delay.
    Restart { after: Duration },
    /// The restart budget is spent: apologise and end the call.
    GiveUp,
}

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

impl Handler<LinkFailed> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: LinkFailed, _: &mut Context<Self>) {
        let Some(call) = self.calls.get_mut(&msg.call_id) else {
            return;
        };
        let decision = match (&call.restart, self.draining) {
            (Some(_), false) => self.policy.decide(msg.failures),
            _ => RestartDecision::GiveUp,
        };
        match (decision, call.restart.is_some()) {
            (RestartDecision::Restart { after }, true) => {
                self.env.metrics.link_restarts.inc();
                log::info!(
                    "call {}: model link restart {} in {} ms",
                    msg.call_id,
                    msg.failures,
                    after.as_millis()
                );
                call.send(Held::Restart(RestartLink {
                    after,
                    attempt: msg.failures,
                    cause: msg.cause,
                }));
            }
            _ => {
                log::warn!(
                    "call {}: model link failed {} times; giving up",
                    msg.call_id,
                    msg.failures
                );
                call.send(Held::End(EndCall {
                    reason: EndReason::ModelUnavailable(msg.cause),
                    apologise: true,
                }));
            }
        }
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
