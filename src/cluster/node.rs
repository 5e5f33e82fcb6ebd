//! This node in the cluster: its liveness key, the calls and admission slots
//! it holds, and the heartbeat that refreshes them and sweeps dead nodes.
//!
//! Every `heartbeat_secs` a node (1) rewrites its key in `<name>_nodes`,
//! (2) refreshes the registry entry and the admission slot of each of its
//! calls, and (3) closes, in the shared database, every call still
//! `in_progress` whose node is not alive (its key expired `lease_secs` after
//! its last heartbeat): the audio of a dead node's calls is gone with it, so
//! they end `interrupted`. Any node may sweep; the update is idempotent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError, Lease, LiveCallEntry};
use crate::lifecycle::EndReason;
use crate::store::Pool;

/// Registry entries and slots refreshed at once per heartbeat.
const REFRESH_CONCURRENCY: usize = 32;

/// What a node holds for one of its calls.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    entry: LiveCallEntry,
    lease: Option<Lease>,
}

/// A node's liveness value (JSON in `<name>_nodes`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeInfo {
    pub node_id: String,
    /// Where the node serves HTTP (`server.bind` as bound).
    pub addr: String,
    pub started_at: DateTime<Utc>,
    /// When it last wrote this value.
    pub seen_at: DateTime<Utc>,
    /// Draining: it takes no new calls.
    pub draining: bool,
    /// Calls it carries.
    pub calls: usize,
}

/// The admission answer of [`Cluster::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterAdmission {
    Admitted,
    /// The tenant's `cap` calls are in progress across the cluster.
    TenantAtCapacity(usize),
}

impl Cluster {
    /// Admits `entry`'s call cluster-wide: takes a slot of its tenant when
    /// `cap` is set, then registers the call. The call is then this node's to
    /// refresh until [`Cluster::release`].
    ///
    /// # Errors
    /// [`ClusterError`] when NATS does not answer (nothing is held then).
    pub async fn admit(
        &self,
        entry: LiveCallEntry,
        cap: Option<usize>,
    ) -> Result<ClusterAdmission, ClusterError> {
        let lease = match (cap, entry.tenant.as_deref()) {
            (Some(cap), Some(tenant)) => {
                match self.acquire_slot(tenant, &entry.call_id, cap).await? {
                    Some(lease) => Some(lease),
                    None => return Ok(ClusterAdmission::TenantAtCapacity(cap)),
                }
            }
            _ => None,
        };
        if let Err(e) = self.put_entry(&entry).await {
            if let Some(lease) = &lease {
                self.release_slot(lease).await;
            }
            return Err(e);
        }
        self.held()
            .insert(entry.call_id.clone(), Held { entry, lease });
        Ok(ClusterAdmission::Admitted)
    }

    /// Registers a call admitted without the cluster (NATS was unreachable at
    /// admission): it is listed and refreshed from the next heartbeat on.
    pub fn hold_unregistered(&self, entry: LiveCallEntry) {
        self.held()
            .insert(entry.call_id.clone(), Held { entry, lease: None });
    }

    /// Frees the call's slot and registry entry (the call ended).
    pub async fn release(&self, call_id: &str) {
        let held = self.held().remove(call_id);
        if let Some(held) = held {
            if let Some(lease) = &held.lease {
                self.release_slot(lease).await;
            }
            self.delete_entry(call_id).await;
        }
    }

    /// Every node whose key is present and fresh (written within `lease_secs`).
    ///
    /// # Errors
    /// [`ClusterError::Kv`] when NATS does not answer.
    pub async fn live_nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let store = &self.inner.nodes;
        let keys: Vec<String> = match store.keys().await {
            Ok(keys) => keys.filter_map(|k| async move { k.ok() }).collect().await,
            Err(e) => return Err(ClusterError::kv("keys", "nodes", e)),
        };
        let lease = chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::MAX);
        let now = Utc::now();
        let mut nodes = Vec::with_capacity(keys.len());
        for key in keys {
            let bytes = store
                .get(&key)
                .await
                .map_err(|e| ClusterError::kv("get", &key, e))?;
            if let Some(node) = bytes.and_then(|b| serde_json::from_slice::<NodeInfo>(&b).ok()) {
                if now - node.seen_at <= lease {
                    nodes.push(node);
                }
            }
        }
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(nodes)
    }

    async fn announce(&self, info: &NodeInfo) -> Result<(), ClusterError> {
        let bytes = serde_json::to_vec(info)
            .map(Bytes::from)
            .map_err(|source| ClusterError::Value {
                key: info.node_id.clone(),
                source,
            })?;
        self.inner
            .nodes
            .put(&info.node_id, bytes)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::kv("put", &info.node_id, e))
    }

    /// Removes this node's key (clean shutdown): the others see it gone at once.
    pub async fn leave(&self) {
        let _ = self.inner.nodes.delete(self.node_id()).await;
    }

    /// Refreshes every registry entry and slot this node holds.
    async fn refresh_held(&self) {
        let held: Vec<(String, Held)> = self
            .held()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let refreshed: Vec<(String, Option<Lease>)> = futures_util::stream::iter(held)
            .map(|(call_id, held)| async move {
                if let Err(e) = self.put_entry(&held.entry).await {
                    log::warn!("call {call_id}: registry entry not refreshed: {e}");
                }
                let lease = match &held.lease {
                    Some(lease) => self.refresh_slot(lease, &call_id).await,
                    None => None,
                };
                (call_id, lease)
            })
            .buffer_unordered(REFRESH_CONCURRENCY)
            .collect()
            .await;
        // A call released while its refresh was in flight: its delete may
        // have come before our put, or used the revision our update replaced,
        // so the entry and slot are removed again here (else they would stay
        // until `lease_secs` expire them).
        let mut released = Vec::new();
        {
            let mut map = self.held();
            for (call_id, lease) in refreshed {
                match map.get_mut(&call_id) {
                    Some(held) => held.lease = lease,
                    None => released.push((call_id, lease)),
                }
            }
        }
        for (call_id, lease) in released {
            if let Some(lease) = lease {
                self.release_slot(&lease).await;
            }
            self.delete_entry(&call_id).await;
        }
    }

    /// Number of calls this node holds.
    pub fn held_calls(&self) -> usize {
        self.held().len()
    }
}

