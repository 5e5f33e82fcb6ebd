//! Operator actions behind the dashboard (admin token): place an outbound call
//! through the Twilio REST API, start/stop a Twilio recording of a live call, and
//! edit model session settings for a tenant's new calls or one live call.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::actor_messages::OperatorAction;
use crate::cluster::settings::SessionNotice;
use crate::http::admin::query;
use crate::http::auth::Admin;
use crate::http::live_calls::{answer, operate};
use crate::http::state::AppState;
use crate::http::twilio::signed_url;
use crate::lifecycle::Carrier;
use crate::rest::twilio::{TwilioRest, TwilioRestError};
use crate::session_settings::SessionSettings;
use crate::store;

fn rest_error(e: TwilioRestError) -> HttpResponse {
    log::warn!("Twilio REST: {e}");
    match e {
        TwilioRestError::NotConfigured => {
            HttpResponse::ServiceUnavailable().json(json!({"error": e.to_string()}))
        }
        _ => HttpResponse::BadGateway().json(json!({"error": e.to_string()})),
    }
}

fn bad_request(message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": message.to_string()}))
}

/// The JSON body, parsed only after the admin check so an unauthenticated
/// caller learns nothing from body validation. Errors: the serde message,
/// answered as 400 `{"error":"invalid JSON body: …"}`.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
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

fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// `POST /api/calls {tenant, to}`: asks Twilio to call `to` from the tenant's
/// number; when the customer answers, Twilio posts the voice webhook
/// (`/twiml`, `Direction=outbound-api`), which pre-warms the call like an inbound
/// one and streams it back to `/media-stream`, so the receptionist calls the
/// customer back. 201 `{"call_sid":"CA…"}`; 400 bad number or tenant without a
/// number; 404 unknown tenant; 502 Twilio error; 503 Twilio REST not configured.
pub async fn place_call(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let body: PlaceCall = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let Some(tenant) = state.carrier.tenants.get(&body.tenant) else {
        return HttpResponse::NotFound().json(json!({"error": "no such tenant"}));
    };
    if !is_e164(&body.to) {
        return bad_request("to: not an E.164 number");
    }
    let Some(from) = tenant.phone_numbers.first() else {
        return bad_request("the tenant has no phone number to call from");
    };
    let rest = match TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone()) {
        Ok(r) => r,
        Err(e) => return rest_error(e),
    };
    let webhook_url = {
        let mut base = signed_url(&req, &state, false);
        if let Some(idx) = base.find("/api/calls") {
            base.truncate(idx);
        }
        format!("{base}/twiml")
    };
    match rest.create_call(&body.to, from, &webhook_url).await {
        Ok(call_sid) => {
            log::info!("outbound call {call_sid} to {} for {}", body.to, tenant.id);
            HttpResponse::Created().json(json!({"call_sid": call_sid}))
        }
        Err(e) => rest_error(e),
    }
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
pub async fn recording(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body: RecordingAction = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    let id = id.into_inner();
    let call = match query(&state, move |conn| {
        Ok(match store::calls::get(conn, &id)? {
            Some(c) => Some(c),
            None => store::calls::get_by_sid(conn, &id)?,
        })
    })
    .await
    {
        Ok(Some(call)) => call,
        Ok(None) => return HttpResponse::NotFound().json(json!({"error": "no such call"})),
        Err(resp) => return resp,
    };
    let live_twilio = call.carrier.parse() == Ok(Carrier::Twilio) && call.ended_at.is_none();
    let Some(call_sid) = call.carrier_call_sid.clone().filter(|_| live_twilio) else {
        return HttpResponse::Conflict().json(json!({"error": "not a live Twilio call"}));
    };
    let rest = match TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone()) {
        Ok(r) => r,
        Err(e) => return rest_error(e),
    };
    let call_id = call.id.clone();
    match body.action.as_str() {
        "start" => {
            let recording_sid = match rest.start_recording(&call_sid).await {
                Ok(sid) => sid,
                Err(e) => return rest_error(e),
            };
            let stored = recording_sid.clone();
            if let Err(resp) = query(&state, move |conn| {
                store::calls::set_recording_sid(conn, &call_id, Some(&stored))
            })
            .await
            {
                return resp;
            }
            HttpResponse::Ok()
                .json(json!({"recording_sid": recording_sid, "status": "in-progress"}))
        }
        "stop" => {
            let Some(recording_sid) = call.recording_sid.clone() else {
                return HttpResponse::Conflict()
                    .json(json!({"error": "the call is not being recorded"}));
            };
            match rest.stop_recording(&call_sid, &recording_sid).await {
                Ok(_) => HttpResponse::Ok()
                    .json(json!({"recording_sid": recording_sid, "status": "stopped"})),
                Err(e) => rest_error(e),
            }
        }
        other => bad_request(format!("action {other:?}: use start or stop")),
    }
}

