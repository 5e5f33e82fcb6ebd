//! Operator and shutdown commands: drain, end every call, count and list live
//! calls, and one call's hang-up, session edit or transfer (`OperateCall`).

use actix::prelude::*;

use super::live_call::Held;
use super::Supervisor;
use crate::actor_messages::{
    EndCall, MachineDetected, OperateCall, OperateOutcome, OperatorAction, OperatorTransfer,
};
use crate::cluster::LiveCallEntry;
use crate::lifecycle::EndReason;
use crate::session_settings::ApplySessionSettings;

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

/// This node's calls in progress, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<LiveCallEntry>")]
pub struct LiveCalls;

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
        for call in self.calls.values_mut() {
            call.send(Held::End(EndCall {
                reason: msg.reason.clone(),
                apologise: true,
            }));
        }
        self.calls.len()
    }
}

impl Handler<ActiveCalls> for Supervisor {
    type Result = usize;

    fn handle(&mut self, _: ActiveCalls, _: &mut Context<Self>) -> usize {
        self.calls.len()
    }
}

impl Handler<LiveCalls> for Supervisor {
    type Result = Vec<LiveCallEntry>;

    fn handle(&mut self, _: LiveCalls, _: &mut Context<Self>) -> Vec<LiveCallEntry> {
        let mut calls: Vec<LiveCallEntry> = self.calls.values().map(|c| c.entry.clone()).collect();
        calls.sort_by_key(|c| c.started_at);
        calls
    }
}

impl Handler<OperateCall> for Supervisor {
    type Result = ResponseFuture<OperateOutcome>;

    fn handle(&mut self, msg: OperateCall, _: &mut Context<Self>) -> Self::Result {
        let scope = msg.tenant.clone();
        let Some(call) = self
            .calls
            .get_mut(&msg.call_id)
            .filter(|call| scope.is_none() || call.entry.tenant == scope)
        else {
            return Box::pin(async { OperateOutcome::NotFound });
        };
        match msg.action {
            OperatorAction::HangUp => {
                log::info!("call {}: hung up by an operator", msg.call_id);
                call.send(Held::End(EndCall {
                    reason: EndReason::OperatorHangup,
                    apologise: false,
                }));
            }
            OperatorAction::Session { settings } => {
                call.send(Held::Settings(ApplySessionSettings(settings)));
            }
            OperatorAction::Transfer { .. } if call.moving.is_some() => {
                // Its answer decides the operator's; the call is between actors.
                let error = "the call's media stream is starting; try again".to_string();
                return Box::pin(async { OperateOutcome::Refused { error } });
            }
            OperatorAction::AnsweredBy { .. } if call.moving.is_some() => {
                let error = "the call's media stream is starting; try again".to_string();
                return Box::pin(async { OperateOutcome::Refused { error } });
            }
            OperatorAction::AnsweredBy { answered_by } => {
                let Some(machine) = call.machine.clone() else {
                    let error = "this call has no answering machine detection".to_string();
                    return Box::pin(async { OperateOutcome::Refused { error } });
                };
                let asked = machine.send(MachineDetected { answered_by });
                return Box::pin(async move {
                    match asked.await {
                        Ok(Ok(())) => OperateOutcome::Applied,
                        Ok(Err(error)) => OperateOutcome::Refused { error },
                        Err(_) => OperateOutcome::NotFound,
                    }
                });
            }
            OperatorAction::Transfer { reason } => {
                // The call knows whether it can be transferred (carrier,
                // on-call number, credentials); its answer is the operator's.
                let asked = call.transfer.send(OperatorTransfer { reason });
                let call_id = msg.call_id;
                return Box::pin(async move {
                    match asked.await {
                        Ok(Ok(())) => {
                            log::info!("call {call_id}: transferred by an operator");
                            OperateOutcome::Applied
                        }
                        Ok(Err(error)) => OperateOutcome::Refused { error },
                        // The call ended meanwhile.
                        Err(_) => OperateOutcome::NotFound,
                    }
                });
            }
        }
        Box::pin(async { OperateOutcome::Applied })
    }
}
