//! Operator actions across nodes: an action on a call carried by another node
//! goes to that node by NATS request/reply on `<name>.node.<node_id>.operate`
//! (JSON [`OperateCall`]); the node applies it through its Supervisor and
//! answers with the JSON [`OperateOutcome`]. Requests and answers are signed
//! ([`super::sign`]); a node acts only on a signed request on its own subject
//! and trusts only a signed answer from the node it asked. A dead or silent
//! node is "not found" after at most `request_timeout_ms`.

use actix::Recipient;
use futures_util::StreamExt as _;

use super::{Cluster, ClusterError};
use crate::actor_messages::{OperateCall, OperateOutcome};

impl Cluster {
    fn operate_subject(&self, node: &str) -> String {
        self.subject(&["node", node, "operate"])
    }

    /// Sends `op` to `node`; its answer, or [`OperateOutcome::NotFound`] when
    /// the node is gone (no responder), answers garbage or does not answer
    /// within the request timeout.
    ///
    /// # Errors
    /// [`ClusterError::Value`] when the request cannot be encoded.
    pub async fn operate_on(
        &self,
        node: &str,
        op: &OperateCall,
    ) -> Result<OperateOutcome, ClusterError> {
        let payload = serde_json::to_vec(op).map_err(|source| ClusterError::Value {
            key: op.call_id.clone(),
            source,
        })?;
        let subject = self.operate_subject(node);
        let headers = self.signed_headers(&subject, &payload);
        let request = self
            .client()
            .request_with_headers(subject, headers, payload.into());
        match tokio::time::timeout(self.request_timeout(), request).await {
            // Only the node asked may answer, signed.
            Ok(Ok(reply)) if self.verified_origin(&reply).as_deref() != Some(node) => {
                log::warn!(
                    "call {}: an unsigned answer for node {node} was dropped",
                    op.call_id
                );
                Ok(OperateOutcome::NotFound)
            }
            Ok(Ok(reply)) => Ok(serde_json::from_slice::<OperateOutcome>(&reply.payload)
                .unwrap_or_else(|e| {
                    log::warn!("call {}: node {node} answered garbage: {e}", op.call_id);
                    OperateOutcome::NotFound
                })),
            Ok(Err(e)) => {
                log::info!(
                    "call {}: node {node} did not take the action: {e}",
                    op.call_id
                );
                Ok(OperateOutcome::NotFound)
            }
            Err(_) => {
                log::warn!("call {}: node {node} did not answer in time", op.call_id);
                Ok(OperateOutcome::NotFound)
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
        // Signed by a node of the cluster for this node's subject (the
        // signature covers the subject): anything else is dropped unanswered.
        if cluster.verified_origin(&request).is_none() {
            continue;
        }
        let outcome = match serde_json::from_slice::<OperateCall>(&request.payload) {
            Ok(op) => target.send(op).await.unwrap_or(OperateOutcome::NotFound),
            Err(e) => {
                log::warn!("cluster: unreadable operator action on {subject}: {e}");
                OperateOutcome::Refused {
                    error: format!("unreadable operator action: {e}"),
                }
            }
        };
        let answer = serde_json::to_vec(&outcome).unwrap_or_default();
        let headers = cluster.signed_headers(reply_to.as_str(), &answer);
        if let Err(e) = cluster
            .client()
            .publish_with_headers(reply_to, headers, answer.into())
            .await
        {
            log::warn!("cluster: operator action answer not sent: {e}");
        }
    }
    Ok(())
}
