//! The other nodes' Node sessions, as their routers announce them
//! ([`SessionsAnnounce`] on `<name>.clients.<node>`, see
//! `crate::cluster::clients`): what a router needs to tell whether one of its
//! own sessions is the newest serving a tenant cluster-wide (then it delivers
//! the tenant's responses) or a session on another node is. Pure: no I/O; the
//! router feeds it announcements and the clock.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::cluster::clients::{AnnouncedSession, SessionsAnnounce};

/// Orders sessions cluster-wide: newest registration last, ties broken by node
/// id, then session id (the same on every node).
pub type SessionRank<'a> = (DateTime<Utc>, &'a str, u64);

struct Peer {
    version: u64,
    sessions: Vec<AnnouncedSession>,
    heard: Instant,
}

/// The last announcement heard from each other node.
#[derive(Default)]
pub struct PeerSessions {
    peers: HashMap<String, Peer>,
}

impl PeerSessions {
    /// Takes `node`'s announcement heard at `now` (one older than the last
    /// taken from that node is ignored). Returns the tenants of every session
    /// the node no longer has: another node may now hold their newest session.
    pub fn apply(
        &mut self,
        node: &str,
        announce: SessionsAnnounce,
        now: Instant,
    ) -> BTreeSet<String> {
        let previous = match self.peers.get(node) {
            Some(peer) if peer.version > announce.version => return BTreeSet::new(),
            Some(peer) => peer.sessions.clone(),
            None => Vec::new(),
        };
        let lost = previous
            .iter()
            .filter(|old| !announce.sessions.iter().any(|s| s.session == old.session))
            .flat_map(|old| old.tenant_ids.iter().cloned())
            .collect();
        self.peers.insert(
            node.to_string(),
            Peer {
                version: announce.version,
                sessions: announce.sessions,
                heard: now,
            },
        );
        lost
    }

    /// Whether an announcement of `node` was taken (and not expired).
    pub fn knows(&self, node: &str) -> bool {
        self.peers.contains_key(node)
    }

    /// Forgets every node not heard from for longer than `lease` (it is dead,
    /// or stopped announcing). Returns the tenants of their sessions.
    pub fn expire(&mut self, now: Instant, lease: Duration) -> BTreeSet<String> {
        let mut lost = BTreeSet::new();
        self.peers.retain(|_, peer| {
            let alive = now.saturating_duration_since(peer.heard) <= lease;
            if !alive {
                lost.extend(
                    peer.sessions
                        .iter()
                        .flat_map(|s| s.tenant_ids.iter().cloned()),
                );
            }
            alive
        });
        lost
    }

    /// The newest session serving `tenant_id` on another node.
    pub fn newest(&self, tenant_id: &str) -> Option<SessionRank<'_>> {
        self.peers
            .iter()
            .flat_map(|(node, peer)| {
                peer.sessions
                    .iter()
                    .filter(|s| s.tenant_ids.iter().any(|t| t == tenant_id))
                    .map(move |s| (s.since, node.as_str(), s.session))
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: u64, tenant: &str, since_secs: i64) -> AnnouncedSession {
        AnnouncedSession {
            session: id,
            tenant_ids: vec![tenant.to_string()],
            since: DateTime::from_timestamp(since_secs, 0).unwrap_or_default(),
        }
    }

    fn announce(version: u64, sessions: Vec<AnnouncedSession>) -> SessionsAnnounce {
        SessionsAnnounce { version, sessions }
    }

    #[test]
    fn newest_session_across_nodes_wins_and_a_gone_one_is_reported() {
        let mut peers = PeerSessions::default();
        let now = Instant::now();
        assert!(peers
            .apply("a", announce(1, vec![session(1, "acme", 10)]), now)
            .is_empty());
        peers.apply(
            "b",
            announce(1, vec![session(7, "acme", 20), session(8, "other", 5)]),
            now,
        );
        let newest = peers.newest("acme").map(|(_, node, id)| (node, id));
        assert_eq!(newest, Some(("b", 7)));
        assert_eq!(peers.newest("nobody"), None);

        // b's acme session leaves: acme is reported, a's session is newest again.
        let lost = peers.apply("b", announce(2, vec![session(8, "other", 5)]), now);
        assert_eq!(lost.into_iter().collect::<Vec<_>>(), ["acme"]);
        let newest = peers.newest("acme").map(|(_, node, id)| (node, id));
        assert_eq!(newest, Some(("a", 1)));
    }

    #[test]
    fn a_late_older_announcement_is_ignored() {
        let mut peers = PeerSessions::default();
        let now = Instant::now();
        peers.apply("a", announce(5, vec![]), now);
        peers.apply("a", announce(4, vec![session(1, "acme", 10)]), now);
        assert_eq!(peers.newest("acme"), None);
    }

    #[test]
    fn a_silent_node_expires_after_the_lease() {
        let mut peers = PeerSessions::default();
        let then = Instant::now();
        peers.apply("a", announce(1, vec![session(1, "acme", 10)]), then);
        let lease = Duration::from_secs(15);
        assert!(peers.expire(then + lease, lease).is_empty());
        let lost = peers.expire(then + lease + Duration::from_secs(1), lease);
        assert_eq!(lost.into_iter().collect::<Vec<_>>(), ["acme"]);
        assert_eq!(peers.newest("acme"), None);
    }
}
