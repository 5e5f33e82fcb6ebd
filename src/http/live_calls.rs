//! Live calls for operators (admin token), on any node: `GET /api/calls/live`
//! lists the calls in progress — every node's in a cluster, from the shared
//! registry — and actions on one live call (`POST /api/calls/{id}/hangup`,
//! `POST /api/calls/{id}/session`) reach the node carrying it (directly, or
//! by NATS request/reply; see `crate::cluster::ops`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::http::admin::{check_admin, unauthorized};
use crate::http::state::AppState;
use crate::messages::{OperateCall, OperatorAction};
use crate::supervisor::LiveCalls;

/// `GET /api/calls/live`: 200 `{"node":"<this node>","calls":[{call_id,
/// call_sid, tenant, carrier, node, started_at}…],"nodes":[…]}`, oldest call
/// first. In a cluster `calls` spans every live node and `nodes` lists them
/// (`node_id`, `addr`, `started_at`, `seen_at`, `draining`, `calls`); 503
/// when NATS does not answer. On a single node `nodes` is empty.
pub async fn live_calls(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
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
/// `true` when a node carrying the call applied it.
pub async fn operate(state: &AppState, call_id: String, action: OperatorAction) -> bool {
    let op = OperateCall { call_id, action };
    if state
        .carrier
        .supervisor
        .send(op.clone())
        .await
        .unwrap_or(false)
    {
        return true;
    }
    let Some(cluster) = &state.carrier.cluster else {
        return false;
    };
    match cluster.find_call(&op.call_id).await {
        Ok(Some(entry)) if entry.node != cluster.node_id() => {
            cluster.operate_on(&entry.node, &op).await.unwrap_or(false)
        }
        Ok(_) => false,
        Err(e) => {
            log::warn!("call {}: registry lookup failed: {e}", op.call_id);
            false
        }
    }
}

/// `POST /api/calls/{id}/hangup` (switchboard call id): ends the live call at
/// once (`operator_hangup`, no apology). 200 `{"status":"ended"}`; 404 when
/// no node carries such a call (answered within `cluster.request_timeout_ms`).
pub async fn hang_up(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    if let Err(e) = check_admin(&req, &state) {
        return unauthorized(e);
    }
    if operate(&state, id.into_inner(), OperatorAction::HangUp).await {
        HttpResponse::Ok().json(json!({"status": "ended"}))
    } else {
        HttpResponse::NotFound().json(json!({"error": "no such live call"}))
    }
}
