//! iCalendar (RFC 5545) for bookings, pure (no I/O): the busy intervals a
//! calendar's events make, and the VEVENT a booking becomes. Parsing and
//! building go through the `icalendar` crate; what it leaves to its users
//! (time-zone names, `DURATION`, `VTIMEZONE`) is here.

use chrono::{Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::{
    Calendar, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike, EventStatus,
};

use super::CalendarError;

/// A span of time the calendar holds, UTC, half-open `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyInterval {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// The event's `UID` (RFC 5545 §3.8.4.7), when it has one.
    pub uid: Option<String>,
}

/// The intervals during which the events of `ics` (one VCALENDAR object, as a
/// CalDAV server returns it in `calendar-data`) make the business busy.
///
/// Skipped: events marked `TRANSP:TRANSPARENT` (RFC 5545 §3.8.2.7: they do
/// not block time) and `STATUS:CANCELLED` ones (§3.8.1.11). All-day events
/// (`DTSTART;VALUE=DATE`) hold whole local days of `tz`, one day when they
/// have no `DTEND` (§3.6.1). Times with a `TZID` are read in that IANA zone,
/// floating times in `tz`. An event's length is `DTEND`, else `DURATION`
/// (§3.8.2.5), else zero (it then blocks nothing).
///
/// Recurrences are expected expanded by the server (RFC 4791 §9.6.5): each
/// instance is its own VEVENT ([`is_recurring`] tells which objects need it). Errors: [`CalendarError::Ical`] when the text is
/// not iCalendar.
pub fn busy_intervals(ics: &str, tz: Tz) -> Result<Vec<BusyInterval>, CalendarError> {
    let calendar: Calendar = ics.parse().map_err(CalendarError::Ical)?;
    Ok(calendar
        .events()
        .filter_map(|event| event_interval(event, tz))
        .collect())
}

fn event_interval(event: &Event, tz: Tz) -> Option<BusyInterval> {
    if event.get_status() == Some(EventStatus::Cancelled) {
        return None;
    }
    let transparent = event
        .property_value("TRANSP")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("TRANSPARENT"));
    if transparent {
        return None;
    }
    let start = event.get_start()?;
    let start_utc = instant_utc(&start, tz)?;
    let end_utc = match (event.get_end(), event.property_value("DURATION")) {
        (Some(end), _) => instant_utc(&end, tz)?,
        (None, Some(duration)) => start_utc + parse_duration(duration)?,
        (None, None) => match start {
            DatePerhapsTime::Date(_) => start_utc + Duration::days(1),
            DatePerhapsTime::DateTime(_) => start_utc,
        },
    };
    Some(BusyInterval {
        start: start_utc,
        end: end_utc,
        uid: event.get_uid().map(str::to_owned),
    })
}

/// Whether the iCalendar text holds a recurring event: an `RRULE` or `RDATE`
/// line inside a VEVENT (RFC 5545 §3.8.5; a VTIMEZONE's own rules do not
/// count). Such an object needs expanding before its instances can be read.
pub fn is_recurring(ics: &str) -> bool {
    let mut in_event = false;
    ics.lines().any(|line| {
        let line = line.trim();
        let name = line.split([':', ';']).next().unwrap_or("");
        if line.eq_ignore_ascii_case("BEGIN:VEVENT") {
            in_event = true;
        } else if line.eq_ignore_ascii_case("END:VEVENT") {
            in_event = false;
        }
        in_event && (name.eq_ignore_ascii_case("RRULE") || name.eq_ignore_ascii_case("RDATE"))
    })
}

/// UTC of a DATE (its local midnight in `tz`) or DATE-TIME.
fn instant_utc(value: &DatePerhapsTime, tz: Tz) -> Option<NaiveDateTime> {
    match value {
        DatePerhapsTime::Date(date) => local_to_utc(tz, date.and_hms_opt(0, 0, 0)?),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => Some(t.naive_utc()),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(t)) => local_to_utc(tz, *t),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            local_to_utc(zone_named(tzid).unwrap_or(tz), *date_time)
        }
    }
}

/// The IANA zone a `TZID` names. Clients prefix the name with their own path
/// (`/mozilla.org/20050126_1/Europe/Berlin`, `/citadel.org/…`): the longest
/// tail that is an IANA name wins.
pub fn zone_named(tzid: &str) -> Option<Tz> {
    let tzid = tzid.trim().trim_matches('"');
    std::iter::once(tzid)
        .chain(tzid.match_indices('/').map(|(i, _)| &tzid[i + 1..]))
        .find_map(|tail| tail.parse::<Tz>().ok())
}

/// UTC of a local time; the earlier instant when it is ambiguous, the
/// instant just after the gap when it does not exist (RFC 5545 §3.3.5).
fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<NaiveDateTime> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.naive_utc())
}

