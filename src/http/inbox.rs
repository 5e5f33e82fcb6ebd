//! The owner's inbox API (bearer admin token, like every `/api` route):
//! recent SMS/email messages (`GET /api/messages`), taken messages (`GET /api/caller-messages`, `PATCH /api/caller-messages/{id}`),
//! bookings (`GET /api/appointments`) and owner notifications with their
//! delivery status (`GET /api/notifications`). Lists filter by `tenant` and
//! page with `limit` (1–200, default 50) and `offset`, answering
//! `{"items": […], "total": N, "limit": L, "offset": O}`. Each item links its
//! call (`call_url`, the `GET /api/calls/{id}` of the call it came from).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::auth::Admin;
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::appointments::BookingQuery;
use crate::store::caller_messages::InboxQuery;
use crate::store::{
    appointments, calendar, caller_messages, notifications, text_messages, voicemails,
};
use crate::tenant::local_time;

/// Routes of the inbox: `/api/messages`, `/api/caller-messages`,
/// `/api/appointments`, `/api/notifications`, `/api/settings`.
pub fn configure_inbox(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/messages", web::get().to(list_messages))
        .route("/api/caller-messages", web::get().to(list_caller_messages))
        .route(
            "/api/caller-messages/{id}",
            web::patch().to(mark_caller_message),
        )
        .route(
            "/api/caller-messages/{id}/audio",
            web::get().to(caller_message_audio),
        )
        .route("/api/appointments", web::get().to(list_appointments))
        .route("/api/notifications", web::get().to(list_notifications))
        .route("/api/settings", web::get().to(settings));
}

/// Default and largest page size.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Longest `by` accepted when marking a message, characters.
const MAX_BY_CHARS: usize = 100;

/// Paging and tenant filter shared by the lists.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub tenant: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A query parameter out of range or malformed; the message names it (answered 400).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadParam(String);

impl From<BadParam> for ApiError {
    fn from(e: BadParam) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl Page {
    /// (limit, offset), or the bad one.
    fn bounds(&self) -> Result<(i64, i64), BadParam> {
        bounds(self.limit, self.offset)
    }
}

/// (limit, offset) with defaults, or the bad one.
fn bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), BadParam> {
    {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        let offset = offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(BadParam(format!("limit: must be 1–{MAX_LIMIT}")));
        }
        if offset < 0 {
            return Err(BadParam("offset: must be 0 or more".into()));
        }
        Ok((limit, offset))
    }
}

fn call_url(call_id: Option<&str>) -> Value {
    call_id.map_or(Value::Null, |id| json!(format!("/api/calls/{id}")))
}

fn page_json(items: Vec<Value>, total: i64, limit: i64, offset: i64) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    }))
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
    _: Admin,
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
    let filter = InboxQuery {
        tenant_id: q.tenant.clone(),
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
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let wanted = id.clone();
    let Some(audio) = query(&state, move |conn| voicemails::find(conn, &wanted)).await? else {
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
/// again); answers the updated message, 404 for an unknown id.
pub async fn mark_caller_message(
    _: Admin,
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
    let wanted = id.clone();
    let marked = query(&state, move |conn| {
        caller_messages::set_status(
            conn,
            &wanted,
            &status,
            by.as_deref(),
            Utc::now().naive_utc(),
        )
    })
    .await?;
    let Some(m) = marked else {
        return Err(ApiError::NotFound("no such message".into()).about("message", id));
    };
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
    _: Admin,
    state: web::Data<AppState>,
    q: web::Query<AppointmentsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = bounds(q.limit, q.offset)?;
    let tz = q
        .tenant
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
        tenant_id: q.tenant.clone(),
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
    _: Admin,
    state: web::Data<AppState>,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = q.bounds()?;
    let tenant = q.tenant.clone();
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

/// `GET /api/messages`: the 50 most recent SMS/email messages (`messages` table).
pub async fn list_messages(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let messages = query(&state, |conn| text_messages::list_recent(conn, 50)).await?;
    Ok(HttpResponse::Ok().json(messages))
}

/// `GET /api/settings`: what the dashboard's Settings view shows and which
/// actions can work here: whether SMS (and calling customers back) through
/// Twilio, email through SendGrid and the text model are configured, and the
/// notification delivery settings. No secrets.
pub async fn settings(_: Admin, state: web::Data<AppState>) -> HttpResponse {
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
