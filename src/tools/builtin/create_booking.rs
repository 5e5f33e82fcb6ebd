//! `createBooking`: books a service at a local date/time for a customer (found
//! or created by phone). Refuses times in the past, off the slot grid, outside
//! business hours, or overlapping a booking; two calls racing for one slot are
//! decided by the database (partial unique index on booked start times), so
//! exactly one wins on SQLite and PostgreSQL alike.
//!
//! For a tenant with `[tenants.calendar]` the slot is first re-read from the
//! business's calendar (an event the owner added since `checkAvailability`
//! refuses it; an unreadable calendar refuses every booking), then the
//! booking is stored with its event write queued, and the event is written
//! at once; a write that fails stays queued and is retried until it lands.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};

use diesel::Connection;

use crate::notify::{self, OwnerEvent};
use crate::store::calendar::{self as calendar_rows, CalendarOp};
use crate::store::models::{AppointmentRow, AppointmentStatus};
use crate::store::{appointments, customers, StoreError};
use crate::tools::builtin::{calendar_busy, with_conn};
use crate::tools::env::ToolEnv;
use crate::tools::schedule;
use crate::tools::{args, identity, Tool, ToolContext, ToolError, ToolOutcome};

/// The `createBooking` tool.
pub struct CreateBooking;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Args {
    customer_name: String,
    #[serde(default)]
    customer_phone: Option<String>,
    service: String,
    date_time: String,
}

impl Tool for CreateBooking {
    fn name(&self) -> &str {
        "createBooking"
    }

    fn description(&self) -> &str {
        "Book an appointment. Check availability first; the time must be a free slot start."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "customerName": {"type": "string", "description": "Customer's full name"},
                "customerPhone": {"type": "string", "description": "E.164 number; on a call or SMS it must be the number calling (omit to use it)"},
                "service": {"type": "string", "description": "One of the services the business offers"},
                "dateTime": {"type": "string", "description": "Local start, YYYY-MM-DDTHH:MM"}
            },
            "required": ["customerName", "service", "dateTime"]
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
            let name = args::text("customerName", &a.customer_name, 200)?;
            // Bookings are made under the verified number when the line has
            // one; a browser or email line has none, and names the number.
            let verified = ctx
                .caller
                .as_deref()
                .filter(|c| args::e164("caller", c).is_ok());
            let phone = match (verified, a.customer_phone.as_deref()) {
                (Some(_), asked) => identity::caller_number(&ctx, "customerPhone", asked)?,
                (None, Some(asked)) => args::e164("customerPhone", asked)?,
                (None, None) => {
                    return Err(ToolError::InvalidArguments(
                        "customerPhone: missing (this line has no caller number)".into(),
                    ))
                }
            };
            let service = a.service.trim().to_string();
            let minutes = schedule::service_minutes(&tenant, &service)?;
            let local = schedule::parse_local_datetime("dateTime", &a.date_time)?;
            let now = Utc::now().naive_utc();
            let slot = schedule::slot_at(&tenant, local, minutes).ok_or_else(|| {
                ToolError::Refused(format!(
                    "{} is not a {service} slot during business hours; check availability for {} first",
                    local.format("%Y-%m-%d %H:%M"),
                    local.date()
                ))
            })?;
            if slot.starts_at <= now {
                return Err(ToolError::InvalidArguments(format!(
                    "dateTime: {} is in the past",
                    local.format("%Y-%m-%dT%H:%M")
                )));
            }
            let calendar = calendar_busy(&env, &tenant, slot.starts_at, slot.ends_at).await?;
            if calendar
                .iter()
                .any(|busy| schedule::overlaps((slot.starts_at, slot.ends_at), *busy))
            {
                return Err(ToolError::Refused(format!(
                    "the {} slot on {} is no longer free: something was just added to the business's \
                     calendar at that time; check availability again and offer another time",
                    local.format("%H:%M"),
                    local.date()
                )));
            }
            let has_calendar = env.calendars.client(&tenant.id).is_some();
            let row = AppointmentRow {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant.id.clone(),
                customer_id: String::new(),
                service: service.clone(),
                starts_at: slot.starts_at,
                ends_at: slot.ends_at,
                status: AppointmentStatus::Booked.as_str().to_string(),
                call_id: ctx.call_id.clone(),
                created_at: now,
                calendar_href: None,
                calendar_etag: None,
            };
            let taken = format!(
                "the {} slot on {} is already taken; offer another time",
                local.format("%H:%M"),
                local.date()
            );
            let notify_tenant = tenant.clone();
            let (appointment_id, customer_id) = with_conn(&env.pool, move |conn| {
                let customer = customers::upsert_by_phone(
                    conn,
                    &row.tenant_id,
                    &phone,
                    Some(&name),
                    None,
                    now,
                )?;
                let clash =
                    appointments::booked_between(conn, &row.tenant_id, row.starts_at, row.ends_at)?;
                if !clash.is_empty() {
                    return Err(StoreError::Conflict(taken));
                }
                let row = AppointmentRow {
                    customer_id: customer.id.clone(),
                    ..row
                };
                conn.transaction(|conn| {
                    match appointments::insert(conn, &row) {
                        Ok(()) => {}
                        Err(StoreError::Conflict(_)) => return Err(StoreError::Conflict(taken)),
                        Err(e) => return Err(e),
                    }
                    let event = OwnerEvent::BookingMade {
                        appointment: row.clone(),
                        customer_name: customer.name.clone(),
                        customer_phone: customer.phone.clone(),
                    };
                    notify::enqueue(conn, &notify_tenant, &event, Utc::now())?;
                    if has_calendar {
                        calendar_rows::queue(conn, &row.id, &row.tenant_id, CalendarOp::Put, now)?;
                    }
                    Ok((row.id.clone(), customer.id.clone()))
                })
            })
            .await?;
            let calendar_state = if !has_calendar {
                None
            } else {
                match env.calendars.push(&appointment_id).await {
                    Ok(()) => Some("added"),
                    Err(e) => {
                        log::warn!(
                            "tenant {}: event of booking {appointment_id} queued: {e}",
                            tenant.id
                        );
                        Some("pending")
                    }
                }
            };
            let mut output = json!({
                "booked": true,
                "appointmentId": appointment_id,
                "customerId": customer_id,
                "service": service,
                "start": local.format("%Y-%m-%dT%H:%M").to_string(),
                "minutes": minutes,
                "timeZone": tenant.time_zone,
            });
            // "pending": the booking stands; its calendar event is written as
            // soon as the calendar takes it.
            if let Some(state) = calendar_state {
                output["calendar"] = json!(state);
            }
            Ok(ToolOutcome::output(output))
        })
    }
}
