//! Cluster-wide per-tenant admission: `calls.max_calls_per_tenant` slots per
//! tenant, one JetStream KV key each (`<tenant>.<slot>` in `<name>_leases`).
//! A call takes a free slot with a create (compare-and-set on "no value"), so
//! two nodes racing for the last slot cannot both win; the holder refreshes it
//! with a compare-and-set update every heartbeat and deletes it when the call
//! ends. A dead holder's slot expires with the bucket's `max_age`
//! (`lease_secs`), or sooner when a survivor sweeps the dead node.

use async_nats::jetstream::kv;
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};

/// A held admission slot: its key and the revision this node last wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub revision: u64,
}

/// The value of a slot key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlotHolder {
    pub call_id: String,
    pub node: String,
}

/// Slots tried at once.
const SLOT_BATCH: usize = 8;

/// How many times a slot whose last value is a delete marker is retried when
/// another node wins the race to re-create it.
const CREATE_ATTEMPTS: usize = 3;

impl Cluster {
    /// Takes one of `tenant`'s `cap` slots for `call_id`: `Some(lease)`, or
    /// `None` when all `cap` are held (the cap is reached cluster-wide). Slots
    /// are tried from a random one on, so racing nodes rarely collide.
    ///
    /// # Errors
    /// [`ClusterError::Kv`] when NATS does not answer.
    pub async fn acquire_slot(
        &self,
        tenant: &str,
        call_id: &str,
        cap: usize,
    ) -> Result<Option<Lease>, ClusterError> {
        let value = serde_json::to_vec(&SlotHolder {
            call_id: call_id.to_string(),
            node: self.node_id().to_string(),
        })
        .map(Bytes::from)
        .map_err(|source| ClusterError::Value {
            key: tenant.to_string(),
            source,
        })?;
        let first = rand::thread_rng().gen_range(0..cap.max(1));
        let order: Vec<String> = (0..cap)
            .map(|i| slot_key(tenant, (first + i) % cap))
            .collect();
        // A batch of slots at once: a nearly full tenant costs cap / batch
        // round trips, not cap. Extra slots won in a batch are given back.
        for batch in order.chunks(SLOT_BATCH) {
            let tries = batch.iter().map(|key| {
                let value = value.clone();
                async move { (key, self.create_slot(key, value).await) }
            });
            let mut won: Option<Lease> = None;
            let mut failure = None;
            for (key, result) in futures_util::future::join_all(tries).await {
                match result {
                    Ok(Some(revision)) if won.is_none() => {
                        won = Some(Lease {
                            key: key.clone(),
                            revision,
                        })
                    }
                    Ok(Some(revision)) => {
                        self.release_slot(&Lease {
                            key: key.clone(),
                            revision,
                        })
                        .await
                    }
                    Ok(None) => {}
                    Err(e) => failure = Some(e),
                }
            }
            if won.is_some() {
                return Ok(won);
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        Ok(None)
    }

    /// `Some(revision)` when this node created `key`; `None` when it is held.
    async fn create_slot(&self, key: &str, value: Bytes) -> Result<Option<u64>, ClusterError> {
        let store = &self.inner.leases;
        for _ in 0..CREATE_ATTEMPTS {
            match store.create(key, value.clone()).await {
                Ok(revision) => return Ok(Some(revision)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return Ok(None),
                Err(e) => {
                    // A lost compare-and-set on a deleted slot: someone else
                    // re-created it first, or it was freed again meanwhile.
                    match store.entry(key).await {
                        Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                            return Ok(None)
                        }
                        Ok(_) => continue,
                        Err(_) => return Err(ClusterError::kv("create", key, e)),
                    }
                }
            }
        }
        Ok(None)
    }

    /// Refreshes a held slot (compare-and-set on its revision); the new lease,
    /// or `None` when the slot is no longer ours (it expired and was taken).
    pub(crate) async fn refresh_slot(&self, lease: &Lease, call_id: &str) -> Option<Lease> {
        let value = serde_json::to_vec(&SlotHolder {
            call_id: call_id.to_string(),
            node: self.node_id().to_string(),
        })
        .ok()?;
        match self
            .inner
            .leases
            .update(&lease.key, value.into(), lease.revision)
            .await
        {
            Ok(revision) => Some(Lease {
                key: lease.key.clone(),
                revision,
            }),
            Err(e) => {
                log::warn!("call {call_id}: admission slot {} lost: {e}", lease.key);
                None
            }
        }
    }

    /// Frees a slot this node holds (only if still at our revision).
    pub(crate) async fn release_slot(&self, lease: &Lease) {
        if let Err(e) = self
            .inner
            .leases
            .delete_expect_revision(&lease.key, Some(lease.revision))
            .await
        {
            log::debug!("admission slot {}: not freed ({e}); it expires", lease.key);
        }
    }
}

/// `<tenant>.<slot>`.
fn slot_key(tenant: &str, slot: usize) -> String {
    format!("{tenant}.{slot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keys_are_tenant_dot_index() {
        assert_eq!(slot_key("acme-dental", 3), "acme-dental.3");
    }
}
