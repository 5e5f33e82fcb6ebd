//! Queries over `appointments`. The database, not the caller, decides who
//! gets a slot: a partial unique index on `(tenant_id, starts_at) WHERE
//! status = 'booked'` lets exactly one of two racing bookings commit, and the
//! other gets [`StoreError::Conflict`]. Cancelling frees the slot.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{AppointmentRow, AppointmentStatus};
use super::schema::appointments;
use super::{DbConnection, StoreError};

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
    Ok(appointments::table
        .filter(appointments::tenant_id.eq(tenant_id))
        .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
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
    let updated = diesel::update(
        appointments::table
            .filter(appointments::id.eq(appointment_id))
            .filter(appointments::tenant_id.eq(tenant_id))
            .filter(appointments::status.eq(AppointmentStatus::Booked.as_str())),
    )
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
    Ok(appointments::table
        .filter(appointments::tenant_id.eq(tenant_id))
        .filter(appointments::customer_id.eq(customer_id))
        .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
        .filter(appointments::starts_at.ge(from))
        .filter(appointments::starts_at.lt(to))
        .order(appointments::starts_at.asc())
        .select(AppointmentRow::as_select())
        .load(conn)?)
}
