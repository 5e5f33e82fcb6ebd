//! Bookings in the business's own calendar (issue 24): each tenant with a
//! `[tenants.calendar]` has its availability read from a CalDAV collection
//! (RFC 4791) and its bookings written there as events. [`caldav`] speaks the
//! wire, [`ical`] reads and builds iCalendar (RFC 5545), [`owner_edits`]
//! follows the owner's moves and deletions of our events, [`pending`] keeps
//! the event writes the calendar has not taken yet and retries them until
//! they land, and [`feed`] serves a tenant's bookings as a subscribable
//! `.ics` feed for owners without CalDAV. [`TenantCalendars`] is what the
//! tools and the HTTP layer hold.

pub mod caldav;
pub mod feed;
pub mod ical;
pub mod owner_edits;
pub mod pending;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::store::Pool;
use crate::tenant::TenantConfig;

pub use caldav::CalDav;
pub use ical::BusyInterval;

/// Everything that can go wrong with a tenant's calendar.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    /// `password_env` names a variable that is not set.
    #[error("the password variable {0} is not set")]
    MissingPassword(String),
    /// No answer: connection refused, DNS, TLS or timeout.
    #[error("calendar server unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an unexpected status (401: wrong password,
    /// 403: no rights, 404: wrong URL, 5xx: its own trouble).
    #[error("calendar server answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// The URL answers but is no calendar collection (RFC 4791 §4.2).
    #[error("{0} is not a CalDAV calendar collection")]
    NotACalendar(String),
    /// The collection does not take events (`supported-calendar-component-set`
    /// lists only these).
    #[error("the calendar does not support VEVENT (only {0})")]
    NoEvents(String),
    /// The event changed on the server since we wrote it (412 on `If-Match`).
    #[error("the event {0} was changed in the calendar since it was written")]
    Changed(String),
    /// The server did not expand this recurring event (RFC 4791 §9.6.5), so
    /// its instances are unknown.
    #[error("the calendar server did not expand the recurring event {0}")]
    NotExpanded(String),
    /// A multistatus body that is not well-formed XML.
    #[error("calendar answer is not well-formed XML: {0}")]
    Xml(String),
    /// `calendar-data` that is not iCalendar.
    #[error("calendar data is not iCalendar: {0}")]
    Ical(String),
    /// The database failed while recording a calendar write.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl CalendarError {
    /// Whether the error says the server could not be used right now (worth
    /// retrying) rather than that the configuration is wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            CalendarError::Unreachable(_) => true,
            CalendarError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Every tenant's calendar client, the database, and the link base used in
/// event descriptions. Built once at start-up.
pub struct TenantCalendars {
    /// Per tenant id: its client, or why it has none (a missing password).
    clients: HashMap<String, Result<CalDav, String>>,
    tenants: HashMap<String, Arc<TenantConfig>>,
    pub(crate) pool: Pool,
    /// `server.public_url` (or the listening address), no trailing `/`: the
    /// dashboard link in each event's DESCRIPTION.
    pub(crate) public_base: String,
}

impl TenantCalendars {
    /// Clients for the tenants of `tenants` that have `[tenants.calendar]`,
    /// their passwords read from the environment now.
    pub fn new(
        tenants: &[TenantConfig],
        pool: Pool,
        public_base: String,
        tls: Option<openssl::ssl::SslConnector>,
    ) -> Self {
        let clients = tenants
            .iter()
            .filter_map(|t| {
                let c = t.calendar.as_ref()?;
                let client = match std::env::var(&c.password_env) {
                    Ok(password) => Ok(CalDav {
                        collection: c.collection_url(),
                        username: c.username.clone(),
                        password,
                        tls: tls.clone(),
                    }),
                    Err(_) => Err(c.password_env.clone()),
                };
                Some((t.id.clone(), client))
            })
            .collect();
        TenantCalendars {
            clients,
            tenants: tenants
                .iter()
                .map(|t| (t.id.clone(), Arc::new(t.clone())))
                .collect(),
            pool,
            public_base,
        }
    }

    /// The tenant's calendar client: `None` for a tenant without a calendar.
    ///
    /// Errors: [`CalendarError::MissingPassword`].
    pub fn client(&self, tenant_id: &str) -> Option<Result<&CalDav, CalendarError>> {
        self.clients.get(tenant_id).map(|c| {
            c.as_ref()
                .map_err(|var| CalendarError::MissingPassword(var.clone()))
        })
    }

    /// The configured tenant with this id.
    pub fn tenant(&self, tenant_id: &str) -> Option<Arc<TenantConfig>> {
        self.tenants.get(tenant_id).cloned()
    }

    /// Checks every tenant's calendar (`PROPFIND`); the tenants whose
    /// calendar failed, with why, in tenant order.
    pub async fn check_all(&self) -> Vec<(String, CalendarError)> {
        let mut failed = Vec::new();
        let mut ids: Vec<&String> = self.clients.keys().collect();
        ids.sort();
        for id in ids {
            let result = match self.client(id) {
                Some(Ok(dav)) => dav.check().await,
                Some(Err(e)) => Err(e),
                None => Ok(()),
            };
            if let Err(e) = result {
                failed.push((id.clone(), e));
            }
        }
        failed
    }

    /// The busy intervals of the tenant's calendar overlapping `[from, to)`
    /// (UTC), read now from the server: the day's events found by a
    /// time-range query, the recurring ones among them expanded by the server.
    /// The bookings of the range are then brought in line with what the owner
    /// did to their events ([`TenantCalendars::follow_owner_edits`]).
    ///
    /// Errors: as [`CalDav::events_between`] and [`ical::busy_intervals`].
    pub async fn busy(
        &self,
        dav: &CalDav,
        tenant: &TenantConfig,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<BusyInterval>, CalendarError> {
        let found = dav.events_between(from, to).await?;
        let (recurring, single): (Vec<_>, Vec<_>) = found
            .into_iter()
            .filter(|r| r.calendar_data.is_some())
            .partition(|r| r.calendar_data.as_deref().is_some_and(ical::is_recurring));
        let expanded = if recurring.is_empty() {
            Vec::new()
        } else {
            let hrefs: Vec<String> = recurring.into_iter().map(|r| r.href).collect();
            let expanded = dav.expanded(&hrefs, from, to).await?;
            // The time range matched each of them: a server that sends one
            // back unexpanded, or not at all, left that event unread.
            let unread = hrefs.iter().find(|h| {
                !expanded.iter().any(|r| {
                    &r.href == *h
                        && r.calendar_data
                            .as_deref()
                            .is_some_and(|d| !ical::is_recurring(d))
                })
            });
            if let Some(href) = unread {
                return Err(CalendarError::NotExpanded(href.clone()));
            }
            expanded
        };
        let tz = tenant.tz();
        let mut busy = Vec::new();
        for data in single
            .iter()
            .chain(expanded.iter())
            .filter_map(|r| r.calendar_data.as_deref())
        {
            busy.extend(
                ical::busy_intervals(data, tz)?
                    .into_iter()
                    .filter(|b| b.start < to && from < b.end),
            );
        }
        if let Err(e) = self.follow_owner_edits(dav, tenant, from, to, &busy).await {
            log::warn!(
                "tenant {}: bookings not matched to the calendar: {e}",
                tenant.id
            );
        }
        Ok(busy)
    }
}
