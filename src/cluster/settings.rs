//! Tenant session settings across nodes: an operator's
//! `PUT /api/tenants/{id}/session` is stored in the shared database (with an
//! edit count, `tenants.session_version`) and announced on
//! `<name>.settings.<tenant>` ([`SessionNotice`]); every other node applies
//! it to the calls it starts from then on. A node (re)starting reads the
//! stored settings, so one that missed a notice is current after a restart.

use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::bus::{read_foreign, subject_token};
use super::{Cluster, ClusterError};
use crate::session_settings::{SessionOverrides, SessionSettings};

/// A tenant's session settings after an edit (JSON on `<name>.settings.<tenant>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionNotice {
    pub tenant_id: String,
    /// `tenants.session_version` of the edit: a node keeps the newest.
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
/// applies each to `overrides` (newer versions only) until the NATS
/// connection closes. The subscription is made before this returns, so no
/// notice published afterwards is missed.
///
/// # Errors
/// [`ClusterError::Bus`] when the subscription fails.
pub async fn follow_sessions(
    cluster: &Cluster,
    overrides: Arc<SessionOverrides>,
) -> Result<impl std::future::Future<Output = ()>, ClusterError> {
    let mut notices = cluster
        .subscribe(cluster.subject(&["settings", "*"]))
        .await?;
    let own = cluster.node_id().to_string();
    Ok(async move {
        while let Some(message) = notices.next().await {
            if let Some((node, notice)) = read_foreign::<SessionNotice>(&own, &message) {
                if overrides.apply(&notice.tenant_id, notice.settings, notice.version) {
                    log::info!(
                        "tenant {}: session settings from node {node} (edit {})",
                        notice.tenant_id,
                        notice.version
                    );
                }
            }
        }
        log::warn!("cluster: settings notices ended; other nodes' tenant edits reach this node at its restart");
    })
}