/// `PUT /api/tenants/{id}/session {voice?, instructions?, eagerness?}`: settings for
/// the tenant's calls that start from now on, merged into the stored ones in the
/// database (so they outlive a restart) and, in a cluster, announced to every
/// node. 200 with the merged settings; 400 invalid; 404 unknown tenant; 503
/// database unavailable.
pub async fn tenant_session(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body: SessionSettings = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    if state.carrier.tenants.get(&id).is_none() {
        return HttpResponse::NotFound().json(json!({"error": "no such tenant"}));
    }
    if let Err(e) = body.validate() {
        return bad_request(e);
    }
    let tenant_id = id.into_inner();
    let edit = body.clone();
    let stored = query(&state, {
        let tenant_id = tenant_id.clone();
        move |conn| {
            store::tenants::edit_session(conn, &tenant_id, |held| {
                // A stored value that no longer parses is replaced, not kept.
                let mut merged: SessionSettings = held
                    .and_then(|json| serde_json::from_str(json).ok())
                    .unwrap_or_default();
                merged.merge(&edit);
                // Plain strings and an enum: serialising cannot fail.
                serde_json::to_string(&merged).unwrap_or_else(|_| "{}".into())
            })
        }
    })
    .await;
    let stored = match stored {
        Ok(Some(stored)) => stored,
        // Configured tenants are upserted at start-up; a missing row is a
        // tenant removed from the database behind our back.
        Ok(None) => return HttpResponse::NotFound().json(json!({"error": "no such tenant"})),
        Err(resp) => return resp,
    };
    let merged: SessionSettings = serde_json::from_str(&stored.json).unwrap_or_default();
    state
        .calls
        .session_overrides
        .apply(&tenant_id, merged.clone(), stored.version);
    if let Some(cluster) = &state.carrier.cluster {
        let notice = SessionNotice {
            tenant_id,
            version: stored.version,
            settings: merged.clone(),
        };
        if let Err(e) = cluster.announce_session(&notice).await {
            log::warn!(
                "tenant {}: session edit not announced ({e}); other nodes apply it at their restart",
                notice.tenant_id
            );
        }
    }
    HttpResponse::Ok().json(merged)
}

/// `POST /api/calls/{id}/session {voice?, instructions?, eagerness?}`: pushes a
/// `session.update` to the live call with switchboard id `id`, on whichever
/// node carries it. 202 when sent; 400 invalid; 404 no such live call.
pub async fn call_session(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let body: SessionSettings = match json_body(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(e),
    };
    if let Err(e) = body.validate() {
        return bad_request(e);
    }
    let outcome = operate(
        &state,
        id.into_inner(),
        OperatorAction::Session { settings: body },
    )
    .await;
    answer(outcome, StatusCode::ACCEPTED, json!({"status": "sent"}))
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+15550100001"));
        assert!(!is_e164("15550100001"));
        assert!(!is_e164("+1555abc"));
    }
}
