//! `checkAvailability`: free slots of a service on a local date — the day cut
//! into slots of the service's length within business hours, minus slots that
//! have started and slots overlapping booked appointments or, for a tenant
//! with `[tenants.calendar]`, anything busy in the business's own calendar.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::appointments;
use crate::tools::builtin::{calendar_busy, with_conn};
use crate::tools::env::ToolEnv;
use crate::tools::schedule::{self, overlaps};
use crate::tools::{Tool, ToolContext, ToolError, ToolOutcome};

/// The `checkAvailability` tool.
pub struct CheckAvailability;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    date: String,
    service: String,
}

impl Tool for CheckAvailability {
    fn name(&self) -> &str {
        "checkAvailability"
    }

    fn description(&self) -> &str {
        "List the free appointment start times (local time) for a service on a date."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "date": {"type": "string", "description": "Local date, YYYY-MM-DD"},
                "service": {"type": "string", "description": "One of the services the business offers, e.g. cleaning"}
            },
            "required": ["date", "service"]
        })
    }

    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        Box::pin(async move {
            let a: Args = crate::tools::args::parse(args)?;
            let tenant = ctx.tenant.clone();
            let date = schedule::parse_date("date", &a.date)?;
            let minutes = schedule::service_minutes(&tenant, &a.service)?;
            let now = Utc::now();
            if date < schedule::local_today(&tenant, now) {
                return Err(ToolError::InvalidArguments(format!(
                    "date: {date} is in the past"
                )));
            }
            let (from, to) = schedule::day_bounds_utc(&tenant, date);
            let slots = schedule::day_slots(&tenant, date, minutes);
            // A closed day needs no calendar read (nor fails for want of one).
            // The read comes first: it moves or cancels the bookings whose
            // events the owner changed.
            let calendar = if slots.is_empty() {
                Vec::new()
            } else {
                calendar_busy(&env, &tenant, from, to).await?
            };
            let tenant_id = tenant.id.clone();
            let booked = with_conn(&env.pool, move |conn| {
                appointments::booked_between(conn, &tenant_id, from, to)
            })
            .await?;
            let now = now.naive_utc();
            let free: Vec<String> = slots
                .into_iter()
                .filter(|s| s.starts_at > now)
                .filter(|s| {
                    let span = (s.starts_at, s.ends_at);
                    !booked
                        .iter()
                        .any(|b| overlaps(span, (b.starts_at, b.ends_at)))
                        && !calendar.iter().any(|busy| overlaps(span, *busy))
                })
                .map(|s| s.local_start.format("%H:%M").to_string())
                .collect();
            Ok(ToolOutcome::output(json!({
                "date": date.to_string(),
                "service": a.service.trim(),
                "slotMinutes": minutes,
                "timeZone": tenant.time_zone,
                "open": tenant.hours_on(date).is_some(),
                "freeSlots": free,
            })))
        })
    }
}
