//! The `Supervisor` actor owns the call tree. A carrier edge asks it to start a
//! call ([`StartCall`]); it admits or refuses the call (`calls.max_calls`,
//! draining), starts the call's actor (a `CallActor`, or a jambonz call) on the
//! edge's arbiter — the call then starts its `ModelLinkActor` and `ToolActor` as
//! its children — and tracks it until `CallFinished`. When a call's model link
//! fails the Supervisor restarts it (`RestartLink`, exponential backoff, the
//! caller stays on the line) or, past the restart budget, ends the call
//! (`EndCall` with the apology). It ends every call on shutdown.
//!
//! A Twilio call can be pre-warmed at its voice webhook ([`Prewarm`]): the
//! Supervisor admits and starts its `CallActor` before the media stream exists
//! and hands out a single-use token; the stream's `start` redeems it
//! ([`ClaimPrewarm`], with the carrier's CallSid) to attach to that call. When
//! the stream landed on another worker thread than the webhook, the Supervisor
//! moves the call to the stream's thread first (`HandOver`, then a new
//! `CallActor` there), keeping its slot.

mod admission;
mod handover;
mod live_call;
mod operator;
mod restart;
mod transfer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::dev::channel::{self, AddressReceiver};
use actix::prelude::*;

use crate::actor_messages::CallFinished;
use crate::call_tree::call::env::{CallEnv, SupervisedCall, Supervision};
use crate::cluster::{Cluster, LiveCallEntry};
use crate::lifecycle::{AdmitAnswer, Refused};

pub use admission::AdmitError;
use admission::Admitting;
use handover::Prewarmed;
pub use handover::{claim_prewarmed, ClaimPrewarm, Prewarm};
use live_call::LiveCall;
pub use operator::{ActiveCalls, Drain, EndAllCalls, LiveCalls};
pub use restart::{RestartDecision, RestartPolicy};

/// A call's mailbox capacity for waiting senders (actix's default); `do_send`,
/// which edges use for frames, is not bounded by it.
const CALL_MAILBOX: usize = 16;

/// How long the node must stay without calls before freed memory is returned.
const IDLE_TRIM_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// Asks the Supervisor to start a call of kind `C` for a carrier edge. The edge
/// made the call's mailbox ([`StartCall::new`]) and keeps its address, so frames
/// it receives from now on queue for the call with no round trip; the
/// Supervisor admits or refuses the call and starts its actor on that mailbox on
/// `arbiter` either way (a refused call records its refusal and tells its
/// carrier).
pub struct StartCall<C: SupervisedCall> {
    /// switchboard's call id (UUID v4), the registry key.
    pub call_id: String,
    pub setup: C::Setup,
    /// The edge's arbiter: the call runs beside its edge.
    pub arbiter: ArbiterHandle,
    addr: Addr<C>,
    mailbox: AddressReceiver<C>,
}

impl<C: SupervisedCall> StartCall<C> {
    /// The request for a call on the current arbiter, and the call's address
    /// (valid at once; messages wait in the mailbox until the call starts).
    pub fn new(call_id: String, setup: C::Setup) -> (StartCall<C>, Addr<C>) {
        let (tx, rx) = channel::channel(CALL_MAILBOX);
        let addr = Addr::new(tx);
        let start = StartCall {
            call_id,
            setup,
            arbiter: Arbiter::current(),
            addr: addr.clone(),
            mailbox: rx,
        };
        (start, addr)
    }
}

impl<C: SupervisedCall> Message for StartCall<C> {
    type Result = ();
}

/// The call tree's root; one per process.
pub struct Supervisor {
    calls: HashMap<String, LiveCall>,
    /// Pre-warmed calls whose stream has not come yet, by token; the token goes
    /// when it is redeemed or its call ends.
    prewarmed: HashMap<String, Prewarmed>,
    /// CallSids whose voice webhook started a pre-warmed call, with its token
    /// and when: a second webhook for one gets the same answer.
    answered_webhooks: HashMap<String, (Option<String>, Instant)>,
    max_calls: usize,
    /// `calls.max_calls_per_tenant`.
    tenant_cap: Option<usize>,
    /// This node's calls per tenant: the per-tenant cap without a cluster.
    by_tenant: HashMap<String, usize>,
    /// Calls waiting for the cluster's admission answer (they hold a node slot).
    pending: usize,
    draining: bool,
    policy: RestartPolicy,
    /// Handed to every call it starts.
    env: Arc<CallEnv>,
    /// Cluster-wide admission and registry; `None` on a single node.
    cluster: Option<Cluster>,
}

