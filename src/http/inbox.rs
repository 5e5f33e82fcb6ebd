//! The owner's inbox API (scoped to the caller's tenant, like every `/api` route):
//! recent SMS/email messages (`GET /api/messages`), taken messages (`GET /api/caller-messages`, `PATCH /api/caller-messages/{id}`),
//! bookings (`GET /api/appointments`) and owner notifications with their
//! delivery status (`GET /api/notifications`). Lists filter by `tenant` and
//! page with `limit` (1–200, default 50) and `offset`, answering
//! `{"items": […], "total": N, "limit": L, "offset": O}`. Each item links its
//! call (`call_url`, the `GET /api/calls/{id}` of the call it came from).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::accounts::audit::Change;
use crate::accounts::{Principal, TenantFilter};
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::paging::{bounds, empty_page, page_json, BadParam, Page};
use crate::http::state::AppState;
use crate::store::appointments::BookingQuery;
use crate::store::caller_messages::InboxQuery;
use crate::store::{
    appointments, calendar, caller_messages, notifications, text_messages, voicemails,
};
use crate::tenant::local_time;

/// Routes of the inbox: `/api/messages`, `/api/caller-messages`,
/// `/api/appointments`, `/api/notifications`, `/api/settings`.
pub fn configure_inbox(routes: &mut Routes<'_>) {
    routes.get("/api/messages", Access::Read, list_messages);
    routes.get("/api/caller-messages", Access::Read, list_caller_messages);
    routes.add(
        Method::PATCH,
        "/api/caller-messages/{id}",
        Access::Handle,
        mark_caller_message,
    );
    routes.get(
        "/api/caller-messages/{id}/audio",
        Access::Read,
        caller_message_audio,
    );
    routes.get("/api/appointments", Access::Read, list_appointments);
    routes.get("/api/notifications", Access::Read, list_notifications);
    routes.get("/api/settings", Access::Read, settings);
}

/// Longest `by` accepted when marking a message, characters.
const MAX_BY_CHARS: usize = 100;

fn call_url(call_id: Option<&str>) -> Value {
    call_id.map_or(Value::Null, |id| json!(format!("/api/calls/{id}")))
}

/// `serde_json::to_value` of a row with extra fields merged in.
fn with_fields(row: &impl Serialize, extra: Value) -> Value {
    let mut value = serde_json::to_value(row).unwrap_or(Value::Null);
    if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    value
}

/// Query of `GET /api/caller-messages` (fields as in [`Page`], plus `status`;
/// not flattened: query strings carry no types, so a flattened number would not parse).
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    pub tenant: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// `new`, `read` or `handled`.
    pub status: Option<String>,
}

const MESSAGE_STATUSES: [&str; 3] = ["new", "read", "handled"];

/// `GET /api/caller-messages`: taken messages, callback requests and
/// voicemails, newest first; a voicemail's `audio_url` serves its recording.
pub async fn list_caller_messages(
    principal: Principal,
    state: web::Data<AppState>,
    q: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = bounds(q.limit, q.offset)?;
    if let Some(s) = q
        .status
        .as_deref()
        .filter(|s| !MESSAGE_STATUSES.contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "status: {s:?} is not new, read or handled"
        )));
    }
    let tenant = match principal.scope.filter(q.tenant.as_deref()) {
        TenantFilter::Nothing => return Ok(empty_page(limit, offset)),
        filter => filter.tenant().map(str::to_string),
    };
    let filter = InboxQuery {
        tenant_id: tenant,
        status: q.status.clone(),
        limit,
        offset,
    };
    let (rows, total) = query(&state, move |conn| caller_messages::list(conn, &filter)).await?;
    let items = rows
        .iter()
        .map(|m| {
            with_fields(
                m,
                json!({
                    "call_url": call_url(m.call_id.as_deref()),
                    "audio_url": audio_url(m),
                }),
            )
        })
        .collect();
    Ok(page_json(items, total, limit, offset))
}

/// Where a voicemail's recording is served; `null` for other messages.
fn audio_url(m: &crate::store::models::CallerMessageRow) -> Value {
    if m.kind == "voicemail" {
        json!(format!("/api/caller-messages/{}/audio", m.id))
    } else {
        Value::Null
    }
}

