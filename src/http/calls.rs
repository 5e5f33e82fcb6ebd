//! The calls resource (scoped to the caller's tenant): stored calls with their transcripts and
//! tool runs, placing an outbound call and recording a live one through the
//! Twilio REST API, and the live calls' actions (`http::live_calls`).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::audit::Change;
use crate::accounts::Principal;
use crate::http::db::query;
use crate::http::error::{json_body, ApiError};
use crate::http::live_calls;
use crate::http::state::AppState;
use crate::http::twilio::signed_url;
use crate::lifecycle::Carrier;
use crate::rest::twilio::TwilioRest;
use crate::store;

/// Routes of `/api/calls`. `/api/calls/live` comes before `/api/calls/{id}`,
/// which would take it as an id.
pub fn configure_calls(routes: &mut Routes<'_>) {
    routes.get("/api/calls", Access::Read, list_calls);
    routes.post("/api/calls", Access::Manage, place_call);
    routes.get("/api/calls/live", Access::Read, live_calls::live_calls);
    routes.post(
        "/api/calls/{id}/hangup",
        Access::Manage,
        live_calls::hang_up,
    );
    routes.post(
        "/api/calls/{id}/transfer",
        Access::Handle,
        live_calls::transfer,
    );
    routes.post(
        "/api/calls/{id}/session",
        Access::Manage,
        live_calls::call_session,
    );
    routes.post("/api/calls/{id}/recording", Access::Manage, recording);
    routes.get("/api/calls/{id}/recording", Access::Read, local_recording);
    routes.get("/api/calls/{id}", Access::Read, get_call);
}

/// `GET /api/calls/{id}`: a call by switchboard id or carrier call sid, with its
/// transcript (in order) and tool invocations (each with a readable `line`);
/// the call carries `caller_name` as in `GET /api/calls`.
/// 404 when unknown or another tenant's.
pub async fn get_call(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let wanted = id.clone();
    let scope = principal.scope.clone();
    let found = query(&state, move |conn| {
        let Some(call) = visible_call(conn, &wanted, &scope)? else {
            return Ok(None);
        };
        let transcript = store::transcripts::for_call(conn, &call.id)?;
        let tools = store::tool_invocations::for_call(conn, &call.id)?;
        Ok(Some((call, transcript, tools)))
    })
    .await
    .map_err(|e| e.for_call(&id))?;
    let Some((call, transcript, tools)) = found else {
        return Err(ApiError::NotFound("no such call".into()).for_call(id));
    };
    let mut call = serde_json::to_value(&call).unwrap_or_default();
    call["caller_name"] = json!(crate::summary::caller_name(&tools));
    // Each tool run also as the owner reads it (`line`).
    let tools: Vec<serde_json::Value> = tools
        .iter()
        .map(|t| {
            let line = crate::summary::tool_line(
                &t.name,
                &t.arguments,
                t.result.as_deref(),
                t.error.as_deref(),
            );
            let mut v = serde_json::to_value(t).unwrap_or_default();
            v["line"] = json!(line);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "call": call,
        "transcript": transcript,
        "tool_invocations": tools,
    })))
}

/// `GET /api/calls/{id}/recording`: the call's local recording (`[tenants.recording]`),
/// `audio/wav`, two channels (left the caller, right the receptionist). HTTP
/// `Range` is honoured (206 with `Content-Range`), so a player can seek. 404
/// when the call is unknown or another tenant's (as `GET /api/calls/{id}`), and
/// when it has no recording (not recorded, still being written, or purged).
pub async fn local_recording(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let wanted = id.clone();
    let scope = principal.scope.clone();
    let call = query(&state, move |conn| visible_call(conn, &wanted, &scope))
        .await
        .map_err(|e| e.for_call(&id))?
        .ok_or_else(|| ApiError::NotFound("no such call".into()).for_call(&id))?;
    let missing = || ApiError::NotFound("no recording for this call".into()).for_call(&id);
    let file = call.recording_file.ok_or_else(missing)?;
    // Written by the recorder as tenant/date/id.wav; anything else is not ours to serve.
    let relative = std::path::Path::new(&file);
    if !relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        log::error!("call {id}: recording_file {file:?} is not a relative path");
        return Err(missing());
    }
    let path = state.config.recording.dir.join(relative);
    let named = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(|e| {
            log::warn!("call {id}: recording {} unreadable: {e}", path.display());
            missing()
        })?;
    let mut resp = named
        .set_content_type(
            "audio/wav"
                .parse()
                .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
        )
        .use_last_modified(false)
        .into_response(&req);
    resp.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

/// The call `id` names (switchboard id or carrier call sid) when `scope` sees it.
fn visible_call(
    conn: &mut store::DbConnection,
    id: &str,
    scope: &crate::accounts::Scope,
) -> Result<Option<store::CallRow>, store::StoreError> {
    let call = match store::calls::get(conn, id)? {
        Some(c) => Some(c),
        None => store::calls::get_by_sid(conn, id)?,
    };
    Ok(call.filter(|c| scope.allows(c.tenant_id.as_deref())))
}

/// `GET /api/calls`: the 50 most recent calls the caller may see, each with
/// `caller_name` (from its tool runs, `null` when unknown).
pub async fn list_calls(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.scope.tenant().map(str::to_string);
    let (calls, tools) = query(&state, move |conn| {
        let calls = store::calls::list_recent(conn, tenant.as_deref(), 50)?;
        let ids: Vec<String> = calls.iter().map(|c| c.id.clone()).collect();
        let tools = store::tool_invocations::for_calls(conn, &ids)?;
        Ok((calls, tools))
    })
    .await?;
    // Each call also with the caller's name when a tool recorded it.
    let calls: Vec<serde_json::Value> = calls
        .iter()
        .map(|c| {
            let name = crate::summary::caller_name(
                tools
                    .iter()
                    .filter(|t| t.call_id.as_deref() == Some(c.id.as_str())),
            );
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["caller_name"] = json!(name);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(calls))
}

/// Body of `POST /api/calls`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceCall {
    /// Tenant id; the call comes from its first phone number.
    pub tenant: String,
    /// Customer number, E.164.
    pub to: String,
}

