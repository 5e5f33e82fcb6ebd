//! Queries over `appointments`. The database, not the caller, decides who
//! gets a slot: a partial unique index on `(tenant_id, starts_at) WHERE
//! status = 'booked'` lets exactly one of two racing bookings commit, and the
//! other gets [`StoreError::Conflict`]. Cancelling frees the slot.

use chrono::NaiveDateTime;
use diesel::dsl::{Eq, Filter};
use diesel::prelude::*;

use super::db::on_backend;
use super::models::{AppointmentRow, AppointmentStatus, CustomerRow};
use super::schema::{appointments, customers};
use super::{DbConnection, StoreError};

/// The tenant's booked appointments: where every query here starts.
type BookedOf<'a> = Filter<
    Filter<appointments::table, Eq<appointments::tenant_id, &'a str>>,
    Eq<appointments::status, &'static str>,
>;

fn booked_of(tenant_id: &str) -> BookedOf<'_> {
    appointments::table
        .filter(appointments::tenant_id.eq(tenant_id))
        .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
}

/// The tenant's booked appointment with this id.
fn booked_one<'a>(
    tenant_id: &'a str,
    appointment_id: &'a str,
) -> Filter<BookedOf<'a>, Eq<appointments::id, &'a str>> {
    booked_of(tenant_id).filter(appointments::id.eq(appointment_id))
}

/// Insert an appointment (normally `status = booked`).
///
/// Errors: [`StoreError::Conflict`] if the tenant already has a booked
/// appointment starting at `starts_at` (or the id exists);
/// [`StoreError::Query`] otherwise (e.g. unknown `customer_id`).
pub fn insert(conn: &mut DbConnection, appointment: &AppointmentRow) -> Result<(), StoreError> {
    diesel::insert_into(appointments::table)
        .values(appointment)
        .execute(conn)?;
    Ok(())
}

/// The tenant's booked appointments overlapping `[from, to)` (UTC), by start.
pub fn booked_between(
    conn: &mut DbConnection,
    tenant_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<AppointmentRow>, StoreError> {
    Ok(booked_of(tenant_id)
        .filter(appointments::starts_at.lt(to))
        .filter(appointments::ends_at.gt(from))
        .order(appointments::starts_at.asc())
        .select(AppointmentRow::as_select())
        .load(conn)?)
}

/// Cancel a booked appointment of this tenant, freeing its slot. Returns
/// false if there is no booked appointment with this id for the tenant.
pub fn cancel(
    conn: &mut DbConnection,
    tenant_id: &str,
    appointment_id: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(booked_one(tenant_id, appointment_id))
        .set(appointments::status.eq(AppointmentStatus::Cancelled.as_str()))
        .execute(conn)?;
    Ok(updated > 0)
}

/// A customer's booked appointments with this tenant starting in `[from, to)`
/// (UTC), by start.
pub fn booked_for_customer(
    conn: &mut DbConnection,
    tenant_id: &str,
    customer_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<AppointmentRow>, StoreError> {
    Ok(booked_of(tenant_id)
        .filter(appointments::customer_id.eq(customer_id))
        .filter(appointments::starts_at.ge(from))
        .filter(appointments::starts_at.lt(to))
        .order(appointments::starts_at.asc())
        .select(AppointmentRow::as_select())
        .load(conn)?)
}

/// What the bookings view lists: appointments starting in `[from, to)` (UTC),
/// optionally of one tenant, service, status or customer phone, by start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BookingQuery {
    /// Only this tenant's appointments; `None` = every tenant.
    pub tenant_id: Option<String>,
    /// Earliest start (inclusive), UTC.
    pub from: Option<NaiveDateTime>,
    /// Latest start (exclusive), UTC.
    pub to: Option<NaiveDateTime>,
    /// Only this service (exact, as configured).
    pub service: Option<String>,
    /// Only `booked` or `cancelled`.
    pub status: Option<String>,
    /// Only the customer with this E.164 phone.
    pub caller: Option<String>,
    /// Page size (clamped to 0…).
    pub limit: i64,
    /// Rows skipped before the page.
    pub offset: i64,
}

/// One page of appointments matching `q` with their customers (by start, then
/// id), and how many match in all.
pub fn list(
    conn: &mut DbConnection,
    q: &BookingQuery,
) -> Result<(Vec<(AppointmentRow, CustomerRow)>, i64), StoreError> {
    Ok(on_backend!(conn, |c| {
        let filtered = || {
            let mut query = appointments::table
                .inner_join(customers::table)
                .into_boxed();
            if let Some(t) = &q.tenant_id {
                query = query.filter(appointments::tenant_id.eq(t.clone()));
            }
            if let Some(from) = q.from {
                query = query.filter(appointments::starts_at.ge(from));
            }
            if let Some(to) = q.to {
                query = query.filter(appointments::starts_at.lt(to));
            }
            if let Some(s) = &q.service {
                query = query.filter(appointments::service.eq(s.clone()));
            }
            if let Some(s) = &q.status {
                query = query.filter(appointments::status.eq(s.clone()));
            }
            if let Some(p) = &q.caller {
                query = query.filter(customers::phone.eq(p.clone()));
            }
            query
        };
        let total: i64 = filtered().count().get_result(c)?;
        let rows = filtered()
            .order((appointments::starts_at.asc(), appointments::id.asc()))
            .limit(q.limit.max(0))
            .offset(q.offset.max(0))
            .select((AppointmentRow::as_select(), CustomerRow::as_select()))
            .load(c)?;
        (rows, total)
    }))
}

/// The appointment with this id, if any.
pub fn get(conn: &mut DbConnection, id: &str) -> Result<Option<AppointmentRow>, StoreError> {
    Ok(appointments::table
        .find(id)
        .select(AppointmentRow::as_select())
        .first(conn)
        .optional()?)
}

/// The tenant's booked appointments whose calendar event has landed
/// (`calendar_href` set) and that overlap `[from, to)` (UTC) or have one of
/// `ids`: the bookings whose event the owner may have moved or deleted.
pub fn landed_between_or_among(
    conn: &mut DbConnection,
    tenant_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    ids: &[String],
) -> Result<Vec<AppointmentRow>, StoreError> {
    Ok(booked_of(tenant_id)
        .filter(appointments::calendar_href.is_not_null())
        .filter(
            appointments::starts_at
                .lt(to)
                .and(appointments::ends_at.gt(from))
                .or(appointments::id.eq_any(ids)),
        )
        .order(appointments::starts_at.asc())
        .select(AppointmentRow::as_select())
        .load(conn)?)
}

/// Moves a booked appointment of this tenant to `[starts_at, ends_at)` (UTC)
/// and records its event's new ETag: the owner moved the event. Returns false
/// if there is no booked appointment with this id for the tenant.
///
/// Errors: [`StoreError::Conflict`] when another booking already starts at
/// `starts_at`.
pub fn reschedule(
    conn: &mut DbConnection,
    tenant_id: &str,
    appointment_id: &str,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    etag: Option<&str>,
) -> Result<bool, StoreError> {
    let updated = diesel::update(booked_one(tenant_id, appointment_id))
        .set((
            appointments::starts_at.eq(starts_at),
            appointments::ends_at.eq(ends_at),
            appointments::calendar_etag.eq(etag),
        ))
        .execute(conn)?;
    Ok(updated > 0)
}