/// `GET /api/caller-messages/{id}/audio`: a voicemail's recording, `audio/wav`
/// (16-bit mono PCM; `X-Duration-Ms` gives its length). 404 for an unknown
/// message or one without audio.
pub async fn caller_message_audio(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let wanted = id.clone();
    let found = query(&state, move |conn| {
        let tenant = caller_messages::get(conn, &wanted)?.map(|m| m.tenant_id);
        Ok((tenant, voicemails::find(conn, &wanted)?))
    })
    .await?;
    let audio = match found {
        (Some(tenant), audio) if principal.scope.allows(Some(&tenant)) => audio,
        _ => None,
    };
    let Some(audio) = audio else {
        return Err(ApiError::NotFound("no recording for this message".into()).about("message", id));
    };
    Ok(HttpResponse::Ok()
        .content_type(audio.content_type)
        .insert_header(("X-Duration-Ms", audio.duration_ms.to_string()))
        .insert_header(("Cache-Control", "private, no-store"))
        .body(audio.audio))
}

/// Body of `PATCH /api/caller-messages/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkMessage {
    /// `new`, `read` or `handled`.
    pub status: String,
    /// Who did it (shown in the dashboard).
    #[serde(default)]
    pub by: Option<String>,
}

/// `PATCH /api/caller-messages/{id}`: mark a message read or handled (or new
/// again); answers the updated message, 404 for an unknown id or another
/// tenant's. `handled_by` is the signed-in person or the token's name; only
/// the admin token (a script) may name someone else in `by`. Audited as
/// `message.marked`.
pub async fn mark_caller_message(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<MarkMessage>,
) -> Result<HttpResponse, ApiError> {
    let MarkMessage { status, by } = body.into_inner();
    let id = id.into_inner();
    if !MESSAGE_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "status: {status:?} is not new, read or handled"
        ))
        .about("message", id));
    }
    let by = by.map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
    if by
        .as_ref()
        .is_some_and(|b| b.chars().count() > MAX_BY_CHARS)
    {
        return Err(
            ApiError::BadRequest(format!("by: at most {MAX_BY_CHARS} characters"))
                .about("message", id),
        );
    }
    let by = match principal.actor {
        crate::accounts::Actor::AdminToken => by,
        _ => Some(principal.name()),
    };
    let wanted = id.clone();
    let scope = principal.scope.clone();
    let new_status = status.clone();
    let marked = query(&state, move |conn| {
        match caller_messages::get(conn, &wanted)? {
            Some(m) if scope.allows(Some(&m.tenant_id)) => caller_messages::set_status(
                conn,
                &wanted,
                &new_status,
                by.as_deref(),
                Utc::now().naive_utc(),
            ),
            _ => Ok(None),
        }
    })
    .await?;
    let Some(m) = marked else {
        return Err(ApiError::NotFound("no such message".into()).about("message", id));
    };
    let change = Change::new("message.marked", Some(&m.tenant_id), Some(&m.id)).detail(status);
    crate::http::audit::record(&state, &req, &principal, change).await;
    Ok(HttpResponse::Ok().json(with_fields(
        &m,
        json!({ "call_url": call_url(m.call_id.as_deref()) }),
    )))
}

/// Query of `GET /api/appointments` (`tenant`, `limit`, `offset` as in [`Page`]).
#[derive(Debug, Deserialize)]
pub struct AppointmentsQuery {
    pub tenant: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    /// Earliest start: `YYYY-MM-DD` (midnight in the tenant's zone when
    /// `tenant` is given, else UTC) or an RFC 3339 instant.
    pub from: Option<String>,
    /// Latest start (exclusive), same forms as `from`.
    pub to: Option<String>,
    pub service: Option<String>,
    /// `booked` or `cancelled`.
    pub status: Option<String>,
    /// The customer's E.164 number.
    pub caller: Option<String>,
}

/// `text` as a UTC instant: an RFC 3339 instant, or a date at midnight in `tz`.
fn parse_bound(key: &str, text: &str, tz: Tz) -> Result<NaiveDateTime, BadParam> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc).naive_utc());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        BadParam(format!(
            "{key}: {text:?} is neither YYYY-MM-DD nor an RFC 3339 instant"
        ))
    })?;
    tz.from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .map(|d| d.with_timezone(&Utc).naive_utc())
        .ok_or_else(|| BadParam(format!("{key}: {text:?} has no midnight in {tz}")))
}