impl Supervisor {
    /// A supervisor admitting at most `max_calls` calls at once; its calls run
    /// with `env`.
    pub fn new(max_calls: usize, policy: RestartPolicy, env: Arc<CallEnv>) -> Self {
        Supervisor {
            calls: HashMap::new(),
            prewarmed: HashMap::new(),
            answered_webhooks: HashMap::new(),
            max_calls,
            tenant_cap: None,
            by_tenant: HashMap::new(),
            pending: 0,
            draining: false,
            policy,
            env,
            cluster: None,
        }
    }

    /// At most `cap` calls per tenant at once (`calls.max_calls_per_tenant`):
    /// on this node, or across the cluster given to [`Supervisor::with_cluster`].
    pub fn with_tenant_cap(mut self, cap: Option<usize>) -> Self {
        self.tenant_cap = cap;
        self
    }

    /// Admits through the cluster (tenant slots, live-call registry).
    pub fn with_cluster(mut self, cluster: Option<Cluster>) -> Self {
        self.cluster = cluster;
        self
    }
    /// Starts a call of kind `C` on its edge's arbiter with the admission
    /// `answer`, and tracks it when admitted.
    fn start_call<C: SupervisedCall>(
        &mut self,
        msg: StartCall<C>,
        entry: LiveCallEntry,
        answer: Result<(), AdmitError>,
        ctx: &mut Context<Self>,
    ) {
        let admission: AdmitAnswer = answer.map_err(|e| Refused {
            refusal: e.reason(),
            detail: e.to_string(),
        });
        let admitted = admission.is_ok();
        let supervision = self.supervision(admission, ctx);
        let (setup, mailbox, addr) = (msg.setup, msg.mailbox, msg.addr);
        msg.arbiter.spawn_fn(move || {
            let call = C::supervised(setup, supervision);
            actix::spawn(Context::with_receiver(mailbox).into_future(call));
        });
        if admitted {
            self.track(entry, &addr);
        }
    }

    fn supervision(&self, admission: AdmitAnswer, ctx: &mut Context<Self>) -> Supervision {
        Supervision {
            env: self.env.clone(),
            admission,
            finished: ctx.address().recipient(),
            link_failed: ctx.address().recipient(),
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

impl<C: SupervisedCall> Handler<StartCall<C>> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: StartCall<C>, ctx: &mut Context<Self>) {
        let entry = self.entry_for(&msg.call_id, C::tenancy(&msg.setup));
        match self.admit(&entry, true) {
            Admitting::Decided(answer) => self.start_call(msg, entry, answer, ctx),
            Admitting::Cluster(verdict) => {
                ctx.spawn(verdict.map(move |answer, act, ctx| {
                    act.start_call(msg, entry, answer, ctx);
                }));
            }
        }
    }
}

impl Supervisor {
    /// Holds a slot for the admitted call until its `CallFinished`.
    fn track<C: SupervisedCall>(&mut self, entry: LiveCallEntry, addr: &Addr<C>) {
        if let Some(tenant) = &entry.tenant {
            *self.by_tenant.entry(tenant.clone()).or_default() += 1;
        }
        self.calls
            .insert(entry.call_id.clone(), LiveCall::new(entry, addr));
        self.env.metrics.calls_total.inc();
        self.env.metrics.calls_active.set(self.calls.len() as i64);
    }
}

impl Handler<CallFinished> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: CallFinished, ctx: &mut Context<Self>) {
        if let Some(call) = self.calls.remove(&msg.call_id) {
            if let Some(tenant) = &call.entry.tenant {
                if let Some(n) = self.by_tenant.get_mut(tenant) {
                    *n -= 1;
                    if *n == 0 {
                        self.by_tenant.remove(tenant);
                    }
                }
            }
            if let Some(cluster) = self.cluster.clone() {
                let call_id = msg.call_id.clone();
                ctx.spawn(async move { cluster.release(&call_id).await }.into_actor(self));
            }
        }
        if !self.prewarmed.is_empty() {
            self.prewarmed.retain(|_, p| p.call_id != msg.call_id);
        }
        self.env.metrics.calls_active.set(self.calls.len() as i64);
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
