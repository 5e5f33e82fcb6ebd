//! Slot arithmetic for bookings (pure, no I/O): a tenant's local day is cut into
//! slots of the service's length from opening time, each converted to UTC in the
//! tenant's IANA zone; slots that have started or overlap a booked appointment
//! are not free. Local date/time arguments are parsed here with messages the
//! model can relay.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::tenant::TenantConfig;
use crate::tools::ToolError;

/// One slot: local start (for the caller) and its UTC span (for the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub local_start: NaiveDateTime,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(field: &str, value: &str) -> Result<NaiveDate, ToolError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        ToolError::InvalidArguments(format!("{field}: {value:?} is not a date like 2026-03-14"))
    })
}

/// Parses a local `YYYY-MM-DDTHH:MM` (seconds and a space instead of `T` accepted).
pub fn parse_local_datetime(field: &str, value: &str) -> Result<NaiveDateTime, ToolError> {
    let v = value.trim();
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
    .ok_or_else(|| {
        ToolError::InvalidArguments(format!(
            "{field}: {value:?} is not a local date and time like 2026-03-14T10:00"
        ))
    })
}

/// UTC (naive, as stored) of a local time in `tz`; the earlier instant when the
/// local time is ambiguous (DST fall-back), `None` when it does not exist
/// (spring-forward gap).
pub fn to_utc(tz: Tz, local: NaiveDateTime) -> Option<NaiveDateTime> {
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc).naive_utc())
}

/// The tenant's local date at `now`.
pub fn local_today(tenant: &TenantConfig, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tenant.tz()).date_naive()
}

/// Every slot of `minutes` on `date` within opening hours (none on a closed day).
pub fn day_slots(tenant: &TenantConfig, date: NaiveDate, minutes: u32) -> Vec<Slot> {
    let Some((open, close)) = tenant.hours_on(date) else {
        return Vec::new();
    };
    let tz = tenant.tz();
    let len = Duration::minutes(i64::from(minutes));
    let close_at = date.and_time(close);
    let mut slots = Vec::new();
    let mut start = date.and_time(open);
    while start + len <= close_at {
        if let (Some(s), Some(e)) = (to_utc(tz, start), to_utc(tz, start + len)) {
            slots.push(Slot {
                local_start: start,
                starts_at: s,
                ends_at: e,
            });
        }
        start += len;
    }
    slots
}

/// The slot of `minutes` starting at local `start`, if it lies on the day's slot
/// grid within opening hours.
pub fn slot_at(tenant: &TenantConfig, start: NaiveDateTime, minutes: u32) -> Option<Slot> {
    day_slots(tenant, start.date(), minutes)
        .into_iter()
        .find(|s| s.local_start == start)
}

/// UTC bounds `[start, end)` of a local day.
pub fn day_bounds_utc(tenant: &TenantConfig, date: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
    let tz = tenant.tz();
    let start =
        to_utc(tz, date.and_time(NaiveTime::MIN)).unwrap_or_else(|| date.and_time(NaiveTime::MIN));
    let next = date.succ_opt().unwrap_or(date);
    let end = to_utc(tz, next.and_time(NaiveTime::MIN)).unwrap_or(start + Duration::days(1));
    (start, end)
}

/// Whether `[a_start, a_end)` and `[b_start, b_end)` overlap.
pub fn overlaps(a: (NaiveDateTime, NaiveDateTime), b: (NaiveDateTime, NaiveDateTime)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The slot length of `service`, or an error listing what the tenant offers.
pub fn service_minutes(tenant: &TenantConfig, service: &str) -> Result<u32, ToolError> {
    tenant.slot_minutes(service.trim()).ok_or_else(|| {
        let offered: Vec<&str> = tenant.services.keys().map(String::as_str).collect();
        ToolError::InvalidArguments(if offered.is_empty() {
            "service: this business takes no bookings".to_string()
        } else {
            format!(
                "service: {service:?} is not offered; choose one of {}",
                offered.join(", ")
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantConfig {
        let mut t = TenantConfig::example();
        t.business_hours.insert("mon".into(), "09:00-12:00".into());
        t
    }

    #[test]
    fn slots_fill_opening_hours_in_the_tenant_zone() {
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let slots = day_slots(&tenant(), monday, 60);
        let starts: Vec<String> = slots
            .iter()
            .map(|s| s.local_start.format("%H:%M").to_string())
            .collect();
        assert_eq!(starts, ["09:00", "10:00", "11:00"]);
        // New York is UTC-5 in November.
        assert_eq!(slots[0].starts_at.format("%H:%M").to_string(), "14:00");
        assert_eq!(day_slots(&tenant(), monday, 45).len(), 4);
        let tuesday = monday.succ_opt().unwrap();
        assert!(day_slots(&tenant(), tuesday, 60).is_empty());
    }

    #[test]
    fn slot_at_requires_the_grid_and_hours() {
        let at = |s: &str| parse_local_datetime("d", s).unwrap();
        assert!(slot_at(&tenant(), at("2026-11-23T10:00"), 60).is_some());
        assert!(slot_at(&tenant(), at("2026-11-23T10:30"), 60).is_none());
        assert!(slot_at(&tenant(), at("2026-11-23T12:00"), 60).is_none());
        assert!(slot_at(&tenant(), at("2026-11-23T08:00"), 60).is_none());
    }

    #[test]
    fn bad_dates_get_clear_messages() {
        let e = parse_date("date", "next tuesday").unwrap_err();
        assert!(e.to_string().contains("not a date like"), "{e}");
        assert!(parse_local_datetime("dateTime", "2026-11-23 10:00").is_ok());
        assert!(parse_local_datetime("dateTime", "10am").is_err());
    }
}
