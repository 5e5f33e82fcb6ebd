//! The cluster's live-call registry: one key per call (its id) in
//! `<name>_calls`, written by the node carrying the call when it is admitted,
//! refreshed every heartbeat, deleted when the call ends, expiring
//! `lease_secs` after its node dies. `GET /api/calls/live` on any node lists it.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};

/// Keys read at once when listing the registry.
const LIST_CONCURRENCY: usize = 32;

/// One live call as the cluster sees it (JSON in the registry and in
/// `GET /api/calls/live`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveCallEntry {
    /// switchboard's call id (UUID).
    pub call_id: String,
    /// The carrier's call id (Twilio `CA…`, jambonz call_sid), when it has one.
    pub call_sid: Option<String>,
    pub tenant: Option<String>,
    /// `twilio`, `browser` or `jambonz`.
    pub carrier: String,
    /// The node carrying the call (`cluster.node_id`).
    pub node: String,
    pub started_at: DateTime<Utc>,
}

impl LiveCallEntry {
    pub(crate) fn to_bytes(&self) -> Result<Bytes, ClusterError> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|source| ClusterError::Value {
                key: self.call_id.clone(),
                source,
            })
    }
}

impl Cluster {
    /// Writes (or refreshes) a call's registry entry.
    pub(crate) async fn put_entry(&self, entry: &LiveCallEntry) -> Result<(), ClusterError> {
        self.inner
            .calls
            .put(&entry.call_id, entry.to_bytes()?)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::kv("put", &entry.call_id, e))
    }

    /// Removes a call's registry entry.
    pub(crate) async fn delete_entry(&self, call_id: &str) {
        if let Err(e) = self.inner.calls.delete(call_id).await {
            log::debug!("call {call_id}: registry entry not deleted ({e}); it expires");
        }
    }

    /// The entry of live call `call_id`, if its node is alive.
    ///
    /// # Errors
    /// [`ClusterError::Kv`] when NATS does not answer.
    pub async fn find_call(&self, call_id: &str) -> Result<Option<LiveCallEntry>, ClusterError> {
        let Some(bytes) = self
            .inner
            .calls
            .get(call_id)
            .await
            .map_err(|e| ClusterError::kv("get", call_id, e))?
        else {
            return Ok(None);
        };
        let entry: LiveCallEntry =
            serde_json::from_slice(&bytes).map_err(|source| ClusterError::Value {
                key: call_id.to_string(),
                source,
            })?;
        let alive = self.live_nodes().await?;
        Ok(alive
            .iter()
            .any(|n| n.node_id == entry.node)
            .then_some(entry))
    }

    /// Every live call of every live node, oldest first.
    ///
    /// # Errors
    /// [`ClusterError::Kv`] when NATS does not answer.
    pub async fn live_calls(&self) -> Result<Vec<LiveCallEntry>, ClusterError> {
        let alive = self.live_nodes().await?;
        let store = &self.inner.calls;
        let keys: Vec<String> = match store.keys().await {
            Ok(keys) => keys.filter_map(|k| async move { k.ok() }).collect().await,
            Err(e) => return Err(ClusterError::kv("keys", "calls", e)),
        };
        let mut entries: Vec<LiveCallEntry> = futures_util::stream::iter(keys)
            .map(|key| async move { store.get(&key).await.ok().flatten() })
            .buffer_unordered(LIST_CONCURRENCY)
            .filter_map(|bytes| async move {
                bytes.and_then(|b| serde_json::from_slice::<LiveCallEntry>(&b).ok())
            })
            .collect()
            .await;
        entries.retain(|e| alive.iter().any(|n| n.node_id == e.node));
        entries.sort_by_key(|e| e.started_at);
        Ok(entries)
    }
}