/// `GET /api/appointments`: bookings by start time, with the customer and the
/// start in the tenant's zone (`local_start` `YYYY-MM-DDTHH:MM`, `when` as read).
pub async fn list_appointments(
    principal: Principal,
    state: web::Data<AppState>,
    q: web::Query<AppointmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = bounds(q.limit, q.offset)?;
    let tenant = match principal.scope.filter(q.tenant.as_deref()) {
        TenantFilter::Nothing => return Ok(empty_page(limit, offset)),
        filter => filter.tenant().map(str::to_string),
    };
    let tz = tenant
        .as_deref()
        .and_then(|t| state.carrier.tenants.get(t))
        .map_or(Tz::UTC, |t| t.tz());
    let bound = |key: &str, v: &Option<String>| -> Result<Option<NaiveDateTime>, BadParam> {
        v.as_deref().map(|t| parse_bound(key, t, tz)).transpose()
    };
    let from = bound("from", &q.from)?;
    let to = bound("to", &q.to)?;
    if let Some(s) = q
        .status
        .as_deref()
        .filter(|s| !["booked", "cancelled"].contains(s))
    {
        return Err(ApiError::BadRequest(format!(
            "status: {s:?} is not booked or cancelled"
        )));
    }
    let filter = BookingQuery {
        tenant_id: tenant,
        from,
        to,
        service: q.service.clone(),
        status: q.status.clone(),
        caller: q.caller.clone(),
        limit,
        offset,
    };
    let tenants = state.carrier.tenants.clone();
    let (rows, total, pending) = query(&state, move |conn| {
        let (rows, total) = appointments::list(conn, &filter)?;
        let ids: Vec<String> = rows.iter().map(|(a, _)| a.id.clone()).collect();
        let pending = calendar::pending_of(conn, &ids)?;
        Ok((rows, total, pending))
    })
    .await?;
    let items = rows
        .iter()
        .map(|(a, c)| {
            // An event write the tenant's calendar has not taken yet.
            let calendar_pending = pending.iter().find(|w| w.appointment_id == a.id).map_or(
                Value::Null,
                |w| json!({"op": w.op, "attempts": w.attempts, "last_error": w.last_error}),
            );
            let (zone, tz) = tenants
                .get(&a.tenant_id)
                .map_or(("UTC".to_string(), Tz::UTC), |t| {
                    (t.time_zone.clone(), t.tz())
                });
            let local = a.starts_at.and_utc().with_timezone(&tz);
            with_fields(
                a,
                json!({
                    "customer": {"id": c.id, "name": c.name, "phone": c.phone},
                    "time_zone": zone,
                    "local_start": local.format("%Y-%m-%dT%H:%M").to_string(),
                    "when": local_time(tz, a.starts_at),
                    "call_url": call_url(a.call_id.as_deref()),
                    "calendar_pending": calendar_pending,
                }),
            )
        })
        .collect();
    Ok(page_json(items, total, limit, offset))
}

/// `GET /api/notifications`: owner notifications with their delivery status,
/// newest first.
pub async fn list_notifications(
    principal: Principal,
    state: web::Data<AppState>,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.bounds()?;
    let tenant = match principal.scope.filter(q.tenant.as_deref()) {
        TenantFilter::Nothing => return Ok(empty_page(limit, offset)),
        filter => filter.tenant().map(str::to_string),
    };
    let (rows, total) = query(&state, move |conn| {
        notifications::list(conn, tenant.as_deref(), limit, offset)
    })
    .await?;
    let items = rows
        .iter()
        .map(|n| with_fields(n, json!({ "call_url": call_url(n.call_id.as_deref()) })))
        .collect();
    Ok(page_json(items, total, limit, offset))
}

/// `GET /api/messages`: the 50 most recent SMS/email messages (`messages`
/// table) the caller may see: a tenant's own, or (admin) every one.
pub async fn list_messages(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.scope.tenant().map(str::to_string);
    let messages = query(&state, move |conn| {
        text_messages::list_recent(conn, tenant.as_deref(), 50)
    })
    .await?;
    Ok(HttpResponse::Ok().json(messages))
}

/// `GET /api/settings`: what the dashboard's Settings view shows and which
/// actions can work here: whether SMS (and calling customers back) through
/// Twilio, email through SendGrid and the text model are configured, and the
/// notification delivery settings. No secrets.
pub async fn settings(_: Principal, state: web::Data<AppState>) -> HttpResponse {
    let config = &state.config;
    let twilio = !config.twilio.account_sid.is_empty()
        && config
            .twilio
            .auth_token
            .as_deref()
            .is_some_and(|t| !t.is_empty());
    let email = config
        .sendgrid
        .api_key
        .as_deref()
        .is_some_and(|k| !k.is_empty())
        && !config.sendgrid.from_address.is_empty();
    HttpResponse::Ok().json(json!({
        "channels": {
            "sms": twilio,
            "email": email,
            "calls_out": twilio,
            "text_model": state.tools.chat.has_api_key(),
        },
        "notify": config.notify,
    }))
}
