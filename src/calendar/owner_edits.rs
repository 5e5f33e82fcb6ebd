//! The owner's edits to switchboard's own booking events. An owner moves a
//! booked patient in their calendar app, or deletes the event; the calendar
//! is the truth, so each read of a day brings the bookings' rows in line
//! with it: a booking whose event (UID = appointment id) shows at another
//! time is moved there, one whose event is gone or cancelled is cancelled.
//! Only bookings whose event has landed are followed; a queued write still
//! holds its slot from the table.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::store::{appointments, blocking, AppointmentRow, StoreError};
use crate::tenant::TenantConfig;

use super::ical::{busy_intervals, BusyInterval};
use super::{CalDav, CalendarError, TenantCalendars};

/// What the owner did to one booking's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerEdit {
    /// The event now spans `[start, end)` (UTC); `etag` its new ETag.
    Moved {
        start: NaiveDateTime,
        end: NaiveDateTime,
        etag: Option<String>,
    },
    /// The event is gone, cancelled or no longer blocks time.
    Removed,
}

/// The event as the owner left it, read from `href` when the day's read did
/// not show it at the booking's time; `None` when it is unchanged.
///
/// Errors: the calendar's ([`CalDav::get`]) or [`CalendarError::Ical`].
async fn edit_of(
    dav: &CalDav,
    row: &AppointmentRow,
    tenant: &TenantConfig,
) -> Result<Option<OwnerEdit>, CalendarError> {
    let Some(href) = row.calendar_href.as_deref() else {
        return Ok(None);
    };
    let Some((etag, ics)) = dav.get(href).await? else {
        return Ok(Some(OwnerEdit::Removed));
    };
    let ours = busy_intervals(&ics, tenant.tz())?
        .into_iter()
        .find(|b| b.uid.as_deref() == Some(row.id.as_str()));
    Ok(Some(match ours {
        None => OwnerEdit::Removed,
        Some(b) if b.start == row.starts_at && b.end == row.ends_at => return Ok(None),
        Some(b) => OwnerEdit::Moved {
            start: b.start,
            end: b.end,
            etag,
        },
    }))
}

impl TenantCalendars {
    /// Brings the tenant's landed bookings in `[from, to)` (UTC), and those
    /// whose event `busy` shows in it, in line with the calendar `busy` was
    /// just read from. Cheap when nothing changed: one query, no request;
    /// each booking found out of line costs one `GET`. A booking that cannot
    /// be re-read keeps its row (and so its slot); a move onto the start of
    /// another booking is left for the owner and logged.
    ///
    /// Errors: [`CalendarError::Store`] when the rows cannot be read or written.
    pub async fn follow_owner_edits(
        &self,
        dav: &CalDav,
        tenant: &TenantConfig,
        from: NaiveDateTime,
        to: NaiveDateTime,
        busy: &[BusyInterval],
    ) -> Result<(), CalendarError> {
        let shown: HashMap<&str, &BusyInterval> = busy
            .iter()
            .filter_map(|b| b.uid.as_deref().map(|uid| (uid, b)))
            .collect();
        let tenant_id = tenant.id.clone();
        let ids: Vec<String> = shown.keys().map(|uid| (*uid).to_owned()).collect();
        let rows = blocking(&self.pool, move |conn| {
            appointments::landed_between_or_among(conn, &tenant_id, from, to, &ids)
        })
        .await?;
        for row in rows {
            let in_line = shown
                .get(row.id.as_str())
                .is_some_and(|b| b.start == row.starts_at && b.end == row.ends_at);
            if in_line {
                continue;
            }
            match edit_of(dav, &row, tenant).await {
                Ok(Some(edit)) => self.apply(tenant, &row, edit).await?,
                Ok(None) => {}
                Err(e) => log::warn!(
                    "tenant {}: booking {}: its event could not be re-read, the booking stands: {e}",
                    tenant.id,
                    row.id
                ),
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        tenant: &TenantConfig,
        row: &AppointmentRow,
        edit: OwnerEdit,
    ) -> Result<(), CalendarError> {
        let (tenant_id, id) = (tenant.id.clone(), row.id.clone());
        match edit {
            OwnerEdit::Removed => {
                blocking(&self.pool, move |conn| {
                    appointments::cancel(conn, &tenant_id, &id)
                })
                .await?;
                log::info!(
                    "tenant {}: booking {} cancelled: the owner removed its event",
                    tenant.id,
                    row.id
                );
            }
            OwnerEdit::Moved { start, end, etag } => {
                let moved = blocking(&self.pool, move |conn| {
                    appointments::reschedule(conn, &tenant_id, &id, start, end, etag.as_deref())
                })
                .await;
                match moved {
                    Ok(_) => log::info!(
                        "tenant {}: booking {} moved to {start} UTC: the owner moved its event",
                        tenant.id,
                        row.id
                    ),
                    Err(StoreError::Conflict(_)) => log::warn!(
                        "tenant {}: booking {}: the owner moved its event to {start} UTC, \
                         where another booking starts; the row keeps its time",
                        tenant.id,
                        row.id
                    ),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}
