//! `cancelBooking`: cancels the caller's own booked appointments on a local
//! date, freeing their slots — found by the verified caller's number only
//! ([`crate::tools::identity`]). For a tenant with `[tenants.calendar]` each
//! cancelled booking's event is deleted from the business's calendar (queued
//! with the cancellation, retried until it lands).

use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use diesel::Connection;

use crate::notify::{self, OwnerEvent};
use crate::store::calendar::{self as calendar_rows, CalendarOp};
use crate::store::{appointments, customers, StoreError};
use crate::tools::builtin::with_conn;
use crate::tools::env::ToolEnv;
use crate::tools::schedule;
use crate::tools::{args, identity, Tool, ToolContext, ToolError, ToolOutcome};

/// The `cancelBooking` tool.
pub struct CancelBooking;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    #[serde(default)]
    customer_phone: Option<String>,
    appointment_date: String,
}

impl Tool for CancelBooking {
    fn name(&self) -> &str {
        "cancelBooking"
    }

    fn description(&self) -> &str {
        "Cancel the caller's own appointment(s) on a date, found by the number they are calling from. Someone else's booking cannot be cancelled."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "customerPhone": {"type": "string", "description": "The caller's own number (E.164); omit to use the number calling. Another number is refused."},
                "appointmentDate": {"type": "string", "description": "Local date of the appointment, YYYY-MM-DD"}
            },
            "required": ["appointmentDate"]
        })
    }

    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        Box::pin(async move {
            let a: Args = args::parse(args)?;
            let tenant = ctx.tenant.clone();
            let phone =
                identity::caller_number(&ctx, "customerPhone", a.customer_phone.as_deref())?;
            let date = schedule::parse_date("appointmentDate", &a.appointment_date)?;
            if date < schedule::local_today(&tenant, Utc::now()) {
                return Err(ToolError::InvalidArguments(format!(
                    "appointmentDate: {date} is in the past"
                )));
            }
            let (from, to) = schedule::day_bounds_utc(&tenant, date);
            let tenant_id = tenant.id.clone();
            let notify_tenant = tenant.clone();
            let not_found = format!("there is no booking for {phone} on {date}");
            let has_calendar = env.calendars.client(&tenant.id).is_some();
            let cancelled = with_conn(&env.pool, move |conn| {
                let customer = customers::find_by_phone(conn, &tenant_id, &phone)?
                    .ok_or_else(|| StoreError::Conflict(not_found.clone()))?;
                let booked =
                    appointments::booked_for_customer(conn, &tenant_id, &customer.id, from, to)?;
                let mut cancelled = Vec::new();
                for appointment in booked {
                    conn.transaction(|conn| {
                        if appointments::cancel(conn, &tenant_id, &appointment.id)? {
                            let event = OwnerEvent::BookingCancelled {
                                appointment: appointment.clone(),
                                customer_phone: customer.phone.clone(),
                            };
                            notify::enqueue(conn, &notify_tenant, &event, Utc::now())?;
                            if has_calendar {
                                let now = Utc::now().naive_utc();
                                calendar_rows::queue(
                                    conn,
                                    &appointment.id,
                                    &tenant_id,
                                    CalendarOp::Delete,
                                    now,
                                )?;
                            }
                            cancelled.push(appointment.clone());
                        }
                        Ok::<_, StoreError>(())
                    })?;
                }
                if cancelled.is_empty() {
                    return Err(StoreError::Conflict(not_found));
                }
                Ok(cancelled)
            })
            .await?;
            if has_calendar {
                for c in &cancelled {
                    if let Err(e) = env.calendars.push(&c.id).await {
                        log::warn!(
                            "tenant {}: removal of booking {}'s event queued: {e}",
                            tenant.id,
                            c.id
                        );
                    }
                }
            }
            let tz: Tz = tenant.tz();
            let list: Vec<Value> = cancelled
                .iter()
                .map(|c| {
                    let local = c.starts_at.and_utc().with_timezone(&tz);
                    json!({
                        "appointmentId": c.id,
                        "service": c.service,
                        "start": local.format("%Y-%m-%dT%H:%M").to_string(),
                    })
                })
                .collect();
            Ok(ToolOutcome::output(
                json!({"cancelled": list.len(), "appointments": list}),
            ))
        })
    }
}
