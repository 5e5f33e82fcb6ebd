//! Node clients across nodes: what the message routers of a cluster tell each
//! other so that a `send_sms_response`/`send_email_response` stored on any
//! node reaches the tenant's Node client wherever it is connected.
//!
//! - `<name>.clients.<node>`: a node's registered Node sessions (id, tenants,
//!   connected since), published on every change and every heartbeat. Each
//!   router keeps the other nodes' lists ([`SessionsAnnounce`]) and delivers a
//!   tenant's responses only while it holds that tenant's newest session
//!   cluster-wide, as a single node delivers to its newest session only.
//! - `<name>.outbox.<tenant>`: an `outbox` row of the tenant was stored
//!   ([`OutboxNotice`]). The node holding the tenant's newest session then
//!   pushes the tenant's pending rows from the shared database, in `seq`
//!   order; the client's `delivered` marks them there, once.
//!
//! The origin node of both is the message's [`super::bus::ORIGIN_HEADER`];
//! a node skips its own, and drops what is not signed by a node of the
//! cluster, and session lists a node publishes for another.

use std::pin::Pin;

use actix::{Message, Recipient};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};

use super::bus::subject_token;
use super::{Cluster, ClusterError};

/// One registered Node session, as its node announces it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnnouncedSession {
    /// The session's id on its node.
    pub session: u64,
    pub tenant_ids: Vec<String>,
    /// When it registered for responses (the newest session serving a tenant
    /// gets the tenant's responses).
    pub since: DateTime<Utc>,
}

/// Every registered Node session of one node (JSON on `<name>.clients.<node>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionsAnnounce {
    /// Grows with every announcement of the node (and across its restarts: it
    /// starts at the start time in microseconds): a receiver ignores an older
    /// one arriving late.
    pub version: u64,
    pub sessions: Vec<AnnouncedSession>,
}

/// An `outbox` row was stored (JSON on `<name>.outbox.<tenant>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxNotice {
    pub tenant_id: String,
    /// `outbox.id` of the row.
    pub id: String,
}

/// What another node's router said (for this node's router).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub enum ClientNews {
    /// `node`'s current sessions.
    Sessions {
        node: String,
        announce: SessionsAnnounce,
    },
    Outbox(OutboxNotice),
}

/// The other nodes' [`ClientNews`], in the order NATS delivered them.
pub type ClientNewsStream = Pin<Box<dyn Stream<Item = ClientNews> + Send>>;

/// Hands every item of `news` to `to` (the message router) until the NATS
/// connection closes. Runs on the runtime that made the subscriptions: a
/// subscription must be dropped where a Tokio runtime runs (async-nats
/// unsubscribes from its `Drop` with `tokio::spawn`).
pub async fn forward_news(mut news: ClientNewsStream, to: Recipient<ClientNews>) {
    while let Some(item) = news.next().await {
        to.do_send(item);
    }
    log::warn!("cluster: Node client notices ended; responses stored on other nodes wait for a reconnect here");
}

impl Cluster {
    /// Publishes this node's sessions on `<name>.clients.<node>`.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when the connection is closed.
    pub async fn announce_sessions(&self, announce: &SessionsAnnounce) -> Result<(), ClusterError> {
        let subject = self.subject(&["clients", self.node_id()]);
        self.publish_json(subject, announce).await
    }

    /// Publishes `notice` on `<name>.outbox.<tenant>`.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when the connection is closed.
    pub async fn notify_outbox(&self, notice: &OutboxNotice) -> Result<(), ClusterError> {
        let subject = self.subject(&["outbox", &subject_token(&notice.tenant_id)]);
        self.publish_json(subject, notice).await
    }

    /// Subscribes to the other nodes' session lists and outbox notices (this
    /// node's own and unreadable messages are left out). Subscribed when this
    /// returns.
    ///
    /// # Errors
    /// [`ClusterError::Bus`] when a subscription fails.
    pub async fn client_news(&self) -> Result<ClientNewsStream, ClusterError> {
        let sessions = self.subscribe(self.subject(&["clients", "*"])).await?;
        let notices = self.subscribe(self.subject(&["outbox", "*"])).await?;
        let sessions = sessions.filter_map({
            let cluster = self.clone();
            move |message| {
                // A node announces only its own sessions, on its own subject.
                let news = cluster
                    .read_foreign::<SessionsAnnounce>(&message)
                    .filter(|(node, _)| {
                        message.subject.as_str().rsplit('.').next()
                            == Some(subject_token(node).as_ref())
                    })
                    .map(|(node, announce)| ClientNews::Sessions { node, announce });
                async move { news }
            }
        });
        let cluster = self.clone();
        let notices = notices.filter_map(move |message| {
            let news = cluster
                .read_foreign::<OutboxNotice>(&message)
                .map(|(_, n)| ClientNews::Outbox(n));
            async move { news }
        });
        Ok(Box::pin(futures_util::stream::select(sessions, notices)))
    }
}
