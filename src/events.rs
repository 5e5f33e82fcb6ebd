//! Live call events for operators: the feed behind `GET /logs` (dashboard) and the
//! transcript printed by `switchboard call`. Published by call actors on a
//! broadcast channel; never on the audio path (transcripts, tool calls and
//! lifecycle only, not frames). In a cluster the bus also hands each event to
//! a relay (`crate::cluster::events`) that carries it to the other nodes'
//! buses, so every node's listeners see every node's calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

/// One event of a live call, as sent (JSON, one per WebSocket text frame) on `GET /logs`.
///
/// `call_id` is switchboard's id (UUID); `call_sid` is the carrier's id (Twilio `CA…`),
/// when the carrier gave one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    /// The call was admitted and linked to a model.
    CallStarted {
        call_id: String,
        call_sid: Option<String>,
        tenant: Option<String>,
        from: Option<String>,
        to: Option<String>,
        carrier: String,
    },
    /// A final transcript line: `role` is `user` or `assistant`. `interrupted` is true
    /// when an assistant line was cut at what the caller heard (barge-in).
    Transcript {
        call_id: String,
        call_sid: Option<String>,
        role: String,
        text: String,
        interrupted: bool,
    },
    /// A tool call finished (`result` or `error` is set).
    ToolCall {
        call_id: String,
        call_sid: Option<String>,
        name: String,
        arguments: String,
        result: Option<String>,
        error: Option<String>,
        duration_ms: u64,
    },
    /// The model link dropped and is being restarted (`attempt` starts at 1).
    LinkRestart {
        call_id: String,
        call_sid: Option<String>,
        attempt: u32,
        cause: String,
    },
    /// The call ended; `reason` is the recorded `ended_reason`.
    CallEnded {
        call_id: String,
        call_sid: Option<String>,
        reason: String,
        duration_ms: u64,
    },
}

impl CallEvent {
    /// switchboard's id of the call this event belongs to.
    pub fn call_id(&self) -> &str {
        match self {
            CallEvent::CallStarted { call_id, .. }
            | CallEvent::Transcript { call_id, .. }
            | CallEvent::ToolCall { call_id, .. }
            | CallEvent::LinkRestart { call_id, .. }
            | CallEvent::CallEnded { call_id, .. } => call_id,
        }
    }

    /// The carrier call id this event belongs to, for filtering (`/logs?call_sid=`).
    pub fn call_sid(&self) -> Option<&str> {
        match self {
            CallEvent::CallStarted { call_sid, .. }
            | CallEvent::Transcript { call_sid, .. }
            | CallEvent::ToolCall { call_sid, .. }
            | CallEvent::LinkRestart { call_sid, .. }
            | CallEvent::CallEnded { call_sid, .. } => call_sid.as_deref(),
        }
    }
}

/// An event of a call of `tenant` (a tenant id): what listeners receive (a
/// listener scoped to one tenant keeps its own), and what travels to the
/// other nodes (JSON `{"tenant": "…", "event": {…}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEvent {
    pub tenant: String,
    pub event: CallEvent,
}

/// Where a clustered bus hands its local events: a bounded queue drained by a
/// background task, and the count of events dropped because it was full.
#[derive(Clone)]
struct Relay {
    tx: mpsc::Sender<TenantEvent>,
    dropped: Arc<AtomicU64>,
}

/// Fan-out of [`CallEvent`]s to any number of listeners. Slow listeners lose old
/// events (bounded ring of [`EventBus::CAPACITY`]) instead of slowing calls.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<TenantEvent>,
    relay: Option<Relay>,
}

impl EventBus {
    /// Events kept for a lagging listener before it starts missing them.
    pub const CAPACITY: usize = 1024;

    /// Events queued for the other nodes before new ones are dropped (NATS
    /// slower than the calls, or unreachable).
    pub const RELAY_CAPACITY: usize = 4096;

    /// A bus with no listeners yet.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(Self::CAPACITY);
        EventBus { tx, relay: None }
    }

    /// This bus, also handing every event [`EventBus::publish`]ed from now on
    /// to a queue of [`EventBus::RELAY_CAPACITY`] (read by the cluster relay).
    /// Call before the bus is cloned: clones made earlier do not relay.
    pub fn relayed(mut self) -> (Self, mpsc::Receiver<TenantEvent>) {
        let (tx, rx) = mpsc::channel(Self::RELAY_CAPACITY);
        self.relay = Some(Relay {
            tx,
            dropped: Arc::default(),
        });
        (self, rx)
    }

    /// Publishes an event of a call of `tenant` (a tenant id) to this node's
    /// listeners (without listeners it is dropped) and, in a cluster, queues it
    /// for the other nodes without waiting: when the queue is full the event
    /// reaches this node's listeners only.
    pub fn publish(&self, tenant: &str, event: CallEvent) {
        let event = TenantEvent {
            tenant: tenant.to_owned(),
            event,
        };
        if let Some(relay) = &self.relay {
            let queued = relay.tx.try_send(event.clone());
            if queued.is_err() && relay.dropped.fetch_add(1, Ordering::Relaxed) % 1024 == 0 {
                log::warn!("cluster: live events queue full or closed; events stay on this node");
            }
        }
        let _ = self.tx.send(event);
    }

    /// Publishes an event that came from another node to this node's
    /// listeners only.
    pub fn publish_remote(&self, event: TenantEvent) {
        let _ = self.tx.send(event);
    }

    /// A new listener that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TenantEvent> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(call_id: &str) -> CallEvent {
        CallEvent::CallEnded {
            call_id: call_id.into(),
            call_sid: None,
            reason: "caller_hangup".into(),
            duration_ms: 1,
        }
    }

    #[test]
    fn a_relayed_bus_queues_local_events_with_their_tenant_and_not_remote_ones() {
        let (bus, mut relayed) = EventBus::new().relayed();
        let mut listener = bus.subscribe();
        bus.publish("acme", ended("c1"));
        let remote = TenantEvent {
            tenant: "grok".into(),
            event: ended("c2"),
        };
        bus.publish_remote(remote.clone());
        assert_eq!(listener.try_recv().ok().map(|e| e.event), Some(ended("c1")));
        assert_eq!(listener.try_recv().ok(), Some(remote));
        assert_eq!(
            relayed.try_recv().ok(),
            Some(TenantEvent {
                tenant: "acme".into(),
                event: ended("c1")
            })
        );
        assert!(
            relayed.try_recv().is_err(),
            "a remote event is not relayed back"
        );
    }

    #[test]
    fn a_full_relay_queue_still_reaches_this_nodes_listeners() {
        let (bus, mut relayed) = EventBus::new().relayed();
        let mut listener = bus.subscribe();
        for i in 0..EventBus::RELAY_CAPACITY {
            bus.publish("acme", ended(&format!("c{i}")));
        }
        // The queue is full: this one stays on this node, without waiting.
        bus.publish("acme", ended("last"));
        let mut last_heard = None;
        loop {
            match listener.try_recv() {
                Ok(heard) => last_heard = Some(heard.event),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        assert_eq!(last_heard, Some(ended("last")));
        let mut queued = 0;
        while relayed.try_recv().is_ok() {
            queued += 1;
        }
        assert_eq!(queued, EventBus::RELAY_CAPACITY);
    }
}
