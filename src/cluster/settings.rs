//! Tenant session settings across nodes: an operator's
//! `PUT /api/tenants/{id}/session` is stored in the shared database (with an
//! edit count, `tenants.session_version`) and announced on
//! `<name>.settings.<tenant>` ([`SessionNotice`]); every other node then
//! reads the tenant's settings back from the database (never from the
//! notice) and applies them to the calls it starts from then on. A node (re)starting reads the
//! stored settings, so one that missed a notice is current after a restart.

use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::bus::subject_token;
use super::{Cluster, ClusterError};
use crate::session_settings::{SessionOverrides, SessionSettings};
use crate::store::Pool;

/// A tenant's session settings after an edit (JSON on `<name>.settings.<tenant>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionNotice {
    pub tenant_id: String,
    /// `tenants.session_version` of the edit (informative: receivers read
    /// the stored version).
    pub version: i64,
    pub settings: SessionSettings,
}

impl Cluster {
    /// Publishes `notice` on `<name>.settings.<tenant>`.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when the connection is closed.
    pub async fn announce_session(&self, notice: &SessionNotice) -> Result<(), ClusterError> {
        let subject = self.subject(&["settings", &subject_token(&notice.tenant_id)]);
        self.publish_json(subject, notice).await
    }
}

/// Subscribes to the other nodes' [`SessionNotice`]s; the returned future
/// runs until the NATS connection closes. A notice is only a cue: its
/// settings and version are never used. On each (signed by a node of the
/// cluster) the node re-reads the tenant's stored settings from `pool`, the
/// shared database and the truth, validates them and holds them when their
/// stored version is newer than the held one. The subscription is made
/// before this returns, so no notice published afterwards is missed.
///
/// # Errors
/// [`ClusterError::Bus`] when the subscription fails.
pub async fn follow_sessions(
    cluster: &Cluster,
    overrides: Arc<SessionOverrides>,
    pool: Pool,
) -> Result<impl std::future::Future<Output = ()>, ClusterError> {
    let mut notices = cluster
        .subscribe(cluster.subject(&["settings", "*"]))
        .await?;
    let cluster = cluster.clone();
    Ok(async move {
        while let Some(message) = notices.next().await {
            let Some((node, notice)) = cluster.read_foreign::<SessionNotice>(&message) else {
                continue;
            };
            let tenant_id = notice.tenant_id;
            let pool = pool.clone();
            let read = {
                let tenant_id = tenant_id.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
                    crate::store::tenants::session_of(&mut conn, &tenant_id)
                })
                .await
            };
            let stored = match read {
                Ok(Ok(Some(stored))) => stored,
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => {
                    log::warn!("tenant {tenant_id}: settings edit on node {node} not read back: {e}; this node has it at its restart");
                    continue;
                }
                Err(e) => {
                    log::warn!("tenant {tenant_id}: settings read task failed: {e}");
                    continue;
                }
            };
            let settings = match serde_json::from_str::<SessionSettings>(&stored.json) {
                Ok(settings) if settings.validate().is_ok() => settings,
                _ => {
                    log::warn!("tenant {tenant_id}: stored session settings unreadable or invalid; not applied");
                    continue;
                }
            };
            if overrides.apply(&tenant_id, settings, stored.version) {
                log::info!(
                    "tenant {tenant_id}: session settings edited on node {node} (edit {})",
                    stored.version
                );
            }
        }
        log::warn!("cluster: settings notices ended; other nodes' tenant edits reach this node at its restart");
    })
}
