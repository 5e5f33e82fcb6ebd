//! The pre-warm hand-over: a Twilio call admitted and started at its voice
//! webhook ([`Prewarm`]), its single-use token redeemed by the stream's `start`
//! ([`ClaimPrewarm`]), and the call moved to the stream's thread when the
//! webhook ran on another one (`HandOver`, then a new `CallActor` there that
//! adopts the open model session), keeping its admission slot. A webhook
//! replayed for the same CallSid gets the same answer and no new session.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::admission::{AdmitError, Admitting};
use super::Supervisor;
use crate::call_tree::call::env::SupervisedCall;
use crate::call_tree::call::prewarm::{AttachEdge, CallHandover, HandOver, PrewarmToken};
use crate::call_tree::call::{CallActor, CallSetup};
use crate::cluster::LiveCallEntry;

/// How long a CallSid whose voice webhook was answered is remembered: a
/// replay within it gets the same answer and no new session (Twilio calls a
/// voice webhook once per call; its own retries come within seconds).
const ANSWERED_WEBHOOK_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Asks the Supervisor to admit and start a Twilio call at its voice webhook,
/// before its media stream exists (`setup.edge` is `None`, `setup.call_sid` the
/// webhook's CallSid). The answer is the token the stream's `start` must carry
/// to attach to the call ([`ClaimPrewarm`]); `None` when the call is not admitted
/// now (at capacity, draining) or has no CallSid — the stream is then served
/// the normal way, and refused there if it must be.
pub struct Prewarm {
    pub setup: CallSetup,
    /// Where the call runs (the webhook's arbiter).
    pub arbiter: ArbiterHandle,
    /// That arbiter's thread.
    pub thread: ThreadId,
}

impl Prewarm {
    /// Pre-warms `setup` on the calling arbiter (the webhook's worker).
    pub fn here(setup: CallSetup) -> Self {
        Prewarm {
            setup,
            arbiter: Arbiter::current(),
            thread: std::thread::current().id(),
        }
    }
}

impl Message for Prewarm {
    type Result = Option<PrewarmToken>;
}

/// A stream's claim on a pre-warmed call: its token and its carrier's CallSid.
/// Redeemed once; an unknown, expired or used token, or one issued for another
/// CallSid, is refused (the stream is then served cold).
pub struct ClaimPrewarm {
    pub token: String,
    pub call_sid: String,
}

/// Redeems `claim` for a stream on `thread` (arbiter `arbiter`, edge `attach`).
/// When the call runs on another thread the Supervisor moves it there itself
/// ([`HandOver`], then a new `CallActor` with the stream attached), so a move
/// finishes even if the edge is gone meanwhile (the new call then notices the
/// missing edge and ends). While the call moves, what the Supervisor sends it
/// is held for the actor it ends up in.
#[derive(Message)]
#[rtype(result = "Option<Redeemed>")]
struct Redeem {
    claim: ClaimPrewarm,
    thread: ThreadId,
    arbiter: ArbiterHandle,
    attach: AttachEdge,
}

/// What became of a redeemed pre-warm.
enum Redeemed {
    /// Moved to the stream's thread, the stream attached: the call's new actor.
    Moved(Addr<CallActor>),
    /// Still where it was: the edge attaches to it (`placement` for the metric).
    Attach {
        addr: Addr<CallActor>,
        placement: &'static str,
    },
}

/// What a carrier edge does at stream start with a pre-warm token: redeem it
/// (`claim`), then continue that call on this thread (the edge's) — moved here
/// when the webhook ran on another worker, or attached as is (`attach`) when it
/// ran here or cannot move. `None` when that fails (unknown, used, expired or
/// foreign token, the call has just ended, or the Supervisor's mailbox is
/// gone): the edge then starts the call the normal way.
pub async fn claim_prewarmed(
    supervisor: Addr<Supervisor>,
    claim: ClaimPrewarm,
    attach: AttachEdge,
) -> Option<Addr<CallActor>> {
    let redeem = Redeem {
        claim,
        thread: std::thread::current().id(),
        arbiter: Arbiter::current(),
        attach: attach.clone(),
    };
    match supervisor.send(redeem).await.ok().flatten()? {
        Redeemed::Moved(addr) => Some(addr),
        Redeemed::Attach { addr, placement } => match addr.send(attach).await {
            Ok(true) => {
                supervisor.do_send(CountClaim(placement));
                Some(addr)
            }
            _ => None,
        },
    }
}

