//! `GET /calendar/{tenant}.ics?token=…`: a tenant's bookings as an iCalendar
//! feed (RFC 5545, `text/calendar`) that Google Calendar or Apple Calendar
//! subscribe to by URL. The token is the tenant's feed token (`switchboard
//! calendar feed-url`), compared in constant time; a wrong or missing token,
//! like an unknown tenant, is 404 — and counts as a failed authentication for
//! the rate limits.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpResponse};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::calendar::feed::{feed_calendar, token_matches, FEED_MAX_EVENTS, FEED_PAST_DAYS};
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::{calendar, customers};

/// Mounts `/calendar/{tenant}.ics`.
/// Public: the feed token in the URL is its credential (calendar apps
/// subscribe by URL and send no header).
pub fn configure_calendar(routes: &mut Routes<'_>) {
    routes.get("/calendar/{feed}", Access::Public, feed);
}

#[derive(Deserialize)]
struct FeedQuery {
    #[serde(default)]
    token: String,
}

async fn feed(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound("no such calendar feed".into());
    let tenant_id = path.strip_suffix(".ics").ok_or_else(not_found)?.to_owned();
    let tenant = state
        .carrier
        .tenants
        .get(&tenant_id)
        .ok_or_else(not_found)?;
    let given = q.into_inner().token;
    let from = (Utc::now() - Duration::days(FEED_PAST_DAYS)).naive_utc();
    let rows = query(&state, move |conn| {
        let Some(expected) = calendar::feed_token(conn, &tenant_id)? else {
            return Ok(None);
        };
        if !token_matches(&given, &expected) {
            return Ok(None);
        }
        let appointments = calendar::feed_appointments(conn, &tenant_id, from, FEED_MAX_EVENTS)?;
        let mut rows = Vec::with_capacity(appointments.len());
        for a in appointments {
            let customer = customers::find_by_id(conn, &a.customer_id)?;
            rows.push((a, customer));
        }
        Ok(Some(rows))
    })
    .await?
    .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header(("Cache-Control", "private, max-age=300"))
        .body(feed_calendar(&tenant, &rows, Utc::now())))
}
