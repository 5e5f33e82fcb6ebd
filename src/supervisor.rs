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

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use actix::dev::channel::{self, AddressReceiver};
use actix::prelude::*;

use crate::call::env::{CallEnv, CallTenancy, SupervisedCall, Supervision};
use crate::call::prewarm::{AttachEdge, CallHandover, HandOver, PrewarmToken};
use crate::call::{CallActor, CallSetup};
use crate::cluster::node::ClusterAdmission;
use crate::cluster::{Cluster, ClusterError, LiveCallEntry};
use crate::lifecycle::{AdmitAnswer, EndReason, Refusal, Refused};
use crate::messages::{
    CallFinished, EndCall, LinkFailed, OperateCall, OperateOutcome, OperatorAction,
    OperatorTransfer, RestartLink,
};
use crate::session_settings::ApplySessionSettings;

/// A call's mailbox capacity for waiting senders (actix's default); `do_send`,
/// which edges use for frames, is not bounded by it.
const CALL_MAILBOX: usize = 16;

/// How long the node must stay without calls before freed memory is returned.
const IDLE_TRIM_DELAY: Duration = Duration::from_secs(2);

/// How long a CallSid whose voice webhook was answered is remembered: a
/// replay within it gets the same answer and no new session (Twilio calls a
/// voice webhook once per call; its own retries come within seconds).
const ANSWERED_WEBHOOK_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Why a call was not admitted; mapped to a WebSocket close (1013 try again later).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AdmitError {
    /// `max_calls` calls are in progress.
    #[error("at capacity ({0} calls)")]
    AtCapacity(usize),
    /// `calls.max_calls_per_tenant` of the tenant's calls are in progress
    /// (cluster-wide when clustered).
    #[error("tenant {tenant} at capacity ({cap} calls)")]
    TenantAtCapacity { tenant: String, cap: usize },
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
            AdmitError::TenantAtCapacity { .. } => Refusal::TenantCapacity,
            AdmitError::Draining => Refusal::Draining,
        }
    }
}

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

/// A pre-warmed call waiting for its media stream.
struct Prewarmed {
    call_id: String,
    call_sid: String,
    addr: Addr<CallActor>,
    thread: ThreadId,
}

/// A live call's handles.
struct LiveCall {
    /// What `GET /api/calls/live` shows of it.
    entry: LiveCallEntry,
    end: Recipient<EndCall>,
    settings: Recipient<ApplySessionSettings>,
    transfer: Recipient<OperatorTransfer>,
    /// `None` for calls without a model link of their own (jambonz).
    restart: Option<Recipient<RestartLink>>,
    /// `Some` while the call moves threads: messages held for it, in order.
    moving: Option<Vec<Held>>,
}

/// A message for a call held while it moves threads.
enum Held {
    End(EndCall),
    Settings(ApplySessionSettings),
    Restart(RestartLink),
}

impl LiveCall {
    fn new<C: SupervisedCall>(entry: LiveCallEntry, addr: &Addr<C>) -> Self {
        LiveCall {
            entry,
            end: addr.clone().recipient(),
            settings: addr.clone().recipient(),
            transfer: addr.clone().recipient(),
            restart: C::restart_recipient(addr),
            moving: None,
        }
    }

    /// The call continues in another actor (a pre-warmed call moved threads).
    fn point_to<C: SupervisedCall>(&mut self, addr: &Addr<C>) {
        let moved = LiveCall::new(self.entry.clone(), addr);
        self.take_handles(moved);
    }

    /// `moved`'s handles replace these; messages held for the move stay held.
    fn take_handles(&mut self, moved: LiveCall) {
        let moving = self.moving.take();
        *self = moved;
        self.moving = moving;
    }

    fn send(&mut self, msg: Held) {
        if let Some(held) = &mut self.moving {
            held.push(msg);
            return;
        }
        match msg {
            Held::End(msg) => self.end.do_send(msg),
            Held::Settings(msg) => self.settings.do_send(msg),
            Held::Restart(msg) => {
                if let Some(restart) = &self.restart {
                    restart.do_send(msg);
                }
            }
        }
    }

    /// The move is over (done or abandoned): what was held goes to the call.
    fn settle(&mut self) {
        for msg in self.moving.take().unwrap_or_default() {
            self.send(msg);
        }
    }
}

/// What the Supervisor does about the `failures`-th link failure of a call.
#[derive(Debug, Clone, PartialEq)]
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

/// This node's calls in progress, oldest first.
#[derive(Message)]
#[rtype(result = "Vec<LiveCallEntry>")]
pub struct LiveCalls;

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

/// An admission still being decided by the cluster.
type ClusterVerdict = Pin<Box<dyn ActorFuture<Supervisor, Output = Result<(), AdmitError>>>>;