/// An RFC 5545 §3.3.6 duration (`PT1H30M`, `P1D`, `P2W`) as a chrono duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let std: std::time::Duration = iso8601::duration(body).ok()?.into();
    Duration::from_std(std).ok().map(|d| d * sign)
}

/// A booking's `SUMMARY`: the service, capitalised, and the customer's name
/// ("Cleaning — Dana Smith"; "a customer" when the name is unknown).
pub fn booking_summary(service: &str, customer_name: Option<&str>) -> String {
    let mut chars = service.chars();
    let service: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    let name = customer_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("a customer");
    format!("{service} — {name}")
}

/// What a booking's event says (RFC 5545 §3.6.1).
#[derive(Debug, Clone)]
pub struct BookingEvent<'a> {
    /// Stable `UID`: the appointment id.
    pub uid: &'a str,
    /// Local start in `tz`.
    pub local_start: NaiveDateTime,
    /// The business's IANA zone, written as `DTSTART;TZID=…` with its
    /// `VTIMEZONE` (§3.2.19: a TZID names a VTIMEZONE in the same object).
    pub tz: Tz,
    /// Length, minutes (`DURATION:PT{n}M`).
    pub minutes: u32,
    /// `SUMMARY`: `Cleaning — Dana Smith`.
    pub summary: String,
    /// `DESCRIPTION`: the phone and a link to the call in the dashboard.
    pub description: String,
    /// `STATUS`: `CONFIRMED`, or `CANCELLED` for a cancelled booking.
    pub cancelled: bool,
    /// `DTSTAMP` (§3.8.7.2).
    pub stamp: chrono::DateTime<Utc>,
}

/// The VCALENDAR text of `booking`: its VTIMEZONE and one VEVENT.
pub fn booking_calendar(booking: &BookingEvent<'_>) -> String {
    let event = Event::new()
        .uid(booking.uid)
        .timestamp(booking.stamp)
        .starts(CalendarDateTime::WithTimezone {
            date_time: booking.local_start,
            tzid: booking.tz.name().to_owned(),
        })
        .add_property("DURATION", format!("PT{}M", booking.minutes))
        .summary(&booking.summary)
        .description(&booking.description)
        .status(if booking.cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        })
        .done();
    let mut calendar = Calendar::new();
    let text = calendar.push(event).done().to_string();
    // The crate builds no VTIMEZONE; it goes before the event (§3.6).
    let zone = vtimezone(booking.tz, booking.local_start.date());
    match text.find("BEGIN:VEVENT") {
        Some(at) => format!("{}{zone}{}", &text[..at], &text[at..]),
        None => text,
    }
}

