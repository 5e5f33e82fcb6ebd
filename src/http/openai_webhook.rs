//! `POST /openai/webhook`: OpenAI's webhooks for SIP calls it answers
//! (docs/openai-sip.md). Verified as Standard Webhooks with
//! `openai.webhook_secret`; each delivery acted on once across the cluster
//! (its `webhook-id` claimed in the database), each announced call too (its
//! `session_id`/`call_id`); an incoming call is routed and handed to the
//! Supervisor, or rejected with a SIP status. The answer is 200 as soon as
//! that is decided: OpenAI retries anything else, and accepting is a separate
//! request the call makes itself.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use crate::accounts::Access;
use crate::call_tree::supervisor::StartCall;
use crate::carrier::env::CarrierEnv;
use crate::carrier::openai_sip::call::SipCall;
use crate::carrier::openai_sip::webhook::{self, SignedHeaders, WebhookError, WebhookEvent};
use crate::carrier::openai_sip::{decide, Decision};
use crate::http::error::ApiError;
use crate::http::routes::Routes;
use crate::http::state::AppState;
use crate::rest::openai_calls::well_formed_id;
use crate::store::db::blocking;
use crate::store::webhook_receipts;

/// How long a receipt is kept: past the signature window (5 minutes) no
/// valid delivery can carry its id again.
const RECEIPT_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// OpenAI's webhook, `POST /openai/webhook`.
pub fn configure_openai_webhook(routes: &mut Routes<'_>) {
    routes.post("/openai/webhook", Access::Public, receive);
}

/// One delivery. 503 without a signing secret, while draining, or when the
/// database cannot record it (OpenAI retries); 401 for a missing header, a
/// timestamp more than 5 minutes away or a signature that does not match; 400
/// for a verified body that is not an event, or an id that cannot name a
/// call; 200 for everything acted on or deliberately ignored (a replayed
/// delivery, another surface's announcement, an event type not used here).
pub async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(secret) = state.config.openai_webhook_secret() else {
        return Err(ApiError::Unavailable(
            "OpenAI webhooks are not set up: set OPENAI_WEBHOOK_SECRET".into(),
        ));
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let headers = SignedHeaders {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
    };
    match webhook::verify(secret, &headers, &body) {
        Ok(()) => {}
        Err(WebhookError::Secret(e)) => {
            log::error!("/openai/webhook: openai.webhook_secret is not a whsec_ secret: {e}");
            return Err(ApiError::Internal(format!("webhook secret: {e}")));
        }
        Err(e) => {
            log::warn!(
                "/openai/webhook: delivery {:?} refused: {e}",
                headers.id.unwrap_or("-")
            );
            return Err(ApiError::Unauthorized {
                message: e.to_string(),
                challenge: None,
            });
        }
    }
    let delivery = headers.id.unwrap_or_default().to_string();
    let event = WebhookEvent::parse(&body).map_err(|e| {
        log::warn!("/openai/webhook: delivery {delivery}: {e}");
        ApiError::BadRequest(e.to_string())
    })?;
    let Some(incoming) = event.incoming() else {
        return Ok(HttpResponse::Ok().finish());
    };
    if !well_formed_id(&incoming.id) {
        log::warn!("/openai/webhook: delivery {delivery}: malformed call id");
        return Err(ApiError::BadRequest(
            "session_id/call_id must be 1-128 letters, digits, '_' or '-'".into(),
        ));
    }
    if state.carrier.is_draining() {
        // Another node (or this one, restarted) takes OpenAI's retry.
        return Err(ApiError::draining());
    }
    if !claim(&state, format!("openai:{delivery}")).await? {
        log::info!("/openai/webhook: delivery {delivery} seen before; ignored");
        return Ok(HttpResponse::Ok().finish());
    }
    let env = &state.carrier;
    match decide(env, &incoming) {
        Decision::Start(setup) => {
            // OpenAI may announce one Live call under two event names.
            if !claim(&state, format!("openai-sip:{}", incoming.id)).await? {
                log::info!(
                    "/openai/webhook: call {} announced before; ignored",
                    incoming.id
                );
                return Ok(HttpResponse::Ok().finish());
            }
            let setup = *setup;
            log::info!(
                "/openai/webhook: {} call {} for tenant {} (call {})",
                incoming.surface.as_str(),
                incoming.id,
                setup.tenant.id,
                setup.call_id
            );
            start(env, setup);
        }
        Decision::Reject {
            controls,
            status,
            why,
        } => {
            log::warn!(
                "/openai/webhook: call {} rejected with {status}: {why}",
                incoming.id
            );
            let (surface, id) = (incoming.surface, incoming.id.clone());
            actix_rt::spawn(async move {
                if let Err(e) = controls.reject(surface, &id, status).await {
                    log::warn!("openai-sip call {id}: reject failed: {e}");
                }
            });
        }
        Decision::Ignore(why) => {
            log::info!("/openai/webhook: call {} not taken: {why}", incoming.id);
        }
    }
    Ok(HttpResponse::Ok().finish())
}

/// Hands the call to the Supervisor, on this worker's arbiter.
fn start(env: &CarrierEnv, setup: crate::carrier::openai_sip::call::SipCallSetup) {
    let (start_call, _) = StartCall::<SipCall>::new(setup.call_id.clone(), setup);
    env.supervisor.do_send(start_call);
}

/// Claims `key` cluster-wide (and forgets receipts past their use); false
/// when it was claimed before.
async fn claim(state: &AppState, key: String) -> Result<bool, ApiError> {
    let now = Utc::now().naive_utc();
    blocking(&state.pool, move |conn| {
        let first = webhook_receipts::claim(conn, &key, now)?;
        if first {
            webhook_receipts::purge(conn, now - RECEIPT_TTL)?;
        }
        Ok(first)
    })
    .await
    .map_err(|e| {
        log::error!("/openai/webhook: receipt not recorded: {e}");
        ApiError::Unavailable("database unavailable".into())
    })
}