/// How a call's admission is decided.
enum Admitting {
    /// Here and now (single node, or refused before asking the cluster).
    Decided(Result<(), AdmitError>),
    /// By the cluster (a tenant slot and the registry entry), later.
    Cluster(ClusterVerdict),
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

    /// This node's verdict for a call of `tenant` (nothing counted): draining,
    /// `max_calls`, and — without a cluster — the per-tenant cap.
    fn verdict(&self, tenant: &str) -> Result<(), AdmitError> {
        if self.draining {
            return Err(AdmitError::Draining);
        }
        if self.calls.len() + self.pending >= self.max_calls {
            return Err(AdmitError::AtCapacity(self.max_calls));
        }
        if self.cluster.is_none() {
            self.local_tenant_verdict(tenant)?;
        }
        Ok(())
    }

    /// The per-tenant cap counted on this node alone.
    fn local_tenant_verdict(&self, tenant: &str) -> Result<(), AdmitError> {
        match self.tenant_cap {
            Some(cap) if self.by_tenant.get(tenant).copied().unwrap_or(0) >= cap => {
                Err(AdmitError::TenantAtCapacity {
                    tenant: tenant.to_string(),
                    cap,
                })
            }
            _ => Ok(()),
        }
    }

    fn count_refusal(&self, refusal: &AdmitError) {
        self.env
            .metrics
            .calls_refused
            .with_label_values(&[refusal.reason().metric_label()])
            .inc();
    }

    /// The registry entry of a call about to be admitted here.
    fn entry_for(&self, call_id: &str, tenancy: CallTenancy) -> LiveCallEntry {
        LiveCallEntry {
            call_id: call_id.to_string(),
            call_sid: tenancy.call_sid,
            tenant: Some(tenancy.tenant),
            carrier: tenancy.carrier.as_str().to_string(),
            node: self.env.config.cluster.node_id.clone(),
            started_at: chrono::Utc::now(),
        }
    }

    /// Admission of `entry`'s call: this node's verdict, then the cluster's.
    /// A refusal is counted in `calls_refused_total` when `count` (a pre-warm's
    /// is not: its stream comes anyway and is refused, and counted, then).
    fn admit(&mut self, entry: &LiveCallEntry, count: bool) -> Admitting {
        let tenant = entry.tenant.clone().unwrap_or_default();
        if let Err(refusal) = self.verdict(&tenant) {
            if count {
                self.count_refusal(&refusal);
            }
            return Admitting::Decided(Err(refusal));
        }
        let Some(cluster) = self.cluster.clone() else {
            return Admitting::Decided(Ok(()));
        };
        self.pending += 1;
        let (entry, cap) = (entry.clone(), self.tenant_cap);
        let asked = async move {
            let mut request = Box::pin({
                let (cluster, entry) = (cluster.clone(), entry.clone());
                async move { cluster.admit(entry, cap).await }
            });
            // A caller must not wait on a NATS outage: past the request
            // timeout the call is admitted on this node's count (below), and
            // the request is kept to finish late rather than dropped mid-way,
            // where a slot it had taken would be held until it expired.
            match tokio::time::timeout(cluster.request_timeout(), &mut request).await {
                Ok(answer) => (cluster, entry, answer, None),
                Err(_) => {
                    let timed_out = ClusterError::timed_out("admit", &entry.call_id);
                    (cluster, entry, Err(timed_out), Some(request))
                }
            }
        };
        Admitting::Cluster(Box::pin(asked.into_actor(self).map(
            move |(cluster, entry, answer, late), act, ctx| {
                act.pending -= 1;
                if let Some(late) = late {
                    act.settle_late_admission(late, cluster.clone(), entry.call_id.clone(), ctx);
                }
                let verdict = match answer {
                    Ok(ClusterAdmission::Admitted) => Ok(()),
                    Ok(ClusterAdmission::TenantAtCapacity(cap)) => {
                        Err(AdmitError::TenantAtCapacity { tenant, cap })
                    }
                    Err(e) => {
                        // NATS is unreachable: the phone is still answered,
                        // with the per-tenant cap counted on this node alone.
                        log::warn!(
                            "call {}: cluster admission failed ({e}); admitting on this node's count",
                            entry.call_id
                        );
                        let local = act.local_tenant_verdict(&tenant);
                        if local.is_ok() {
                            cluster.hold_unregistered(entry);
                        }
                        local
                    }
                };
                match verdict {
                    Err(refusal) if count => {
                        act.count_refusal(&refusal);
                        Err(refusal)
                    }
                    other => other,
                }
            },
        )))
    }

