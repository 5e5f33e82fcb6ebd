//! How an instant reads in a tenant's own zone, for owners and operators.

use chrono::NaiveDateTime;
use chrono_tz::Tz;

/// A UTC instant as the owner reads it in `tz`: `Tue 2 Dec 09:00`.
pub fn local_time(tz: Tz, utc: NaiveDateTime) -> String {
    utc.and_utc()
        .with_timezone(&tz)
        .format("%a %-d %b %H:%M")
        .to_string()
}
