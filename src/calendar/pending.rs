//! Event writes the calendar has not taken yet. A booking is stored first and
//! its event write queued in the same database (`calendar_writes`); the write
//! is tried at once, and whatever did not land is retried by the
//! [`CalendarSync`] actor — at start-up and every [`RETRY_EVERY`] — until it
//! does, so a calendar outage loses nothing, across restarts too.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use crate::store::calendar::{self as rows, CalendarOp, CalendarWriteRow};
use crate::store::models::{AppointmentRow, CustomerRow};
use crate::store::{blocking, customers};
use crate::tenant::TenantConfig;

use super::ical::{booking_calendar, booking_summary, BookingEvent};
use super::{CalendarError, TenantCalendars};

/// How often queued event writes are retried.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);
/// Queued writes tried per pass.
const BATCH: i64 = 100;

/// The iCalendar text of an appointment's event: `SUMMARY` "Cleaning — Dana
/// Smith", `DESCRIPTION` with the phone and the dashboard link of the call,
/// `DTSTART` in the tenant's zone, `DURATION` its length, `UID` its id.
pub fn booking_ics(
    appointment: &AppointmentRow,
    customer: Option<&CustomerRow>,
    tenant: &TenantConfig,
    public_base: &str,
    cancelled: bool,
) -> String {
    let tz = tenant.tz();
    let local_start = appointment
        .starts_at
        .and_utc()
        .with_timezone(&tz)
        .naive_local();
    let minutes = (appointment.ends_at - appointment.starts_at)
        .num_minutes()
        .clamp(1, 24 * 60) as u32;
    let mut description = Vec::new();
    if let Some(phone) = customer.and_then(|c| c.phone.as_deref()) {
        description.push(format!("Phone: {phone}"));
    }
    if let Some(call) = appointment.call_id.as_deref() {
        description.push(format!("Call: {public_base}/#call={call}"));
    }
    description.push(format!("Booked by the receptionist of {}.", tenant.name));
    booking_calendar(&BookingEvent {
        uid: &appointment.id,
        local_start,
        tz,
        minutes,
        summary: booking_summary(
            &appointment.service,
            customer.and_then(|c| c.name.as_deref()),
        ),
        description: description.join("\n"),
        cancelled,
        stamp: Utc::now(),
    })
}

impl TenantCalendars {
    /// Tries the queued write of the appointment now; nothing to do when none
    /// is queued. A failure is recorded on the queued row (attempts, last
    /// error) and the row stays for the next retry.
    ///
    /// Errors: the calendar's, or [`CalendarError::Store`].
    pub async fn push(&self, appointment_id: &str) -> Result<(), CalendarError> {
        let id = appointment_id.to_owned();
        let found = blocking(&self.pool, move |conn| {
            let Some(write) = rows::pending_for(conn, &id)? else {
                return Ok(None);
            };
            let Some(appointment) = crate::store::appointments::get(conn, &id)? else {
                return Ok(None);
            };
            let customer = customers::find_by_id(conn, &appointment.customer_id)?;
            Ok(Some((write, appointment, customer)))
        })
        .await?;
        let Some((write, appointment, customer)) = found else {
            return Ok(());
        };
        self.attempt(write, appointment, customer).await
    }

    async fn attempt(
        &self,
        write: CalendarWriteRow,
        appointment: AppointmentRow,
        customer: Option<CustomerRow>,
    ) -> Result<(), CalendarError> {
        let id = appointment.id.clone();
        let Some(op) = CalendarOp::parse(&write.op) else {
            return Ok(());
        };
        let result = self.perform(op, &appointment, customer.as_ref()).await;
        let pool = self.pool.clone();
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                let now = Utc::now().naive_utc();
                blocking(&pool, move |conn| rows::failed(conn, &id, op, &text, now)).await?;
                Err(e)
            }
        }
    }

    async fn perform(
        &self,
        op: CalendarOp,
        appointment: &AppointmentRow,
        customer: Option<&CustomerRow>,
    ) -> Result<(), CalendarError> {
        let id = appointment.id.clone();
        let tenant = self.tenant(&appointment.tenant_id);
        let client = self.client(&appointment.tenant_id);
        let (Some(tenant), Some(client)) = (tenant, client) else {
            // The tenant lost its calendar in the configuration: nothing to write to.
            blocking(&self.pool, move |conn| rows::event_removed(conn, &id)).await?;
            return Ok(());
        };
        let dav = client?;
        match op {
            CalendarOp::Put => {
                let ics = booking_ics(appointment, customer, &tenant, &self.public_base, false);
                let created = dav.create(&appointment.id, ics).await?;
                blocking(&self.pool, move |conn| {
                    rows::event_created(conn, &id, &created.href, created.etag.as_deref())
                })
                .await?;
            }
            CalendarOp::Delete => {
                let href = appointment
                    .calendar_href
                    .clone()
                    .unwrap_or_else(|| dav.event_url(&appointment.id));
                match dav
                    .delete(&href, appointment.calendar_etag.as_deref())
                    .await
                {
                    Ok(()) => {}
                    // The owner edited the event since: theirs to keep or remove.
                    Err(CalendarError::Changed(href)) => {
                        log::warn!("calendar: {href} was changed by its owner; left in place")
                    }
                    Err(e) => return Err(e),
                }
                blocking(&self.pool, move |conn| rows::event_removed(conn, &id)).await?;
            }
        }
        Ok(())
    }

    /// One pass over the queued writes, oldest first; returns how many landed.
    pub async fn retry_pending(&self) -> usize {
        let queued = match blocking(&self.pool, |conn| rows::pending(conn, BATCH)).await {
            Ok(q) => q,
            Err(e) => {
                log::debug!("calendar: queued event writes not read: {e}");
                return 0;
            }
        };
        let mut landed = 0;
        for (write, appointment) in queued {
            let customer_id = appointment.customer_id.clone();
            let customer = blocking(&self.pool, move |conn| {
                customers::find_by_id(conn, &customer_id)
            })
            .await
            .ok()
            .flatten();
            let (id, op) = (appointment.id.clone(), write.op.clone());
            match self.attempt(write, appointment, customer).await {
                Ok(()) => {
                    landed += 1;
                    log::info!("calendar: queued {op} of appointment {id} landed");
                }
                Err(e) => log::debug!("calendar: queued {op} of appointment {id}: {e}"),
            }
        }
        landed
    }
}

/// Retries queued event writes: once when started, then every
/// [`RETRY_EVERY`]; a pass still running skips the tick.
pub struct CalendarSync {
    calendars: Arc<TenantCalendars>,
    busy: bool,
}

impl CalendarSync {
    /// A retrier over `calendars`.
    pub fn new(calendars: Arc<TenantCalendars>) -> Self {
        CalendarSync {
            calendars,
            busy: false,
        }
    }

    fn kick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let calendars = self.calendars.clone();
        ctx.spawn(
            async move { calendars.retry_pending().await }
                .into_actor(self)
                .map(|_, act, _| act.busy = false),
        );
    }
}

impl Actor for CalendarSync {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.kick(ctx);
        ctx.run_interval(RETRY_EVERY, |act, ctx| act.kick(ctx));
    }
}

/// Stop retrying (shutdown): queued writes stay in the database for the next start.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSync;

impl Handler<StopSync> for CalendarSync {
    type Result = ();

    fn handle(&mut self, _: StopSync, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
