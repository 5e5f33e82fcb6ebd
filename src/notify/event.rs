//! Owner events and the notifications they become: one [`NotificationRow`]
//! per recipient (SMS and email) of the tenant's `[tenants.notify]`, with the
//! text the owner reads, a unique `event_key` (so enqueueing twice stores
//! once) and the instant it may be sent (quiet hours hold non-urgent ones).

use chrono::{DateTime, Utc};

use crate::store::models::{AppointmentRow, CallerMessageRow, NotificationRow};
use crate::store::{notifications, DbConnection, StoreError};
use crate::tenant::{local_time, OwnerEventKind, TenantConfig};

/// Something that happened that the owner may want to hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnerEvent {
    /// A taken message or callback request, as stored.
    MessageTaken(CallerMessageRow),
    /// A booking, as stored, with the customer's name and phone.
    BookingMade {
        appointment: AppointmentRow,
        customer_name: Option<String>,
        customer_phone: Option<String>,
    },
    /// A cancelled booking, as it was, with the customer's phone.
    BookingCancelled {
        appointment: AppointmentRow,
        customer_phone: Option<String>,
    },
    /// A call ended; its stored summary.
    CallSummary {
        call_id: String,
        /// Caller as the dashboard shows them (name and number, or number).
        caller: String,
        summary: String,
    },
}

impl OwnerEvent {
    /// The kind, as configured in `notify.events`.
    pub fn kind(&self) -> OwnerEventKind {
        match self {
            OwnerEvent::MessageTaken(_) => OwnerEventKind::MessageTaken,
            OwnerEvent::BookingMade { .. } => OwnerEventKind::BookingMade,
            OwnerEvent::BookingCancelled { .. } => OwnerEventKind::BookingCancelled,
            OwnerEvent::CallSummary { .. } => OwnerEventKind::CallSummary,
        }
    }

    /// Unique per event: kind and the id of the row it is about.
    pub fn key(&self) -> String {
        let id = match self {
            OwnerEvent::MessageTaken(m) => &m.id,
            OwnerEvent::BookingMade { appointment, .. }
            | OwnerEvent::BookingCancelled { appointment, .. } => &appointment.id,
            OwnerEvent::CallSummary { call_id, .. } => call_id,
        };
        format!("{}:{id}", self.kind().as_str())
    }

    /// Urgent events are sent during quiet hours too: messages taken as `urgent`.
    pub fn urgent(&self) -> bool {
        matches!(self, OwnerEvent::MessageTaken(m) if m.urgency == "urgent")
    }

    fn call_id(&self) -> Option<String> {
        match self {
            OwnerEvent::MessageTaken(m) => m.call_id.clone(),
            OwnerEvent::BookingMade { appointment, .. }
            | OwnerEvent::BookingCancelled { appointment, .. } => appointment.call_id.clone(),
            OwnerEvent::CallSummary { call_id, .. } => Some(call_id.clone()),
        }
    }

