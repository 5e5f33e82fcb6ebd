//! Admission: this node's verdict (draining, `calls.max_calls`, the per-tenant
//! cap) and, when clustered, the cluster's (a tenant slot and the live-call
//! registry entry) — answered on this node's count when NATS does not answer in
//! time, so a caller never waits on an outage.

use std::future::Future;
use std::pin::Pin;

use actix::prelude::*;

use super::Supervisor;
use crate::call_tree::call::env::CallTenancy;
use crate::cluster::node::ClusterAdmission;
use crate::cluster::{Cluster, ClusterError, LiveCallEntry};
use crate::lifecycle::Refusal;

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

/// An admission still being decided by the cluster.
type ClusterVerdict = Pin<Box<dyn ActorFuture<Supervisor, Output = Result<(), AdmitError>>>>;

/// How a call's admission is decided.
pub(super) enum Admitting {
    /// Here and now (single node, or refused before asking the cluster).
    Decided(Result<(), AdmitError>),
    /// By the cluster (a tenant slot and the registry entry), later.
    Cluster(ClusterVerdict),
}

impl Supervisor {
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

    pub(super) fn count_refusal(&self, refusal: &AdmitError) {
        self.env
            .metrics
            .calls_refused
            .with_label_values(&[refusal.reason().metric_label()])
            .inc();
    }

    /// The registry entry of a call about to be admitted here.
    pub(super) fn entry_for(&self, call_id: &str, tenancy: CallTenancy) -> LiveCallEntry {
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
    pub(super) fn admit(&mut self, entry: &LiveCallEntry, count: bool) -> Admitting {
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
}
