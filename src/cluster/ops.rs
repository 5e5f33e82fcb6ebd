//! Operator actions across nodes: an action on a call carried by another node
//! goes to that node by NATS request/reply on `<name>.node.<node_id>.operate`
//! (JSON [`OperateCall`]); the node applies it through its Supervisor and
//! answers `{"found":bool}`. A dead or silent node is "not found" after at
//! most `request_timeout_ms`.

use actix::Recipient;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};
use crate::messages::OperateCall;

/// The answer to an [`OperateCall`] request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperateReply {
    /// The node carries the call and applied the action.
    pub found: bool,
}

impl Cluster {
    fn operate_subject(&self, node: &str) -> String {
        self.subject(&["node", node, "operate"])
    }

    /// Sends `op` to `node`; `Ok(false)` when the node does not carry the call,
    /// is gone (no responder) or does not answer within the request timeout.
    ///
    /// # Errors
    /// [`ClusterError::Value`] when the request cannot be encoded.
    pub async fn operate_on(&self, node: &str, op: &OperateCall) -> Result<bool, ClusterError> {
        let payload = serde_json::to_vec(op).map_err(|source| ClusterError::Value {
            key: op.call_id.clone(),
            source,
        })?;
        let request = self
            .client()
            .request(self.operate_subject(node), payload.into());
        match tokio::time::timeout(self.request_timeout(), request).await {
            Ok(Ok(reply)) => Ok(serde_json::from_slice::<OperateReply>(&reply.payload)
                .map(|r| r.found)
                .unwrap_or(false)),
            Ok(Err(e)) => {
                log::info!(
                    "call {}: node {node} did not take the action: {e}",
                    op.call_id
                );
                Ok(false)
            }
            Err(_) => {
                log::warn!("call {}: node {node} did not answer in time", op.call_id);
                Ok(false)
            }
        }
    }
}

/// Answers operator actions other nodes send to this one by applying them
/// through `target` (the Supervisor). Runs until the NATS connection closes.
///
/// # Errors
/// [`ClusterError::Bus`] when the subscription cannot be made.
pub async fn serve_operations(
    cluster: Cluster,
    target: Recipient<OperateCall>,
) -> Result<(), ClusterError> {
    let subject = cluster.operate_subject(cluster.node_id());
    let mut requests = cluster.subscribe(subject.clone()).await?;
    while let Some(request) = requests.next().await {
        let Some(reply_to) = request.reply.clone() else {
            continue;
        };
        let found = match serde_json::from_slice::<OperateCall>(&request.payload) {
            Ok(op) => target.send(op).await.unwrap_or(false),
            Err(e) => {
                log::warn!("cluster: unreadable operator action on {subject}: {e}");
                false
            }
        };
        let answer = serde_json::to_vec(&OperateReply { found }).unwrap_or_default();
        if let Err(e) = cluster.client().publish(reply_to, answer.into()).await {
            log::warn!("cluster: operator action answer not sent: {e}");
        }
    }
    Ok(())
}