/// A VTIMEZONE (RFC 5545 §3.6.5) for `tz` good for the year of `date`: one
/// STANDARD or DAYLIGHT observance per offset change that year, found from
/// the zone database (chrono-tz), or one fixed observance when it has none.
pub fn vtimezone(tz: Tz, date: NaiveDate) -> String {
    use chrono::Datelike;
    let offset_at = |t: chrono::DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let year_start = Utc
        .with_ymd_and_hms(date.year(), 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut blocks = Vec::new();
    let mut prev = offset_at(year_start);
    let mut t = year_start;
    // Offsets change on the hour or half hour: scan the year in hours, then
    // narrow each change to the minute.
    while t.year() == date.year() {
        let next = t + Duration::hours(1);
        let off = offset_at(next);
        if off != prev {
            let mut lo = t;
            let mut hi = next;
            while hi - lo > Duration::minutes(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(mid) == prev {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let local = hi.naive_utc() + Duration::seconds(i64::from(prev.local_minus_utc()));
            blocks.push(observance(local, prev, off));
            prev = off;
        }
        t = next;
    }
    if blocks.is_empty() {
        let local = year_start.naive_utc();
        blocks.push(observance(local, prev, prev));
    }
    format!(
        "BEGIN:VTIMEZONE\r\nTZID:{}\r\n{}END:VTIMEZONE\r\n",
        tz.name(),
        blocks.concat()
    )
}

fn observance(local: NaiveDateTime, from: chrono::FixedOffset, to: chrono::FixedOffset) -> String {
    let kind = if to.local_minus_utc() > from.local_minus_utc() {
        "DAYLIGHT"
    } else {
        "STANDARD"
    };
    format!(
        "BEGIN:{kind}\r\nDTSTART:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nEND:{kind}\r\n",
        local.format("%Y%m%dT%H%M%S"),
        utc_offset(from),
        utc_offset(to)
    )
}

/// `+hhmm` / `-hhmm` (RFC 5545 §3.3.14).
fn utc_offset(offset: chrono::FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let secs = secs.abs();
    format!("{sign}{:02}{:02}", secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = chrono_tz::America::New_York;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn wrap(events: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n{events}END:VCALENDAR\r\n")
    }

    #[test]
    fn timed_all_day_zoned_and_duration_events_become_utc_intervals() {
        let ics = wrap(concat!(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20261207T150000Z\r\nDTEND:20261207T160000Z\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:b\r\nDTSTART;VALUE=DATE:20261208\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:c\r\nDTSTART;TZID=/mozilla.org/x/Europe/Berlin:20261209T170000\r\nDURATION:PT30M\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART:20261210T090000\r\nDTEND:20261210T100000\r\nEND:VEVENT\r\n",
        ));
        let busy = busy_intervals(&ics, NY).unwrap();
        let spans: Vec<(NaiveDateTime, NaiveDateTime)> =
            busy.iter().map(|b| (b.start, b.end)).collect();
        assert_eq!(
            spans,
            vec![
                (at("2026-12-07 15:00"), at("2026-12-07 16:00")),
                // The whole local day in New York.
                (at("2026-12-08 05:00"), at("2026-12-09 05:00")),
                (at("2026-12-09 16:00"), at("2026-12-09 16:30")),
                // Floating: the tenant's zone.
                (at("2026-12-10 14:00"), at("2026-12-10 15:00")),
            ]
        );
    }

    #[test]
    fn transparent_and_cancelled_events_block_nothing() {
        let ics = wrap(concat!(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20261207T150000Z\r\nDTEND:20261207T160000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20261207T150000Z\r\nDTEND:20261207T160000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n",
        ));
        assert!(busy_intervals(&ics, NY).unwrap().is_empty());
    }

    #[test]
    fn a_booking_event_names_its_zone_and_reads_back() {
        let text = booking_calendar(&BookingEvent {
            uid: "appt-1",
            local_start: at("2026-07-07 10:00"),
            tz: NY,
            minutes: 60,
            summary: "Cleaning — Dana Smith".into(),
            description: "Phone: +15550100001".into(),
            cancelled: false,
            stamp: Utc::now(),
        });
        assert!(
            text.contains("DTSTART;TZID=America/New_York:20260707T100000"),
            "{text}"
        );
        assert!(text.contains("TZOFFSETTO:-0400"), "{text}");
        assert!(text.find("BEGIN:VTIMEZONE") < text.find("BEGIN:VEVENT"));
        let busy = busy_intervals(&text, chrono_tz::UTC).unwrap();
        assert_eq!(busy.len(), 1);
        assert_eq!(
            (busy[0].start, busy[0].end),
            (at("2026-07-07 14:00"), at("2026-07-07 15:00"))
        );
    }

    #[test]
    fn summaries_capitalise_the_service() {
        assert_eq!(
            booking_summary("cleaning", Some("Dana Smith")),
            "Cleaning — Dana Smith"
        );
        assert_eq!(
            booking_summary("checkup", Some(" ")),
            "Checkup — a customer"
        );
    }

    #[test]
    fn calendar_data_with_bare_line_feeds_parses() {
        // Radicale answers `calendar-data` with LF line ends.
        let ics = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:t\nBEGIN:VEVENT\nUID:a\n\
                   RECURRENCE-ID:20261221T170000Z\nDTSTART:20261221T200000Z\n\
                   DTEND:20261221T210000Z\nEND:VEVENT\nEND:VCALENDAR\n";
        let busy = busy_intervals(ics, NY).unwrap();
        assert_eq!(
            (busy[0].start, busy[0].end),
            (at("2026-12-21 20:00"), at("2026-12-21 21:00"))
        );
    }

    #[test]
    fn recurring_objects_are_told_apart() {
        assert!(is_recurring(
            "BEGIN:VEVENT\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT"
        ));
        assert!(is_recurring(
            "BEGIN:VEVENT\nRDATE;TZID=Europe/Berlin:20261201T100000\n"
        ));
        assert!(!is_recurring(
            "BEGIN:VEVENT\r\nSUMMARY:RRULE talk\r\nEND:VEVENT"
        ));
    }

    #[test]
    fn durations_read_weeks_days_and_times() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("P1D"), Some(Duration::days(1)));
        assert_eq!(parse_duration("P2W"), Some(Duration::weeks(2)));
        assert_eq!(parse_duration("nonsense"), None);
    }

    #[test]
    fn a_vtimezone_without_changes_has_one_observance() {
        let zone = vtimezone(
            chrono_tz::Asia::Tokyo,
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        );
        assert_eq!(zone.matches("BEGIN:STANDARD").count(), 1, "{zone}");
        assert!(zone.contains("TZOFFSETTO:+0900"));
    }
}