/// Writes this node's key for the first time, before it takes calls (a
/// survivor's sweep must never see a call of a node it does not know).
///
/// # Errors
/// [`ClusterError::Kv`] when NATS does not answer.
pub async fn join(cluster: &Cluster, addr: &str) -> Result<DateTime<Utc>, ClusterError> {
    let started_at = Utc::now();
    cluster
        .announce(&NodeInfo {
            node_id: cluster.node_id().to_string(),
            addr: addr.to_string(),
            started_at,
            seen_at: started_at,
            draining: false,
            calls: 0,
        })
        .await?;
    Ok(started_at)
}

/// Every heartbeat: re-announces this node (joined at `started_at`),
/// refreshes what it holds and closes dead nodes' calls in `pool`. Runs until
/// the process ends; errors are logged and retried next beat.
pub async fn run_heartbeat(
    cluster: Cluster,
    pool: Pool,
    addr: String,
    started_at: DateTime<Utc>,
    draining: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(cluster.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sweeping = Arc::new(AtomicBool::new(false));
    loop {
        tick.tick().await;
        let info = NodeInfo {
            node_id: cluster.node_id().to_string(),
            addr: addr.clone(),
            started_at,
            seen_at: Utc::now(),
            draining: draining.load(Ordering::Relaxed),
            calls: cluster.held_calls(),
        };
        if let Err(e) = cluster.announce(&info).await {
            log::warn!("cluster: heartbeat failed: {e}");
            continue;
        }
        cluster.refresh_held().await;
        // The sweep waits on the database (up to the pool's timeout in an
        // outage): it runs beside the heartbeat, never delaying it past the
        // lease, and one at a time.
        if !sweeping.swap(true, Ordering::AcqRel) {
            let (cluster, pool, sweeping) = (cluster.clone(), pool.clone(), sweeping.clone());
            actix_rt::spawn(async move {
                if let Err(e) = sweep(&cluster, &pool).await {
                    log::warn!("cluster: sweep failed: {e}");
                }
                sweeping.store(false, Ordering::Release);
            });
        }
    }
}

/// Closes, as `interrupted`, every in-progress call of a node that is not alive.
async fn sweep(cluster: &Cluster, pool: &Pool) -> Result<(), ClusterError> {
    let alive: Vec<String> = cluster
        .live_nodes()
        .await?
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    if !alive.iter().any(|n| n == cluster.node_id()) {
        // Our own key is not visible yet: sweeping now could close our calls.
        return Ok(());
    }
    let pool = pool.clone();
    let closed = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
        crate::store::calls::close_orphaned(&mut conn, &EndReason::Interrupted.to_string(), &alive)
    })
    .await;
    match closed {
        Ok(Ok(ids)) if !ids.is_empty() => {
            for id in &ids {
                log::warn!("call {id}: its node stopped heart-beating; closed as interrupted");
            }
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.is_unreachable() => {
            log::debug!("cluster: closing dead nodes' calls deferred: {e}")
        }
        Ok(Err(e)) => log::warn!("cluster: closing dead nodes' calls failed: {e}"),
        Err(e) => log::warn!("cluster: sweep task failed: {e}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::ClusterConfig;

    /// Needs the NATS server (JetStream) on 127.0.0.1:4222, as the cluster
    /// integration tests do; `.ci/run` starts one when absent.
    async fn cluster() -> Cluster {
        let config = ClusterConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            name: format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            // Long enough that expiry cannot hide a slot or entry left behind.
            lease_secs: 60,
            secret: Some("unit-test-cluster-secret-0123456789".into()),
            ..ClusterConfig::default()
        };
        Cluster::connect(&config, "n1")
            .await
            .expect("NATS on 127.0.0.1:4222")
    }

    fn entry(call_id: &str) -> LiveCallEntry {
        LiveCallEntry {
            call_id: call_id.into(),
            call_sid: None,
            tenant: Some("acme".into()),
            carrier: "twilio".into(),
            node: "n1".into(),
            started_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_release_racing_a_heartbeat_leaves_no_entry_and_frees_the_slot() {
        let cluster = cluster().await;
        for i in 0..80u64 {
            let call_id = format!("call-{i}");
            let admitted = cluster
                .admit(entry(&call_id), Some(1))
                .await
                .expect("admit");
            assert_eq!(
                admitted,
                ClusterAdmission::Admitted,
                "slot still held at {i}"
            );
            // The call ends while a heartbeat refreshes it, at shifting
            // offsets: the release later (first half), then the refresh.
            let offset = Duration::from_micros((i % 40) * 100);
            let (release_after, refresh_after) = if i < 40 {
                (offset, Duration::ZERO)
            } else {
                (Duration::ZERO, offset)
            };
            let release = async {
                tokio::time::sleep(release_after).await;
                cluster.release(&call_id).await;
            };
            let refresh = async {
                tokio::time::sleep(refresh_after).await;
                cluster.refresh_held().await;
            };
            tokio::join!(refresh, release);
            let live = cluster.live_calls().await.expect("live calls");
            assert!(live.is_empty(), "entry left behind at {i}: {live:?}");
        }
    }
}
