//! Live calls for operators (admin token), on any node: `GET /api/calls/live`
//! lists the calls in progress — every node's in a cluster, from the shared
//! registry — and actions on one live call (`POST /api/calls/{id}/hangup`,
//! `…/transfer`, `…/session`) reach the node carrying it (directly, or
//! by NATS request/reply; see `crate::cluster::ops`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::actor_messages::{OperateCall, OperateOutcome, OperatorAction};
use crate::call_tree::supervisor::LiveCalls;
use crate::http::auth::Admin;
use crate::http::state::AppState;

/// `GET /api/calls/live`: 200 `{"node":"<this node>","calls":[{call_id,
/// call_sid, tenant, carrier, node, started_at}…],"nodes":[…]}`, oldest call
/// first. In a cluster `calls` spans every live node and `nodes` lists them
/// (`node_id`, `addr`, `started_at`, `seen_at`, `draining`, `calls`); 503
/// when NATS does not answer. On a single node `nodes` is empty.
pub async fn live_calls(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    let node = state.config.cluster.node_id.clone();
    match &state.carrier.cluster {
        Some(cluster) => {
            let listed = async {
                Ok::<_, crate::cluster::ClusterError>((
                    cluster.live_calls().await?,
                    cluster.live_nodes().await?,
                ))
            };
            match listed.await {
                Ok((calls, nodes)) => {
                    HttpResponse::Ok().json(json!({"node": node, "calls": calls, "nodes": nodes}))
                }
                Err(e) => {
                    log::warn!("GET /api/calls/live: {e}");
                    HttpResponse::ServiceUnavailable()
                        .json(json!({"error": format!("cluster registry unavailable: {e}")}))
                }
            }
        }
        None => {
            let calls = state
                .carrier
                .supervisor
                .send(LiveCalls)
                .await
                .unwrap_or_default();
            HttpResponse::Ok().json(json!({"node": node, "calls": calls, "nodes": []}))
        }
    }
}

/// Applies `action` to the live call `call_id` wherever it is carried: this
/// node's Supervisor first, then (clustered) the node the registry names.
pub async fn operate(state: &AppState, call_id: String, action: OperatorAction) -> OperateOutcome {
    let op = OperateCall { call_id, action };
    let here = state
        .carrier
        .supervisor
        .send(op.clone())
        .await
        .unwrap_or(OperateOutcome::NotFound);
    if here != OperateOutcome::NotFound {
        return here;
    }
    let Some(cluster) = &state.carrier.cluster else {
        return here;
    };
    match cluster.find_call(&op.call_id).await {
        Ok(Some(entry)) if entry.node != cluster.node_id() => cluster
            .operate_on(&entry.node, &op)
            .await
            .unwrap_or(OperateOutcome::NotFound),
        Ok(_) => OperateOutcome::NotFound,
        Err(e) => {
            log::warn!("call {}: registry lookup failed: {e}", op.call_id);
            OperateOutcome::NotFound
        }
    }
}

/// The operator's answer for an action's `outcome`: `status` with `applied`,
/// 404 when no node carries the call, 409 with the reason when it cannot take
/// the action.
pub fn answer(
    outcome: OperateOutcome,
    status: StatusCode,
    applied: serde_json::Value,
) -> HttpResponse {
    match outcome {
        OperateOutcome::Applied => HttpResponse::build(status).json(applied),
        OperateOutcome::NotFound => {
            HttpResponse::NotFound().json(json!({"error": "no such live call"}))
        }
        OperateOutcome::Refused { error } => HttpResponse::Conflict().json(json!({"error": error})),
    }
}

/// `POST /api/calls/{id}/hangup` (switchboard call id): ends the live call at
/// once (`operator_hangup`, no apology). 200 `{"status":"ended"}`; 404 when
/// no node carries such a call (answered within `cluster.request_timeout_ms`).
pub async fn hang_up(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let outcome = operate(&state, id.into_inner(), OperatorAction::HangUp).await;
    answer(outcome, StatusCode::OK, json!({"status": "ended"}))
}

/// Body of `POST /api/calls/{id}/transfer`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// Why, for the person answering (said in the whisper); 1–200 characters.
    pub reason: String,
}

/// `POST /api/calls/{id}/transfer {"reason":"…"}` (switchboard call id): hands
/// the caller to the tenant's first on-call number now, as the
/// `transferToOnCall` tool does, on whichever node carries the call. 200
/// `{"status":"transferring"}`; 400 bad body; 404 no such live call; 409 when
/// the call cannot be transferred (not a phone call, no on-call number, Twilio
/// credentials missing, stream not started, already ending).
pub async fn transfer(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let reason = match serde_json::from_slice::<TransferRequest>(&body) {
        Ok(b) => b.reason.trim().to_string(),
        Err(e) => {
            return HttpResponse::BadRequest().json(json!({"error": format!("invalid body: {e}")}))
        }
    };
    if reason.is_empty() || reason.chars().count() > 200 {
        return HttpResponse::BadRequest().json(json!({"error": "reason: 1 to 200 characters"}));
    }
    let outcome = operate(&state, id.into_inner(), OperatorAction::Transfer { reason }).await;
    answer(outcome, StatusCode::OK, json!({"status": "transferring"}))
}
