//! `[tenants.notify]`: who the business owner is reachable at, which events
//! they want to hear about, and their quiet hours (in the tenant's zone), when
//! only urgent notifications are sent and the rest wait for the morning.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Something the owner can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerEventKind {
    /// The receptionist took a message or callback details (urgent ones go at once).
    MessageTaken,
    /// A caller booked an appointment.
    BookingMade,
    /// A caller cancelled an appointment.
    BookingCancelled,
    /// A call ended; its summary.
    CallSummary,
}

impl OwnerEventKind {
    /// Every kind, in the order the dashboard shows them.
    pub const ALL: [OwnerEventKind; 4] = [
        OwnerEventKind::MessageTaken,
        OwnerEventKind::BookingMade,
        OwnerEventKind::BookingCancelled,
        OwnerEventKind::CallSummary,
    ];

    /// The word stored in `notifications.event` and written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerEventKind::MessageTaken => "message_taken",
            OwnerEventKind::BookingMade => "booking_made",
            OwnerEventKind::BookingCancelled => "booking_cancelled",
            OwnerEventKind::CallSummary => "call_summary",
        }
    }
}

/// A tenant's owner notifications. Without recipients nothing is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnerNotify {
    /// Owner phone numbers (E.164) that get SMS through the Twilio Messages API.
    pub sms: Vec<String>,
    /// Owner email addresses that get mail through SendGrid mail-send.
    pub email: Vec<String>,
    /// Which events are sent; default: all four.
    pub events: Vec<OwnerEventKind>,
    /// Local `HH:MM-HH:MM` (may wrap midnight, `21:00-07:00`) during which only
    /// urgent notifications are sent; others wait until it ends. Empty = none.
    pub quiet_hours: String,
    /// The Twilio number SMS are sent from; empty = the tenant's first phone number.
    pub sms_from: String,
}

impl Default for OwnerNotify {
    fn default() -> Self {
        OwnerNotify {
            sms: Vec::new(),
            email: Vec::new(),
            events: OwnerEventKind::ALL.to_vec(),
            quiet_hours: String::new(),
            sms_from: String::new(),
        }
    }
}

impl OwnerNotify {
    /// Checks numbers, addresses and quiet hours; the message names the key.
    pub fn validate(&self, tenant: &str) -> Result<(), String> {
        for number in self
            .sms
            .iter()
            .chain(std::iter::once(&self.sms_from).filter(|n| !n.is_empty()))
        {
            let digits = number.strip_prefix('+').unwrap_or("");
            if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "tenant {tenant}: notify number {number:?} is not E.164 (+15550100002)"
                ));
            }
        }
        for address in &self.email {
            let ok = address
                .split_once('@')
                .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
                && !address.contains(char::is_whitespace);
            if !ok {
                return Err(format!(
                    "tenant {tenant}: notify email {address:?} is not an address"
                ));
            }
        }
        if !self.quiet_hours.is_empty() && parse_window(&self.quiet_hours).is_none() {
            return Err(format!(
                "tenant {tenant}: notify.quiet_hours {:?} is not HH:MM-HH:MM",
                self.quiet_hours
            ));
        }
        Ok(())
    }

    /// Whether the owner wants `kind`.
    pub fn wants(&self, kind: OwnerEventKind) -> bool {
        self.events.contains(&kind)
    }

    /// When a notification created at `now` may be sent: `now` for urgent
    /// ones and outside quiet hours, else the end of the quiet hours (UTC).
    pub fn release_at(&self, tz: Tz, urgent: bool, now: DateTime<Utc>) -> DateTime<Utc> {
        if urgent {
            return now;
        }
        let Some((start, end)) = parse_window(&self.quiet_hours) else {
            return now;
        };
        let local = now.with_timezone(&tz);
        let t = local.time();
        let quiet = if start <= end {
            t >= start && t < end
        } else {
            t >= start || t < end
        };
        if !quiet {
            return now;
        }
        // The end is today when it lies ahead, else tomorrow.
        let day = if t < end {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        let end_local = day.and_time(end);
        // A DST gap swallows the instant: the end is then an hour later.
        tz.from_local_datetime(&end_local)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(end_local + Duration::hours(1)))
                    .earliest()
            })
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now)
    }
}

/// `HH:MM-HH:MM` → (start, end); start = end is refused (no window).
fn parse_window(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (start, end) = text.split_once('-')?;
    let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").ok()?;
    let end = NaiveTime::parse_from_str(end.trim(), "%H:%M").ok()?;
    (start != end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(hours: &str) -> OwnerNotify {
        OwnerNotify {
            quiet_hours: hours.into(),
            ..OwnerNotify::default()
        }
    }

    #[test]
    fn quiet_hours_hold_until_their_end_in_the_tenant_zone() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let n = quiet("21:00-07:00");
        // 2026-11-24 03:00 UTC = 22:00 on the 23rd in New York: held until 07:00 local = 12:00 UTC.
        let late = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        assert_eq!(
            n.release_at(ny, false, late),
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
        );
        // Urgent ones go at once.
        assert_eq!(n.release_at(ny, true, late), late);
        // 06:59 local is still quiet; 07:00 is not.
        let early = Utc.with_ymd_and_hms(2026, 11, 24, 11, 59, 0).unwrap();
        assert_eq!(
            n.release_at(ny, false, early),
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
        );
        let morning = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        assert_eq!(n.release_at(ny, false, morning), morning);
        // A window within one day.
        let lunch = quiet("12:00-13:00");
        let noon = Utc.with_ymd_and_hms(2026, 11, 24, 17, 30, 0).unwrap();
        assert_eq!(
            lunch.release_at(ny, false, noon),
            Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap()
        );
        assert_eq!(OwnerNotify::default().release_at(ny, false, late), late);
    }

    #[test]
    fn validate_names_what_is_wrong() {
        assert!(OwnerNotify::default().validate("t").is_ok());
        let mut n = OwnerNotify {
            sms: vec!["5550100".into()],
            ..OwnerNotify::default()
        };
        assert!(n.validate("t").unwrap_err().contains("E.164"));
        n.sms = vec!["+15550100009".into()];
        n.email = vec!["owner".into()];
        assert!(n.validate("t").unwrap_err().contains("email"));
        n.email = vec!["owner@acme.example".into()];
        n.quiet_hours = "late".into();
        assert!(n.validate("t").unwrap_err().contains("quiet_hours"));
        n.quiet_hours = "22:00-06:30".into();
        assert!(n.validate("t").is_ok());
    }
}
