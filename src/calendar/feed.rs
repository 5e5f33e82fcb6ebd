//! A tenant's bookings as one iCalendar object (RFC 5545), served at
//! `GET /calendar/{tenant}.ics?token=…` for calendar apps that subscribe by
//! URL (Google Calendar, Apple Calendar). Each booked appointment is a VEVENT
//! with its UTC times; cancelled ones stay as `STATUS:CANCELLED` so a
//! subscriber drops them. The token is per tenant and random.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
use rand::RngCore;

use crate::store::models::{AppointmentRow, AppointmentStatus, CustomerRow};

use super::ical::booking_summary;
use crate::tenant::TenantConfig;

/// Days of past bookings the feed keeps.
pub const FEED_PAST_DAYS: i64 = 30;
/// Most appointments in one feed.
pub const FEED_MAX_EVENTS: i64 = 2000;

/// A new feed token: 32 random bytes, base64url without padding (43 characters).
pub fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `given` is `expected`, in time independent of where they differ.
pub fn token_matches(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The whole feed URL for `base` (`server.public_url`, no trailing `/`).
pub fn feed_url(base: &str, tenant_id: &str, token: &str) -> String {
    format!("{base}/calendar/{tenant_id}.ics?token={token}")
}

/// The feed of `tenant`: one VEVENT per appointment (UID its id, DTSTART and
/// DTEND in UTC, SUMMARY as [`booking_summary`]), named after the business
/// (`X-WR-CALNAME`).
pub fn feed_calendar(
    tenant: &TenantConfig,
    appointments: &[(AppointmentRow, Option<CustomerRow>)],
    now: DateTime<Utc>,
) -> String {
    let mut calendar = Calendar::new();
    calendar.name(&format!("{} bookings", tenant.name));
    calendar.timezone(tenant.time_zone.as_str());
    for (a, customer) in appointments {
        let cancelled = a.status == AppointmentStatus::Cancelled.as_str();
        let mut event = Event::new();
        event
            .uid(&a.id)
            .timestamp(now)
            .starts(a.starts_at.and_utc())
            .ends(a.ends_at.and_utc())
            .summary(&booking_summary(
                &a.service,
                customer.as_ref().and_then(|c| c.name.as_deref()),
            ))
            .status(if cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        if let Some(phone) = customer.as_ref().and_then(|c| c.phone.as_deref()) {
            event.description(&format!("Phone: {phone}"));
        }
        calendar.push(event.done());
    }
    calendar.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(token_matches(&a, &a.clone()));
        assert!(!token_matches(&a, &b));
        assert!(!token_matches(&a[..10], &a));
    }
}
