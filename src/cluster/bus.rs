//! Plain NATS publish/subscribe between nodes (no JetStream): every message a
//! node publishes carries its node id in the [`ORIGIN_HEADER`] header, so a
//! subscriber on a subject every node publishes on can skip its own node's,
//! and is signed under the cluster secret ([`super::sign`]); a receiver acts
//! only on messages that check.
//! Used by the live-event relay ([`super::events`]) and the Node-client
//! notices ([`super::clients`]). Nothing here is stored: a node that is not
//! subscribed when a message passes never sees it.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::{Cluster, ClusterError};

/// The header naming the node a message comes from (`cluster.node_id`).
pub const ORIGIN_HEADER: &str = "Switchboard-Node";

/// `value` as one NATS subject token: every character other than an ASCII
/// letter, digit, `-` or `_` (dots, spaces and the wildcards `*` `>` among
/// them) becomes `_`; empty becomes `_`. Subjects built from it only route
/// messages; receivers read ids from the payload, never back from the subject.
pub fn subject_token(value: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if value.is_empty() {
        Cow::Borrowed("_")
    } else if value.chars().all(ok) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.chars().map(|c| if ok(c) { c } else { '_' }).collect())
    }
}

impl Cluster {
    /// Publishes `payload` on `subject` with this node in [`ORIGIN_HEADER`].
    /// Returns once the message is queued on the connection, not when another
    /// node has it.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when the subject is invalid, the payload exceeds
    /// the server's limit or the connection is closed.
    pub async fn publish(&self, subject: String, payload: Bytes) -> Result<(), ClusterError> {
        let headers = self.signed_headers(&subject, &payload);
        self.client()
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|e| ClusterError::bus("publish", &subject, e))
    }

    /// Publishes `value` as JSON on `subject` (see [`Cluster::publish`]).
    ///
    /// # Errors
    /// [`ClusterError::Value`] when `value` does not encode;
    /// [`ClusterError::Bus`] as for [`Cluster::publish`].
    pub async fn publish_json<T: serde::Serialize>(
        &self,
        subject: String,
        value: &T,
    ) -> Result<(), ClusterError> {
        let payload = serde_json::to_vec(value).map_err(|source| ClusterError::Value {
            key: subject.clone(),
            source,
        })?;
        self.publish(subject, payload.into()).await
    }

    /// Subscribes to `subject` (wildcards allowed) and waits until the server
    /// has the subscription, so nothing published after this returns is missed.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when NATS refuses or does not answer.
    pub async fn subscribe(&self, subject: String) -> Result<Subscription, ClusterError> {
        let subscriber = self
            .client()
            .subscribe(subject.clone())
            .await
            .map_err(|e| ClusterError::bus("subscribe", &subject, e))?;
        self.client()
            .flush()
            .await
            .map_err(|e| ClusterError::bus("flush", &subject, e))?;
        Ok(Subscription(Some(subscriber)))
    }
}

/// A NATS subscription (a stream of its messages) that may be dropped
/// anywhere. async-nats unsubscribes from its subscriber's `Drop` with
/// `tokio::spawn`, which panics where no Tokio runtime is current — as when a
/// runtime shutting down drops the task holding it (the end of an in-process
/// test, an arbiter stopping). Dropped there, the subscriber is leaked
/// instead: its connection is going away with that runtime.
pub struct Subscription(Option<async_nats::Subscriber>);

impl Stream for Subscription {
    type Item = async_nats::Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.0.as_mut() {
            Some(subscriber) => subscriber.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(subscriber) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                std::mem::forget(subscriber);
            }
        }
    }
}

impl Cluster {
    /// The headers of a message of this node on `subject` with `payload`:
    /// origin, time and signature ([`super::sign`]).
    pub(crate) fn signed_headers(&self, subject: &str, payload: &[u8]) -> HeaderMap {
        self.inner.signer.headers(subject, self.node_id(), payload)
    }

    /// The node that sent the live `message` when it is signed by a node of
    /// this cluster, fresh and not a replay; otherwise `None`, and the drop
    /// is logged (rate-limited, without the payload).
    pub(crate) fn verified_origin(&self, message: &async_nats::Message) -> Option<String> {
        let signer = &self.inner.signer;
        match signer.check_live(
            message.subject.as_str(),
            message.headers.as_ref(),
            &message.payload,
        ) {
            Ok(node) => Some(node),
            Err(why) => {
                signer.dropped(message.subject.as_str(), why);
                None
            }
        }
    }

    /// The origin node and JSON payload of `message`, unless it is not
    /// signed by a node of this cluster ([`Cluster::verified_origin`]), comes
    /// from this node or is unreadable.
    pub(crate) fn read_foreign<T: serde::de::DeserializeOwned>(
        &self,
        message: &async_nats::Message,
    ) -> Option<(String, T)> {
        let node = self.verified_origin(message)?;
        if node == self.node_id() {
            return None;
        }
        match serde_json::from_slice(&message.payload) {
            Ok(value) => Some((node, value)),
            Err(e) => {
                log::debug!("cluster: unreadable message on {}: {e}", message.subject);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tokens_keep_key_characters_and_replace_the_rest() {
        assert_eq!(subject_token("acme-dental_2"), "acme-dental_2");
        assert_eq!(subject_token("a.b c*>"), "a_b_c__");
        assert_eq!(subject_token(""), "_");
    }
}
