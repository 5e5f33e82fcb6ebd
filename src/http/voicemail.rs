//! Twilio's side of a voicemail (when the model is gone, a Twilio call's TwiML
//! becomes `<Say>` + `<Record>`, see [`crate::carrier::twilio::twiml::voicemail`]):
//! `POST /twiml/voicemail/done` ends the call after the recording, and
//! `POST /twiml/voicemail/recording` — the `recordingStatusCallback` — fetches
//! the finished recording from the Twilio REST API and stores it in the owner's
//! inbox as a `voicemail`, with an urgent owner notification. Both are signed
//! like every Twilio webhook (403 otherwise) and name the switchboard call in
//! their `call` query parameter (covered by the signature). Facts: Twilio docs
//! "TwiML Voice: `<Record>`" (`action`, `recordingStatusCallback` parameters
//! `RecordingSid`, `RecordingStatus`, `RecordingDuration`).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use crate::audio::wav::read_wav_bytes;
use crate::carrier::twilio::twiml;
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::http::twilio::{check_signature, twiml_response, webhook_params, Params};
use crate::notify::voicemail::{store, Voicemail, VoicemailSource};
use crate::rest::twilio::TwilioRest;
use crate::store::{calls, voicemails, StoreError};

/// Said after the recording, before the call ends.
const THANKS: &str = "Thank you. Your message has been passed on. Goodbye.";

/// Routes of Twilio's voicemail webhooks.
pub fn configure_voicemail(routes: &mut Routes<'_>) {
    routes.post("/twiml/voicemail/done", Access::Public, done);
    routes.post("/twiml/voicemail/recording", Access::Public, recording);
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The switchboard call id in the webhook's `call` query parameter.
fn call_of(req: &HttpRequest) -> Result<String, ApiError> {
    let query: Params = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    param(&query, "call")
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::BadRequest("missing call query parameter".into()))
}

/// `POST /twiml/voicemail/done?call=…`: `<Record action>` — the recording is
/// over; thank the caller and hang up.
pub async fn done(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (_, signed) = webhook_params(&req, &body)?;
    let call_id = call_of(&req)?;
    check_signature(&req, &state, false, &signed).map_err(|e| e.for_call(&call_id))?;
    Ok(twiml_response(twiml::say_and_hangup(THANKS)))
}

/// `POST /twiml/voicemail/recording?call=…`: the recording's status. A
/// `completed` recording of this call (its `CallSid` must be the call's) is
/// downloaded as WAV and stored once per `RecordingSid` — a callback delivered
/// twice stores nothing more. 204 when handled (also for `absent` or `failed`
/// recordings, which are logged); 400 without `RecordingSid` or for a call of
/// another Twilio call; 404 for an unknown call; 502 when the recording cannot
/// be fetched or is not a WAV file.
pub async fn recording(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (params, signed) = webhook_params(&req, &body)?;
    let call_id = call_of(&req)?;
    check_signature(&req, &state, false, &signed).map_err(|e| e.for_call(&call_id))?;
    let status = param(&params, "RecordingStatus").unwrap_or("completed");
    if status != "completed" {
        log::warn!("call {call_id}: voicemail recording {status}; nothing to store");
        return Ok(HttpResponse::NoContent().finish());
    }
    let recording_sid = param(&params, "RecordingSid")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("missing RecordingSid".into()).for_call(&call_id))?
        .to_string();
    let wanted = call_id.clone();
    let sid = recording_sid.clone();
    let (row, stored) = query(&state, move |conn| {
        Ok((
            calls::get(conn, &wanted)?,
            voicemails::has_recording(conn, &sid)?,
        ))
    })
    .await?;
    let Some(row) = row else {
        return Err(ApiError::NotFound("no such call".into()).for_call(&call_id));
    };
    if row.carrier_call_sid.as_deref() != param(&params, "CallSid") {
        return Err(
            ApiError::BadRequest("the recording is of another Twilio call".into())
                .for_call(&call_id),
        );
    }
    if stored {
        log::info!("call {call_id}: voicemail {recording_sid} already stored");
        return Ok(HttpResponse::NoContent().finish());
    }
    let tenant = row
        .tenant_id
        .as_deref()
        .and_then(|id| state.carrier.tenants.get(id))
        .ok_or_else(|| {
            ApiError::NotFound("the call's tenant is not configured".into()).for_call(&call_id)
        })?;
    let rest = TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone())
        .map_err(|e| ApiError::Unavailable(e.to_string()).for_call(&call_id))?;
    let wav = rest
        .fetch_recording_wav(&recording_sid)
        .await
        .map_err(|e| ApiError::BadGateway(e.to_string()).for_call(&call_id))?;
    let pcm = read_wav_bytes(&wav).map_err(|e| {
        ApiError::BadGateway(format!("recording {recording_sid} is not a WAV file: {e}"))
            .for_call(&call_id)
    })?;
    let voicemail = Voicemail {
        call_id: Some(call_id.clone()),
        caller_phone: row.from_number.clone(),
        source: VoicemailSource::Twilio,
        recording_sid: Some(recording_sid.clone()),
        wav,
        duration_ms: pcm.duration_ms() as u32,
    };
    let saved = query(&state, move |conn| {
        match store(conn, &tenant, voicemail, Utc::now()) {
            Ok(message) => Ok(Some(message)),
            // Delivered twice at once: the other delivery stored it.
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| e.for_call(&call_id))?;
    if let Some(message) = saved {
        log::info!(
            "call {call_id}: voicemail {recording_sid} stored as message {} ({})",
            message.id,
            message.message
        );
    }
    Ok(HttpResponse::NoContent().finish())
}
