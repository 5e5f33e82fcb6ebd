//! The live-event relay: every [`CallEvent`](crate::events::CallEvent) a node publishes on its
//! [`EventBus`] is also published on `<name>.events.<tenant>.<call_id>` (the
//! `/logs` JSON, origin node in [`super::bus::ORIGIN_HEADER`]), and every
//! event another node publishes there is re-broadcast on this node's bus, so
//! `/logs` and the dashboard on any node follow every node's calls (their
//! `?call_sid=` filter applies as for local events). The call actors only
//! queue events ([`EventBus::publish`] never waits); serialising and sending
//! happen on a background task. Events are not stored: a node sees the
//! events published while it is subscribed.

use futures_util::StreamExt as _;

use super::bus::subject_token;
use super::{Cluster, ClusterError};
use crate::events::{EventBus, TenantEvent};

/// `<name>.events.<tenant>.<call_id>` (each part a [`subject_token`]).
pub fn event_subject(cluster: &Cluster, tenant: &str, call_id: &str) -> String {
    cluster.subject(&["events", &subject_token(tenant), &subject_token(call_id)])
}

/// Connects `bus` to the cluster: subscribes to `<name>.events.>` (before
/// returning, so no event published afterwards is missed) and starts the two
/// relay tasks on the current runtime. Returns the bus to hand out — clones
/// of it relay their events; clones of the bus passed in do not.
///
/// # Errors
/// [`ClusterError::Bus`] when the subscription fails.
pub async fn relay(cluster: &Cluster, bus: EventBus) -> Result<EventBus, ClusterError> {
    let mut incoming = cluster.subscribe(cluster.subject(&["events", ">"])).await?;
    let (bus, mut outgoing) = bus.relayed();
    let sender = cluster.clone();
    tokio::spawn(async move {
        while let Some(relayed) = outgoing.recv().await {
            let event = &relayed.event;
            let subject = event_subject(&sender, &relayed.tenant, event.call_id());
            let sent = match serde_json::to_vec(&relayed) {
                Ok(payload) => sender.publish(subject, payload.into()).await,
                Err(e) => {
                    log::warn!("cluster: live event not serialised: {e}");
                    continue;
                }
            };
            if let Err(e) = sent {
                log::warn!(
                    "cluster: live event of call {} not relayed: {e}",
                    event.call_id()
                );
            }
        }
    });
    let (receiver, local) = (cluster.clone(), bus.clone());
    tokio::spawn(async move {
        while let Some(message) = incoming.next().await {
            if let Some((_, event)) = receiver.read_foreign::<TenantEvent>(&message) {
                local.publish_remote(event);
            }
        }
        log::warn!("cluster: live events subscription ended; other nodes' calls no longer shown");
    });
    Ok(bus)
}
