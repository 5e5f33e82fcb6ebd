//! Queries for bookings kept in tenants' CalDAV calendars: the event each
//! appointment became (`appointments.calendar_href`/`calendar_etag`), the
//! event writes not yet taken by the calendar (`calendar_writes`, retried until
//! they land, across restarts), and each tenant's feed token
//! (`calendar_feeds`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::db::on_backend;
use super::models::AppointmentRow;
use super::schema::{appointments, calendar_feeds, calendar_writes};
use super::{DbConnection, StoreError};

/// What a pending calendar write does, stored as `calendar_writes.op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarOp {
    /// Create the booking's event (`PUT` with `If-None-Match: *`).
    Put,
    /// Remove the cancelled booking's event (`DELETE` with `If-Match`).
    Delete,
}

impl CalendarOp {
    /// The text stored in `calendar_writes.op`.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarOp::Put => "put",
            CalendarOp::Delete => "delete",
        }
    }

    /// Parses the stored text; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "put" => Some(CalendarOp::Put),
            "delete" => Some(CalendarOp::Delete),
            _ => None,
        }
    }
}

/// A `calendar_writes` row: one event write the calendar has not taken yet.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = calendar_writes)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CalendarWriteRow {
    pub appointment_id: String,
    pub tenant_id: String,
    /// One of [`CalendarOp::as_str`].
    pub op: String,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Queues `op` for the appointment, replacing a queued write of it (a
/// cancellation queued over a create not yet landed replaces it).
pub fn queue(
    conn: &mut DbConnection,
    appointment_id: &str,
    tenant_id: &str,
    op: CalendarOp,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let row = CalendarWriteRow {
        appointment_id: appointment_id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        op: op.as_str().to_owned(),
        attempts: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    on_backend!(conn, |c| diesel::insert_into(calendar_writes::table)
        .values(&row)
        .on_conflict(calendar_writes::appointment_id)
        .do_update()
        .set((
            calendar_writes::op.eq(&row.op),
            calendar_writes::attempts.eq(0),
            calendar_writes::last_error.eq(None::<String>),
            calendar_writes::updated_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// The queued write of an appointment, if any.
pub fn pending_for(
    conn: &mut DbConnection,
    appointment_id: &str,
) -> Result<Option<CalendarWriteRow>, StoreError> {
    Ok(calendar_writes::table
        .find(appointment_id)
        .select(CalendarWriteRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every queued write with its appointment, oldest first (at most `limit`).
pub fn pending(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<(CalendarWriteRow, AppointmentRow)>, StoreError> {
    Ok(calendar_writes::table
        .inner_join(appointments::table.on(appointments::id.eq(calendar_writes::appointment_id)))
        .order(calendar_writes::created_at.asc())
        .limit(limit.max(0))
        .select((CalendarWriteRow::as_select(), AppointmentRow::as_select()))
        .load(conn)?)
}

/// The queued writes of these appointments.
pub fn pending_of(
    conn: &mut DbConnection,
    appointment_ids: &[String],
) -> Result<Vec<CalendarWriteRow>, StoreError> {
    Ok(calendar_writes::table
        .filter(calendar_writes::appointment_id.eq_any(appointment_ids))
        .select(CalendarWriteRow::as_select())
        .load(conn)?)
}

/// Records a failed attempt of the queued write `op` of the appointment.
pub fn failed(
    conn: &mut DbConnection,
    appointment_id: &str,
    op: CalendarOp,
    error: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(
        calendar_writes::table
            .filter(calendar_writes::appointment_id.eq(appointment_id))
            .filter(calendar_writes::op.eq(op.as_str())),
    )
    .set((
        calendar_writes::attempts.eq(calendar_writes::attempts + 1),
        calendar_writes::last_error.eq(Some(error)),
        calendar_writes::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// The event of the appointment landed at `href` (ETag `etag`, when the server
/// sent one): stored on the appointment, and its queued `put` removed.
pub fn event_created(
    conn: &mut DbConnection,
    appointment_id: &str,
    href: &str,
    etag: Option<&str>,
) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::update(appointments::table.find(appointment_id))
            .set((
                appointments::calendar_href.eq(Some(href)),
                appointments::calendar_etag.eq(etag),
            ))
            .execute(conn)?;
        diesel::delete(
            calendar_writes::table
                .filter(calendar_writes::appointment_id.eq(appointment_id))
                .filter(calendar_writes::op.eq(CalendarOp::Put.as_str())),
        )
        .execute(conn)?;
        Ok(())
    })
}

/// The event of the cancelled appointment is gone (or never landed): its
/// href and ETag cleared, and its queued write removed.
pub fn event_removed(conn: &mut DbConnection, appointment_id: &str) -> Result<(), StoreError> {
    conn.transaction(|conn| {
        diesel::update(appointments::table.find(appointment_id))
            .set((
                appointments::calendar_href.eq(None::<String>),
                appointments::calendar_etag.eq(None::<String>),
            ))
            .execute(conn)?;
        diesel::delete(calendar_writes::table.find(appointment_id)).execute(conn)?;
        Ok(())
    })
}

/// The tenant's feed token, if one was issued.
pub fn feed_token(conn: &mut DbConnection, tenant_id: &str) -> Result<Option<String>, StoreError> {
    Ok(calendar_feeds::table
        .find(tenant_id)
        .select(calendar_feeds::token)
        .first(conn)
        .optional()?)
}

/// Stores `token` as the tenant's feed token, replacing the previous one
/// (whose URL stops working).
pub fn set_feed_token(
    conn: &mut DbConnection,
    tenant_id: &str,
    token: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    on_backend!(conn, |c| diesel::insert_into(calendar_feeds::table)
        .values((
            calendar_feeds::tenant_id.eq(tenant_id),
            calendar_feeds::token.eq(token),
            calendar_feeds::created_at.eq(now),
        ))
        .on_conflict(calendar_feeds::tenant_id)
        .do_update()
        .set((
            calendar_feeds::token.eq(token),
            calendar_feeds::created_at.eq(now),
        ))
        .execute(c))?;
    Ok(())
}

/// The tenant's appointments (booked and cancelled) starting at or after
/// `from` (UTC), by start; at most `limit`.
pub fn feed_appointments(
    conn: &mut DbConnection,
    tenant_id: &str,
    from: NaiveDateTime,
    limit: i64,
) -> Result<Vec<AppointmentRow>, StoreError> {
    Ok(appointments::table
        .filter(appointments::tenant_id.eq(tenant_id))
        .filter(appointments::starts_at.ge(from))
        .order(appointments::starts_at.asc())
        .limit(limit.max(0))
        .select(AppointmentRow::as_select())
        .load(conn)?)
}
