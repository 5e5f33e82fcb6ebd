//! `POST /twiml/amd`: Twilio's answering machine detection result for an
//! outbound call (`POST /api/calls` asks for `MachineDetection=DetectMessageEnd`,
//! `AsyncAmd=true` and this URL as `AsyncAmdStatusCallback`; Twilio "Answering
//! Machine Detection", docs/twilio.md §Answering machines). Signed like every
//! Twilio webhook. The verdict (`AnsweredBy`) goes to the live call wherever
//! it runs (this node, or the node the cluster registry names): a person, an
//! undecided result or a machine still greeting go on as a conversation; a
//! machine whose greeting has ended gets the tenant's voicemail
//! (`<Say>script</Say><Hangup/>` replacing the call's TwiML) and a fax is hung
//! up on — both end the call `answering_machine`. A verdict for a call no node
//! carries is written to its row.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::actor_messages::{OperateOutcome, OperatorAction};
use crate::call_tree::supervisor::LiveCalls;
use crate::carrier::twilio::twiml;
use crate::cluster::LiveCallEntry;
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::live_calls::operate;
use crate::http::state::AppState;
use crate::http::twilio::{check_signature, webhook_params};
use crate::lifecycle::AnsweredBy;
use crate::rest::twilio::TwilioRest;
use crate::store;

/// The answering machine verdict's route: `POST /twiml/amd`.
pub fn configure_amd(routes: &mut Routes<'_>) {
    routes.post("/twiml/amd", Access::Public, amd);
}

/// `POST /twiml/amd?tenant=…` (form: `CallSid`, `AccountSid`, `AnsweredBy`,
/// `MachineDetectionDuration` (ms), …): 204 once the verdict is applied; 403
/// on a bad signature, 400 on an unparsable form, a missing `CallSid` or an
/// `AnsweredBy` Twilio does not document, 502 when Twilio refuses the
/// voicemail update, 503 without Twilio REST credentials.
pub async fn amd(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (params, signed_params) = webhook_params(&req, &body)?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let call_sid = get("CallSid").unwrap_or("-").to_string();
    check_signature(&req, &state, false, &signed_params).map_err(|e| e.for_call(&call_sid))?;
    if call_sid == "-" {
        return Err(ApiError::BadRequest("CallSid: missing".into()));
    }
    let answered_by: AnsweredBy = get("AnsweredBy")
        .ok_or_else(|| ApiError::BadRequest("AnsweredBy: missing".into()))
        .and_then(|v| {
            v.parse()
                .map_err(|e: crate::lifecycle::UnknownText| ApiError::BadRequest(e.to_string()))
        })
        .map_err(|e| e.for_call(&call_sid))?;
    log::info!(
        "/twiml/amd: call {call_sid}: answered by {answered_by} (after {} ms)",
        get("MachineDetectionDuration").unwrap_or("?")
    );
    // Credentials first: a call told to stop for a machine must get its voicemail.
    let rest = if answered_by.ends_call() {
        Some(
            TwilioRest::from_config(&state.config.twilio, state.carrier.tls.clone())
                .map_err(|e| ApiError::from(e).for_call(&call_sid))?,
        )
    } else {
        None
    };
    let outcome = match live_call_by_sid(&state, &call_sid).await {
        Some(entry) => {
            let action = OperatorAction::AnsweredBy { answered_by };
            let outcome = operate(&state, entry.call_id.clone(), action, None).await;
            (outcome, Some(entry))
        }
        None => (OperateOutcome::NotFound, None),
    };
    match outcome {
        (OperateOutcome::Applied, Some(entry)) => {
            if let Some(rest) = &rest {
                leave_voicemail(&state, rest, &call_sid, &entry, answered_by)
                    .await
                    .map_err(|e| e.for_call(&call_sid))?;
            }
        }
        (OperateOutcome::Applied, None) => {}
        (OperateOutcome::Refused { error }, _) => {
            log::info!(
                "/twiml/amd: call {call_sid}: verdict recorded, call left as it is: {error}"
            );
        }
        (OperateOutcome::NotFound, _) => {
            // The call has ended (or never streamed): the verdict goes on its row.
            let sid = call_sid.clone();
            let updated = query(&state, move |conn| {
                store::calls::set_answered_by(conn, &sid, answered_by.as_str())
            })
            .await
            .map_err(|e| e.for_call(&call_sid))?;
            log::info!(
                "/twiml/amd: call {call_sid} is not live; answered_by written to {updated} row(s)"
            );
        }
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the call's TwiML: the tenant's voicemail then `<Hangup/>` for a
/// machine whose greeting has ended, `<Hangup/>` alone for a fax. Twilio then
/// ends the media stream (`stop`), and the call ends `answering_machine`.
async fn leave_voicemail(
    state: &AppState,
    rest: &TwilioRest,
    call_sid: &str,
    entry: &LiveCallEntry,
    answered_by: AnsweredBy,
) -> Result<(), ApiError> {
    let tenant = entry
        .tenant
        .as_deref()
        .and_then(|id| state.carrier.tenants.get(id));
    let document = match (answered_by.is_machine_ready_for_message(), tenant) {
        (true, Some(tenant)) => twiml::say_and_hangup(&tenant.voicemail_script()),
        _ => twiml::hangup(),
    };
    rest.update_call_twiml(call_sid, &document).await?;
    log::info!(
        "/twiml/amd: call {call_sid} ({}): {} left, hanging up",
        entry.call_id,
        if answered_by.is_machine_ready_for_message() {
            "voicemail"
        } else {
            "nothing"
        }
    );
    Ok(())
}

/// The live call whose carrier call id is `call_sid`: on this node, or (in a
/// cluster) on whichever node the registry lists it.
async fn live_call_by_sid(state: &AppState, call_sid: &str) -> Option<LiveCallEntry> {
    let here = state
        .carrier
        .supervisor
        .send(LiveCalls)
        .await
        .unwrap_or_default();
    let is_it = |e: &LiveCallEntry| e.call_sid.as_deref() == Some(call_sid);
    if let Some(entry) = here.into_iter().find(is_it) {
        return Some(entry);
    }
    let cluster = state.carrier.cluster.as_ref()?;
    match cluster.live_calls().await {
        Ok(calls) => calls.into_iter().find(is_it),
        Err(e) => {
            log::warn!("/twiml/amd: call {call_sid}: registry lookup failed: {e}");
            None
        }
    }
}
