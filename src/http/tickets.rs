//! Single-use, short-lived tickets for `/logs`. A browser cannot set headers
//! on a WebSocket, and an admin token in a URL lands in proxy access logs, so
//! the dashboard asks `POST /api/logs/ticket` (admin token in the header) for
//! a ticket and opens `/logs?ticket=…`: 256 random bits, valid for one upgrade
//! within [`TICKET_TTL`], worthless in a log afterwards.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

/// How long a ticket may wait for its upgrade.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// Most tickets outstanding at once (a flood of mints cannot grow memory).
const MAX_OUTSTANDING: usize = 10_000;

/// The outstanding tickets.
#[derive(Debug, Default)]
pub struct LogTickets {
    issued: Mutex<HashMap<String, Instant>>,
}

impl LogTickets {
    /// A fresh ticket (64 hex digits).
    pub fn issue(&self) -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.retain(|_, at| at.elapsed() < TICKET_TTL);
        if issued.len() >= MAX_OUTSTANDING {
            // Oldest first out.
            if let Some(oldest) = issued
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
            {
                issued.remove(&oldest);
            }
        }
        issued.insert(ticket.clone(), Instant::now());
        ticket
    }

    /// Uses `ticket` up: `true` once, within [`TICKET_TTL`] of its issue.
    pub fn redeem(&self, ticket: &str) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued
            .remove(ticket)
            .is_some_and(|at| at.elapsed() < TICKET_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_works_once() {
        let tickets = LogTickets::default();
        let t = tickets.issue();
        assert_eq!(t.len(), 64);
        assert!(!tickets.redeem("nope"));
        assert!(tickets.redeem(&t));
        assert!(!tickets.redeem(&t), "single use");
    }
}