    /// (subject, body) as the owner reads them, times in the tenant's zone.
    pub fn text(&self, tenant: &TenantConfig) -> (String, String) {
        let tz = tenant.tz();
        let who = |name: Option<&str>, phone: Option<&str>| match (name, phone) {
            (Some(n), Some(p)) => format!("{n} ({p})"),
            (Some(n), None) => n.to_string(),
            (None, Some(p)) => p.to_string(),
            (None, None) => "a caller".to_string(),
        };
        match self {
            OwnerEvent::MessageTaken(m) => {
                let urgent = if m.urgency == "urgent" { "URGENT " } else { "" };
                let what = match m.kind.as_str() {
                    "callback_info" => "callback request",
                    "voicemail" => "voicemail",
                    _ => "message",
                };
                let from = who(Some(&m.caller_name), m.caller_phone.as_deref());
                let title = if urgent.is_empty() {
                    capitalise(what)
                } else {
                    format!("{urgent}{what}")
                };
                (
                    format!("{title} from {from}"),
                    format!(
                        "{}: {urgent}{what} from {from}: \"{}\"",
                        tenant.name, m.message
                    ),
                )
            }
            OwnerEvent::BookingMade {
                appointment: a,
                customer_name,
                customer_phone,
            } => {
                let slot = format!("{}, {}", a.service, local_time(tz, a.starts_at));
                let from = who(customer_name.as_deref(), customer_phone.as_deref());
                (
                    format!("New booking: {slot}"),
                    format!("{}: booked {slot} for {from}.", tenant.name),
                )
            }
            OwnerEvent::BookingCancelled {
                appointment: a,
                customer_phone,
            } => {
                let slot = format!("{}, {}", a.service, local_time(tz, a.starts_at));
                let from = who(None, customer_phone.as_deref());
                (
                    format!("Booking cancelled: {slot}"),
                    format!("{}: {from} cancelled {slot}.", tenant.name),
                )
            }
            OwnerEvent::CallSummary {
                caller, summary, ..
            } => (
                format!("Call from {caller}"),
                format!("{}: {summary}", tenant.name),
            ),
        }
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The notifications `event` becomes for `tenant` at `now`: one per SMS number
/// and email address, none when the owner does not want this kind.
pub fn notifications_for(
    tenant: &TenantConfig,
    event: &OwnerEvent,
    now: DateTime<Utc>,
) -> Vec<NotificationRow> {
    let notify = &tenant.notify;
    if !notify.wants(event.kind()) {
        return Vec::new();
    }
    let (subject, body) = event.text(tenant);
    let urgent = event.urgent();
    let due = notify.release_at(tenant.tz(), urgent, now).naive_utc();
    let recipients = notify
        .sms
        .iter()
        .map(|n| ("sms", n))
        .chain(notify.email.iter().map(|a| ("email", a)));
    recipients
        .map(|(channel, recipient)| NotificationRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.id.clone(),
            event_key: event.key(),
            event: event.kind().as_str().to_string(),
            urgent,
            channel: channel.to_string(),
            recipient: recipient.clone(),
            subject: subject.clone(),
            body: body.clone(),
            call_id: event.call_id(),
            status: "pending".to_string(),
            attempts: 0,
            next_attempt_at: due,
            last_error: None,
            provider_id: None,
            created_at: now.naive_utc(),
            sent_at: None,
        })
        .collect()
}

/// Stores the notifications of `event` (see [`notifications_for`]); an event
/// already stored for a recipient is not stored again. Returns how many rows
/// were added. Call it in the transaction that stores the event's own row, so
/// the two are kept or lost together.
pub fn enqueue(
    conn: &mut DbConnection,
    tenant: &TenantConfig,
    event: &OwnerEvent,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let rows = notifications_for(tenant, event, now);
    if rows.is_empty() {
        return Ok(0);
    }
    notifications::enqueue(conn, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::OwnerNotify;
    use chrono::{NaiveDateTime, TimeZone};

    fn tenant() -> TenantConfig {
        let mut t = TenantConfig::example();
        t.notify = OwnerNotify {
            sms: vec!["+15550100009".into()],
            email: vec!["owner@acme.example".into()],
            quiet_hours: "21:00-07:00".into(),
            ..OwnerNotify::default()
        };
        t
    }

    fn message(urgency: &str) -> CallerMessageRow {
        CallerMessageRow {
            id: "m1".into(),
            tenant_id: "acme-dental".into(),
            call_id: Some("c1".into()),
            kind: "message".into(),
            caller_name: "Dana Smith".into(),
            caller_phone: Some("+15550100001".into()),
            message: "Please call back.".into(),
            urgency: urgency.into(),
            created_at: NaiveDateTime::default(),
            status: "new".into(),
            handled_by: None,
            handled_at: None,
        }
    }

    #[test]
    fn one_row_per_recipient_held_in_quiet_hours_unless_urgent() {
        // 22:00 in New York.
        let late = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        let rows = notifications_for(
            &tenant(),
            &OwnerEvent::MessageTaken(message("normal")),
            late,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].channel, "sms");
        assert_eq!(rows[1].recipient, "owner@acme.example");
        assert_eq!(rows[0].event_key, "message_taken:m1");
        assert_eq!(
            rows[0].next_attempt_at,
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
                .unwrap()
                .naive_utc()
        );
        assert_eq!(
            rows[0].body,
            "Acme Dental: message from Dana Smith (+15550100001): \"Please call back.\""
        );
        let urgent = notifications_for(
            &tenant(),
            &OwnerEvent::MessageTaken(message("urgent")),
            late,
        );
        assert!(urgent[0].urgent);
        assert_eq!(urgent[0].next_attempt_at, late.naive_utc());
        assert_eq!(
            urgent[0].subject,
            "URGENT message from Dana Smith (+15550100001)"
        );
    }

    #[test]
    fn unwanted_events_make_no_rows() {
        let mut t = tenant();
        t.notify.events = vec![OwnerEventKind::CallSummary];
        let rows = notifications_for(&t, &OwnerEvent::MessageTaken(message("urgent")), Utc::now());
        assert!(rows.is_empty());
    }

    #[test]
    fn booking_text_uses_the_local_slot() {
        let a = AppointmentRow {
            id: "a1".into(),
            tenant_id: "acme-dental".into(),
            customer_id: "cu1".into(),
            service: "cleaning".into(),
            // 14:00 UTC = 09:00 in New York.
            starts_at: Utc
                .with_ymd_and_hms(2026, 12, 1, 14, 0, 0)
                .unwrap()
                .naive_utc(),
            ends_at: Utc
                .with_ymd_and_hms(2026, 12, 1, 15, 0, 0)
                .unwrap()
                .naive_utc(),
            status: "booked".into(),
            call_id: None,
            created_at: NaiveDateTime::default(),
            calendar_href: None,
            calendar_etag: None,
        };
        let (subject, body) = OwnerEvent::BookingMade {
            appointment: a,
            customer_name: Some("Dana Smith".into()),
            customer_phone: Some("+15550100001".into()),
        }
        .text(&tenant());
        assert_eq!(subject, "New booking: cleaning, Tue 1 Dec 09:00");
        assert_eq!(
            body,
            "Acme Dental: booked cleaning, Tue 1 Dec 09:00 for Dana Smith (+15550100001)."
        );
    }
}
