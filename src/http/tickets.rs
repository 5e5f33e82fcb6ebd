//! Single-use, short-lived tickets for `/logs`. A browser cannot set headers
//! on a WebSocket, and a token in a URL lands in proxy access logs, so a
//! dashboard holding a bearer token asks `POST /api/logs/ticket` (token in the
//! header) for a ticket and opens `/logs?ticket=…`: 256 random bits, valid for
//! one upgrade within [`TICKET_TTL`], carrying the asker's [`Principal`] (so
//! the feed keeps its scope), worthless in a log afterwards.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::{secret, Principal};

/// How long a ticket may wait for its upgrade.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// Most tickets outstanding at once (a flood of mints cannot grow memory).
const MAX_OUTSTANDING: usize = 10_000;

/// The outstanding tickets.
#[derive(Debug, Default)]
pub struct LogTickets {
    issued: Mutex<HashMap<String, (Instant, Principal)>>,
}

impl LogTickets {
    /// A fresh ticket (64 hex digits) for `principal`.
    pub fn issue(&self, principal: Principal) -> String {
        let ticket = secret::generate("");
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.retain(|_, (at, _)| at.elapsed() < TICKET_TTL);
        if issued.len() >= MAX_OUTSTANDING {
            // Oldest first out.
            if let Some(oldest) = issued
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                issued.remove(&oldest);
            }
        }
        issued.insert(ticket.clone(), (Instant::now(), principal));
        ticket
    }

    /// Uses `ticket` up: its principal once, within [`TICKET_TTL`] of its issue.
    pub fn redeem(&self, ticket: &str) -> Option<Principal> {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued
            .remove(ticket)
            .filter(|(at, _)| at.elapsed() < TICKET_TTL)
            .map(|(_, principal)| principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once() {
        let tickets = LogTickets::default();
        let t = tickets.issue(Principal::admin_token());
        assert_eq!(t.len(), 64);
        assert!(tickets.redeem("nope").is_none());
        assert_eq!(tickets.redeem(&t), Some(Principal::admin_token()));
        assert!(tickets.redeem(&t).is_none(), "single use");
    }
}
