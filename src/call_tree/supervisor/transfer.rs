//! A transfer's webhooks reaching their call: the Supervisor passes each
//! ([`TransferLeg`]) to the live call it names, and when the caller comes
//! back to the receptionist after a failed transfer it issues the way-back
//! stream's single-use token — the pre-warm claim (`handover.rs`), so the
//! new stream continues the same call, row and slot.

use actix::prelude::*;

use super::Supervisor;
use crate::call_tree::call::transfer::{
    CallLeg, CallLegAnswer, LegAnswer, LegError, TransferLeg, WayBackGrant,
};

impl Handler<TransferLeg> for Supervisor {
    type Result = ResponseActFuture<Self, Result<LegAnswer, LegError>>;

    fn handle(&mut self, msg: TransferLeg, _: &mut Context<Self>) -> Self::Result {
        let TransferLeg { call_id, event } = msg;
        let leg = self
            .calls
            .get(&call_id)
            .filter(|call| call.moving.is_none())
            .and_then(|call| call.leg.clone());
        let Some(leg) = leg else {
            return Box::pin(actix::fut::ready(Err(LegError::NoCall(call_id))));
        };
        Box::pin(leg.send(CallLeg(event)).into_actor(self).map(
            move |answer, act, _| match answer {
                Err(_) => Err(LegError::NoCall(call_id)),
                Ok(Err(e)) => Err(e),
                Ok(Ok(CallLegAnswer::Screen(brief))) => Ok(LegAnswer::Screen(brief)),
                Ok(Ok(CallLegAnswer::Noted)) => Ok(LegAnswer::Noted),
                Ok(Ok(CallLegAnswer::Ended)) => Ok(LegAnswer::Ended),
                Ok(Ok(CallLegAnswer::WayBack {
                    addr,
                    thread,
                    call_sid,
                    tenant,
                    from,
                    to,
                })) => {
                    let token = act.await_stream(call_id, call_sid.clone(), addr, thread);
                    Ok(LegAnswer::WayBack(WayBackGrant {
                        token,
                        call_sid,
                        tenant,
                        from,
                        to,
                    }))
                }
            },
        ))
    }
}