    /// A cluster admission that outlived its timeout (the call was decided on
    /// this node's count meanwhile): a slot it takes belongs to the call while
    /// the call lasts (its `CallFinished` releases it); taken for a call that
    /// was refused or has ended, it is given back at once.
    fn settle_late_admission(
        &mut self,
        late: Pin<Box<dyn Future<Output = Result<ClusterAdmission, ClusterError>>>>,
        cluster: Cluster,
        call_id: String,
        ctx: &mut Context<Self>,
    ) {
        ctx.spawn(late.into_actor(self).map(move |answer, act, ctx| {
            let admitted = matches!(answer, Ok(ClusterAdmission::Admitted));
            if admitted && !act.calls.contains_key(&call_id) {
                log::info!("call {call_id}: late cluster admission given back");
                ctx.spawn(async move { cluster.release(&call_id).await }.into_actor(act));
            }
        }));
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
        let token = PrewarmToken::new();
        self.answered_webhooks.insert(
            call_sid.clone(),
            (Some(token.as_str().to_string()), Instant::now()),
        );
        self.prewarmed.insert(
            token.as_str().to_string(),
            Prewarmed {
                call_id,
                call_sid,
                addr,
                thread,
            },
        );
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
        let Some(call) = self.calls.get_mut(&msg.call_id) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::session_settings::SessionSettings;

    /// Records what a call's handles deliver to it.
    #[derive(Default)]
    struct Probe(Vec<String>);

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<EndCall> for Probe {
        type Result = ();
        fn handle(&mut self, msg: EndCall, _: &mut Context<Self>) {
            self.0.push(format!("end {}", msg.reason));
        }
    }

    impl Handler<ApplySessionSettings> for Probe {
        type Result = ();
        fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
            self.0.push(format!("voice {:?}", msg.0.voice));
        }
    }

    impl Handler<OperatorTransfer> for Probe {
        type Result = Result<(), String>;
        fn handle(&mut self, _: OperatorTransfer, _: &mut Context<Self>) -> Self::Result {
            Ok(())
        }
    }

    impl Handler<RestartLink> for Probe {
        type Result = ();
        fn handle(&mut self, msg: RestartLink, _: &mut Context<Self>) {
            self.0.push(format!("restart {}", msg.attempt));
        }
    }

    #[derive(Message)]
    #[rtype(result = "Vec<String>")]
    struct Seen;

    impl Handler<Seen> for Probe {
        type Result = Vec<String>;
        fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Vec<String> {
            self.0.clone()
        }
    }

    fn live_call(probe: &Addr<Probe>) -> LiveCall {
        LiveCall {
            entry: LiveCallEntry {
                call_id: "c1".into(),
                call_sid: Some("CA1".into()),
                tenant: Some("acme".into()),
                carrier: "twilio".into(),
                node: "n1".into(),
                started_at: chrono::Utc::now(),
            },
            end: probe.clone().recipient(),
            settings: probe.clone().recipient(),
            transfer: probe.clone().recipient(),
            restart: Some(probe.clone().recipient()),
            moving: None,
        }
    }

    fn messages(call: &mut LiveCall) {
        call.send(Held::Settings(ApplySessionSettings(SessionSettings {
            voice: Some("cedar".into()),
            ..SessionSettings::default()
        })));
        call.send(Held::Restart(RestartLink {
            after: Duration::ZERO,
            attempt: 1,
            cause: "test".into(),
        }));
        call.send(Held::End(EndCall {
            reason: EndReason::OperatorHangup,
            apologise: false,
        }));
    }

    /// An operator's hang-up (or a settings edit, a restart) sent while a call
    /// moves threads is held, then delivered in order to the actor the call
    /// ends up in — the new one, or the old one when the move is abandoned —
    /// and never to an actor that has gone.
    #[actix_rt::test]
    async fn messages_for_a_moving_call_reach_the_actor_it_ends_up_in() {
        let expected = ["voice Some(\"cedar\")", "restart 1", "end operator_hangup"];
        for abandoned in [false, true] {
            let old = Probe::default().start();
            let new = Probe::default().start();
            let mut call = live_call(&old);
            call.moving = Some(Vec::new());
            messages(&mut call);
            if !abandoned {
                call.take_handles(live_call(&new));
            }
            assert!(
                old.send(Seen).await.expect("old").is_empty(),
                "sent while moving"
            );
            call.settle();
            let (got, idle) = if abandoned {
                (&old, &new)
            } else {
                (&new, &old)
            };
            assert_eq!(
                got.send(Seen).await.expect("seen"),
                expected,
                "abandoned {abandoned}"
            );
            assert!(idle.send(Seen).await.expect("idle").is_empty());
            // Settled: later messages go straight through.
            call.send(Held::End(EndCall {
                reason: EndReason::OperatorHangup,
                apologise: false,
            }));
            assert_eq!(got.send(Seen).await.expect("seen").len(), 4);
        }
    }

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
