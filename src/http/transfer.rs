//! Twilio's webhooks of a warm transfer (docs/twilio.md §Transfers), each
//! naming its call with `?call={switchboard call id}` and checked like `/twiml`
//! (`X-Twilio-Signature` over the URL and form, 403 when it fails):
//!
//! - `POST /twiml/screen`: the `<Number url>` Twilio runs on the on-call
//!   person's leg when they answer: who calls, why, what they said, "Press 1
//!   to take the call" (`<Gather numDigits="1">`, then `<Hangup/>`).
//! - `POST /twiml/screen-result`: the `<Gather action>` with `Digits`: 1 takes
//!   the call (empty TwiML: Twilio bridges the legs), anything else declines.
//! - `POST /twiml/dial-action`: the `<Dial action>` when the dialled leg ends
//!   (`DialCallStatus`, `DialCallDuration`, `DialBridged`): bridged, the call
//!   ends `transferred` and the caller's leg hangs up; not bridged, the caller
//!   goes back to the receptionist on a new `<Connect><Stream>` that continues
//!   the same call.
//!
//! A webhook without `call` is a 400, one for a call not live here a 404, one
//! for a call without a transfer in that phase a 409; each is logged with the
//! call id (Twilio "TwiML Voice: `<Dial>`", "`<Number>`", "`<Gather>`").

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::call_tree::call::transfer::{
    DialEnd, DialStatus, LegAnswer, LegError, LegEvent, TransferLeg,
};
use crate::carrier::twilio::twiml;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::twilio::{
    check_signature, stream_url, twiml_response, webhook_params, Params, StreamFacts,
};

/// The transfer webhooks' routes.
pub fn configure_transfer(routes: &mut Routes<'_>) {
    routes.post("/twiml/screen", Access::Public, screen);
    routes.post("/twiml/screen-result", Access::Public, screen_result);
    routes.post("/twiml/dial-action", Access::Public, dial_action);
}

/// What the on-call person hears after declining.
const DECLINED: &str = "Okay. The caller will be offered to leave a message. Goodbye.";

/// A checked transfer webhook: its call id and its form.
struct LegRequest {
    call_id: String,
    form: Params,
}

impl LegRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `call` from the query, checks the signature over URL and form.
///
/// Errors: 400 without `call` or with an unparsable form; 403 on a bad signature.
fn leg_request(req: &HttpRequest, body: &[u8], state: &AppState) -> Result<LegRequest, ApiError> {
    let query: Params = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let call_id = query
        .into_iter()
        .find(|(k, _)| k == "call")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing the call query parameter".into()))?;
    let (form, signed) = webhook_params(req, body).map_err(|e| e.for_call(&call_id))?;
    check_signature(req, state, false, &signed).map_err(|e| e.for_call(&call_id))?;
    Ok(LegRequest { call_id, form })
}

/// Passes `event` to call `call_id` through the Supervisor.
///
/// Errors: 404 when the call is not live here, 409 when it has no transfer
/// in this phase, 503 when the Supervisor is gone.
async fn to_call(state: &AppState, call_id: &str, event: LegEvent) -> Result<LegAnswer, ApiError> {
    let asked = TransferLeg {
        call_id: call_id.to_string(),
        event,
    };
    let answer = state.carrier.supervisor.send(asked).await.map_err(|_| {
        ApiError::Unavailable("the supervisor is not running".into()).for_call(call_id)
    })?;
    answer.map_err(|e| {
        match e {
            LegError::NoCall(_) => ApiError::NotFound(e.to_string()),
            LegError::NotTransferring(_) => ApiError::Conflict(e.to_string()),
        }
        .for_call(call_id)
    })
}

/// `POST /twiml/screen?call=…`: Twilio's `<Number url>` request on the
/// on-call person's leg. Answers `<Gather numDigits="1" action=…/twiml/screen-result?call=…>`
/// saying who calls, why, and the caller's last words, then `<Hangup/>`.
pub async fn screen(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let leg = leg_request(&req, &body, &state)?;
    let LegAnswer::Screen(brief) = to_call(&state, &leg.call_id, LegEvent::Screen).await? else {
        return Err(ApiError::Conflict("no screening for this call".into()).for_call(&leg.call_id));
    };
    let result_url = crate::http::twilio::signed_url(&req, &state, false).replacen(
        "/twiml/screen?",
        "/twiml/screen-result?",
        1,
    );
    log::info!("call {}: screening the on-call person", leg.call_id);
    Ok(twiml_response(twiml::screen(
        &brief.prompt(),
        &result_url,
        twiml::SCREEN_GATHER_SECS,
    )))
}

/// `POST /twiml/screen-result?call=…` with `Digits`: `1` takes the call
/// (`<Response></Response>`: the screening ends with the called party on
/// the line, and Twilio bridges), anything else declines (`<Say>` then
/// `<Hangup/>`).
pub async fn screen_result(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let leg = leg_request(&req, &body, &state)?;
    let accepted = leg.get("Digits") == Some("1");
    to_call(&state, &leg.call_id, LegEvent::Screened { accepted }).await?;
    Ok(twiml_response(if accepted {
        twiml::empty()
    } else {
        twiml::say_and_hangup(DECLINED)
    }))
}

/// `POST /twiml/dial-action?call=…`: the transfer's `<Dial action>`.
/// Bridged: `<Response><Hangup/></Response>` (the call is stored
/// `transferred`, with the bridged length). Not bridged: a `<Connect><Stream>`
/// on the call's per-call stream URL whose `prewarm` parameter continues the
/// same call with the receptionist.
///
/// Errors: 400 without a known `DialCallStatus`, besides [`leg_request`]'s
/// and [`to_call`]'s.
pub async fn dial_action(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let leg = leg_request(&req, &body, &state)?;
    let status = leg
        .get("DialCallStatus")
        .and_then(DialStatus::parse)
        .ok_or_else(|| {
            ApiError::BadRequest("DialCallStatus missing or unknown".into()).for_call(&leg.call_id)
        })?;
    let dial = DialEnd {
        status,
        bridged: leg.get("DialBridged").map(|b| b == "true"),
        duration_secs: leg.get("DialCallDuration").and_then(|d| d.parse().ok()),
    };
    log::info!(
        "call {}: the transfer's dial ended {:?} (bridged {:?}, {:?} s)",
        leg.call_id,
        dial.status,
        dial.bridged,
        dial.duration_secs
    );
    match to_call(&state, &leg.call_id, LegEvent::DialEnded(dial)).await? {
        LegAnswer::WayBack(grant) => {
            let url = stream_url(
                &req,
                &state,
                &StreamFacts {
                    call_sid: &grant.call_sid,
                    tenant: &grant.tenant,
                    from: grant.from.as_deref().unwrap_or_default(),
                    to: grant.to.as_deref().unwrap_or_default(),
                },
            );
            let parameters = [
                ("tenant", grant.tenant.as_str()),
                ("from", grant.from.as_deref().unwrap_or_default()),
                ("to", grant.to.as_deref().unwrap_or_default()),
                ("prewarm", grant.token.as_str()),
            ];
            Ok(twiml_response(twiml::connect_stream(&url, &parameters)))
        }
        _ => Ok(twiml_response(twiml::hangup())),
    }
}