/// `POST /api/calls {tenant, to}`: asks Twilio to call `to` from the tenant's
/// number; when the customer answers, Twilio posts the voice webhook
/// (`/twiml`, `Direction=outbound-api`), which pre-warms the call like an inbound
/// one and streams it back to `/media-stream`, so the receptionist calls the
/// customer back. Answering machine detection reports to `/twiml/amd`
/// (docs/twilio.md §Answering machines). 201 `{"call_sid":"CA…"}`; 400 bad body, bad number or
/// tenant without a number; 404 unknown tenant (or another's); 502 Twilio
/// error; 503 Twilio REST not configured. Audited as `call.placed`.
pub async fn place_call(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: PlaceCall = json_body(&body)?;
    let tenant = state
        .carrier
        .tenants
        .get(&body.tenant)
        .filter(|t| principal.scope.allows(Some(&t.id)));
    let Some(tenant) = tenant else {
        return Err(ApiError::NotFound("no such tenant".into()).for_tenant(body.tenant));
    };
    if crate::tools::args::e164("to", &body.to).is_err() {
        return Err(ApiError::BadRequest("to: not an E.164 number".into()));
    }
    let Some(from) = tenant.phone_numbers.first() else {
        return Err(
            ApiError::BadRequest("the tenant has no phone number to call from".into())
                .for_tenant(&tenant.id),
        );
    };
    let rest = TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone())?;
    let base = {
        let mut base = signed_url(&req, &state, false);
        if let Some(idx) = base.find("/api/calls") {
            base.truncate(idx);
        }
        base
    };
    let webhook_url = format!("{base}/twiml");
    // Answering machine detection: a machine gets the tenant's voicemail.
    let amd_url = format!("{base}/twiml/amd?tenant={}", tenant.id);
    let call_sid = rest
        .create_call(&body.to, from, &webhook_url, Some(&amd_url))
        .await
        .map_err(|e| ApiError::from(e).for_tenant(&tenant.id))?;
    log::info!("outbound call {call_sid} to {} for {}", body.to, tenant.id);
    let change = Change::new("call.placed", Some(&tenant.id), Some(&call_sid)).detail(body.to);
    crate::http::audit::record(&state, &req, &principal, change).await;
    Ok(HttpResponse::Created().json(json!({"call_sid": call_sid})))
}

/// Body of `POST /api/calls/{id}/recording`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingAction {
    /// `start` or `stop`.
    pub action: String,
}

/// `POST /api/calls/{id}/recording {action: start|stop}`: starts a Twilio recording
/// of the live call (storing the `RE…` sid on the call row) or stops the stored one.
/// 200 `{"recording_sid":"RE…","status":"in-progress"|"stopped"}`; 404 unknown call;
/// 409 not a live Twilio call, or stop without a recording; 502/503 as for `POST /api/calls`.
/// Audited as `recording.started` / `recording.stopped`.
pub async fn recording(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (resp, change) = recording_of(&state, &principal.scope, &id, &body)
        .await
        .map_err(|e| e.for_call(&id))?;
    crate::http::audit::record(&state, &req, &principal, change).await;
    Ok(resp)
}

/// [`recording`] for the call `id`: the answer and its audit entry.
async fn recording_of(
    state: &AppState,
    scope: &crate::accounts::Scope,
    id: &str,
    body: &[u8],
) -> Result<(HttpResponse, Change), ApiError> {
    let body: RecordingAction = json_body(body)?;
    let wanted = id.to_string();
    let scope = scope.clone();
    let call = query(state, move |conn| visible_call(conn, &wanted, &scope))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such call".into()))?;
    let live_twilio = call.carrier.parse() == Ok(Carrier::Twilio) && call.ended_at.is_none();
    let Some(call_sid) = call.carrier_call_sid.clone().filter(|_| live_twilio) else {
        return Err(ApiError::Conflict("not a live Twilio call".into()));
    };
    let rest = TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone())?;
    let call_id = call.id.clone();
    match body.action.as_str() {
        "start" => {
            let recording_sid = rest.start_recording(&call_sid).await?;
            let stored = recording_sid.clone();
            query(state, move |conn| {
                store::calls::set_recording_sid(conn, &call_id, Some(&stored))
            })
            .await?;
            let change = Change::new(
                "recording.started",
                call.tenant_id.as_deref(),
                Some(&call.id),
            )
            .detail(recording_sid.clone());
            let resp = HttpResponse::Ok()
                .json(json!({"recording_sid": recording_sid, "status": "in-progress"}));
            Ok((resp, change))
        }
        "stop" => {
            let Some(recording_sid) = call.recording_sid.clone() else {
                return Err(ApiError::Conflict("the call is not being recorded".into()));
            };
            rest.stop_recording(&call_sid, &recording_sid).await?;
            let change = Change::new(
                "recording.stopped",
                call.tenant_id.as_deref(),
                Some(&call.id),
            )
            .detail(recording_sid.clone());
            let resp = HttpResponse::Ok()
                .json(json!({"recording_sid": recording_sid, "status": "stopped"}));
            Ok((resp, change))
        }
        other => Err(ApiError::BadRequest(format!(
            "action {other:?}: use start or stop"
        ))),
    }
}