/// Counts a pre-warm claim by placement (`prewarm_claims_total`).
#[derive(Message)]
#[rtype(result = "()")]
struct CountClaim(&'static str);

/// A pre-warmed call waiting for its media stream (or a call waiting for
/// its way back after a failed transfer: the same claim, the same token).
pub(super) struct Prewarmed {
    pub(super) call_id: String,
    call_sid: String,
    addr: Addr<CallActor>,
    thread: ThreadId,
}

impl Supervisor {
    /// Issues the single-use token a stream redeems ([`ClaimPrewarm`]) to
    /// continue call `call_id` (Twilio `call_sid`), running as `addr` on
    /// `thread`: how a caller's way-back stream after a failed transfer
    /// reaches the same call.
    pub(super) fn await_stream(
        &mut self,
        call_id: String,
        call_sid: String,
        addr: Addr<CallActor>,
        thread: ThreadId,
    ) -> PrewarmToken {
        let token = PrewarmToken::new();
        self.prewarmed.insert(
            token.as_str().to_string(),
            Prewarmed {
                call_id,
                call_sid,
                addr,
                thread,
            },
        );
        token
    }
}

impl Handler<Prewarm> for Supervisor {
    type Result = ResponseActFuture<Self, Option<PrewarmToken>>;

    fn handle(&mut self, msg: Prewarm, ctx: &mut Context<Self>) -> Self::Result {
        let Some(call_sid) = msg.setup.call_sid.clone() else {
            return Box::pin(actix::fut::ready(None));
        };
        // A webhook for a CallSid already answered (live, pre-warmed, or
        // ended a moment ago) is a replay or a retry: the same token, no new
        // session (Twilio's signature has no nonce; this makes replays idle).
        self.answered_webhooks
            .retain(|_, (_, at)| at.elapsed() < ANSWERED_WEBHOOK_MEMORY);
        if let Some((token, _)) = self.answered_webhooks.get(&call_sid) {
            log::info!("call {call_sid}: voice webhook again; same answer, no new session");
            return Box::pin(actix::fut::ready(
                token.clone().map(PrewarmToken::from_issued),
            ));
        }
        let entry = self.entry_for(&msg.setup.call_id, CallActor::tenancy(&msg.setup));
        match self.admit(&entry, false) {
            Admitting::Decided(answer) => {
                let token = self.start_prewarmed(msg, entry, answer, ctx);
                Box::pin(actix::fut::ready(token))
            }
            Admitting::Cluster(verdict) => Box::pin(
                verdict.map(move |answer, act, ctx| act.start_prewarmed(msg, entry, answer, ctx)),
            ),
        }
    }
}

impl Supervisor {
    /// Starts an admitted pre-warmed call and hands out its token.
    fn start_prewarmed(
        &mut self,
        msg: Prewarm,
        entry: LiveCallEntry,
        answer: Result<(), AdmitError>,
        ctx: &mut Context<Self>,
    ) -> Option<PrewarmToken> {
        answer.ok()?;
        let call_sid = msg.setup.call_sid.clone()?;
        let call_id = msg.setup.call_id.clone();
        let thread = msg.thread;
        let supervision = self.supervision(Ok(()), ctx);
        let setup = msg.setup;
        let addr = CallActor::start_in_arbiter(&msg.arbiter, move |_| {
            CallActor::supervised(setup, supervision)
        });
        self.track(entry, &addr);
        let token = self.await_stream(call_id, call_sid.clone(), addr, thread);
        self.answered_webhooks
            .insert(call_sid, (Some(token.as_str().to_string()), Instant::now()));
        Some(token)
    }
}

impl Handler<Redeem> for Supervisor {
    type Result = ResponseActFuture<Self, Option<Redeemed>>;

    fn handle(&mut self, msg: Redeem, _: &mut Context<Self>) -> Self::Result {
        let Redeem {
            claim,
            thread,
            arbiter,
            attach,
        } = msg;
        let Some(waiting) = self.prewarmed.get(&claim.token) else {
            log::info!(
                "call {}: unknown, used or expired pre-warm; served cold",
                claim.call_sid
            );
            return Box::pin(actix::fut::ready(None));
        };
        if waiting.call_sid != claim.call_sid {
            // Kept for its own call's stream: a foreign CallSid does not use it up.
            log::warn!(
                "call {}: pre-warm issued for another CallSid; served cold",
                claim.call_sid
            );
            return Box::pin(actix::fut::ready(None));
        }
        let Some(waiting) = self.prewarmed.remove(&claim.token) else {
            return Box::pin(actix::fut::ready(None));
        };
        let Prewarmed { call_id, addr, .. } = waiting;
        if waiting.thread == thread {
            let placement = "same_thread";
            return Box::pin(actix::fut::ready(Some(Redeemed::Attach {
                addr,
                placement,
            })));
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.moving = Some(Vec::new());
        }
        Box::pin(
            addr.send(HandOver)
                .into_actor(self)
                .map(move |handed, act, ctx| match handed {
                    Ok(Some(handover)) => {
                        Some(Redeemed::Moved(act.adopt(handover, attach, &arbiter, ctx)))
                    }
                    _ => {
                        if let Some(call) = act.calls.get_mut(&call_id) {
                            call.settle();
                        }
                        let placement = "across_threads";
                        Some(Redeemed::Attach { addr, placement })
                    }
                }),
        )
    }
}

impl Supervisor {
    /// Starts a pre-warmed call handed over by its actor on the stream's
    /// `arbiter` with the stream attached, points the call's handles at it and
    /// delivers what was held while it moved. The call keeps its admission slot.
    fn adopt(
        &mut self,
        handover: CallHandover,
        attach: AttachEdge,
        arbiter: &ArbiterHandle,
        ctx: &mut Context<Self>,
    ) -> Addr<CallActor> {
        let call_id = handover.setup.call_id.clone();
        let supervision = self.supervision(Ok(()), ctx);
        let addr = CallActor::start_in_arbiter(arbiter, move |_| {
            CallActor::adopting(handover, attach.edge, attach.stream_sid, supervision)
        });
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.point_to(&addr);
            call.settle();
        }
        self.env
            .metrics
            .prewarm_claims
            .with_label_values(&["handed_over"])
            .inc();
        addr
    }
}

impl Handler<CountClaim> for Supervisor {
    type Result = ();

    fn handle(&mut self, CountClaim(placement): CountClaim, _: &mut Context<Self>) {
        self.env
            .metrics
            .prewarm_claims
            .with_label_values(&[placement])
            .inc();
    }
}
