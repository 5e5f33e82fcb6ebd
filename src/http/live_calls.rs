//! Live calls for operators (scoped to their tenant), on any node: `GET /api/calls/live`
//! lists the calls in progress — every node's in a cluster, from the shared
//! registry — and actions on one live call (`POST /api/calls/{id}/hangup`,
//! `…/transfer`, `…/session`) reach the node carrying it (directly, or
//! by NATS request/reply; see `crate::cluster::ops`). Routed with the rest of
//! the calls resource (`http::calls`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::accounts::audit::Change;
use crate::accounts::Principal;
use crate::actor_messages::{OperateCall, OperateOutcome, OperatorAction};
use crate::call_tree::supervisor::LiveCalls;
use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;
use crate::session_settings::SessionSettings;

/// `GET /api/calls/live`: 200 `{"node":"<this node>","calls":[{call_id,
/// call_sid, tenant, carrier, node, started_at}…],"nodes":[…]}`, oldest call
/// first, of the caller's tenant (an admin: every tenant's). In a cluster
/// `calls` spans every live node and `nodes` lists them (`node_id`, `addr`,
/// `started_at`, `seen_at`, `draining`, `calls`; admins only, others get
/// `[]`); 503 when NATS does not answer. On a single node `nodes` is empty.
pub async fn live_calls(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let node = state.config.cluster.node_id.clone();
    let scope = principal.scope.clone();
    let visible = move |calls: Vec<crate::cluster::LiveCallEntry>| {
        calls
            .into_iter()
            .filter(|c| scope.allows(c.tenant.as_deref()))
            .collect::<Vec<_>>()
    };
    match &state.carrier.cluster {
        Some(cluster) => {
            let listed = async {
                Ok::<_, crate::cluster::ClusterError>((
                    cluster.live_calls().await?,
                    cluster.live_nodes().await?,
                ))
            };
            let (calls, mut nodes) = listed
                .await
                .map_err(|e| ApiError::Unavailable(format!("cluster registry unavailable: {e}")))?;
            if principal.scope != crate::accounts::Scope::All {
                nodes.clear();
            }
            let calls = visible(calls);
            Ok(HttpResponse::Ok().json(json!({"node": node, "calls": calls, "nodes": nodes})))
        }
        None => {
            let calls = state
                .carrier
                .supervisor
                .send(LiveCalls)
                .await
                .unwrap_or_default();
            let calls = visible(calls);
            Ok(HttpResponse::Ok().json(json!({"node": node, "calls": calls, "nodes": []})))
        }
    }
}

/// Applies `action` to the live call `call_id` wherever it is carried: this
/// node's Supervisor first, then (clustered) the node the registry names.
/// With `tenant`, only a call of that tenant (the operator's scope, which
/// travels with the request to the carrying node).
pub async fn operate(
    state: &AppState,
    call_id: String,
    action: OperatorAction,
    tenant: Option<String>,
) -> OperateOutcome {
    let op = OperateCall {
        call_id,
        action,
        tenant,
    };
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

/// One operator action on a live call, by whom, from which request.
struct Act<'a> {
    principal: &'a Principal,
    req: &'a HttpRequest,
    /// The audit log's name of it (`call.hang_up`, …).
    audited: &'static str,
}

/// Applies `action` to the live call `call_id` ([`operate`], in the
/// principal's scope), audits it, and answers `status` with `applied`; 404
/// when no node carries such a call of the principal's tenant, 409 with the
/// reason when it cannot take the action.
async fn act(
    state: &AppState,
    by: Act<'_>,
    call_id: String,
    action: OperatorAction,
    status: StatusCode,
    applied: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let detail = match &action {
        OperatorAction::Transfer { reason } => Some(reason.clone()),
        _ => None,
    };
    let scope = by.principal.scope.tenant().map(str::to_string);
    match operate(state, call_id.clone(), action, scope.clone()).await {
        OperateOutcome::Applied => {
            let tenant = match scope {
                Some(t) => Some(t),
                None => call_tenant(state, &call_id).await,
            };
            let mut change = Change::new(by.audited, tenant.as_deref(), Some(&call_id));
            change.detail = detail;
            crate::http::audit::record(state, by.req, by.principal, change).await;
            Ok(HttpResponse::build(status).json(applied))
        }
        OperateOutcome::NotFound => {
            Err(ApiError::NotFound("no such live call".into()).for_call(call_id))
        }
        OperateOutcome::Refused { error } => Err(ApiError::Conflict(error).for_call(call_id)),
    }
}

/// The tenant of the stored call `call_id` (an admin's action names no tenant).
async fn call_tenant(state: &AppState, call_id: &str) -> Option<String> {
    let wanted = call_id.to_string();
    crate::http::db::query(state, move |conn| crate::store::calls::get(conn, &wanted))
        .await
        .ok()
        .flatten()
        .and_then(|c| c.tenant_id)
}

/// `POST /api/calls/{id}/hangup` (switchboard call id): ends the live call at
/// once (`operator_hangup`, no apology). 200 `{"status":"ended"}`; 404 when
/// no node carries such a call of the caller's tenant (answered within
/// `cluster.request_timeout_ms`). Audited as `call.hang_up`.
pub async fn hang_up(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let applied = json!({"status": "ended"});
    let by = Act {
        principal: &principal,
        req: &req,
        audited: "call.hang_up",
    };
    act(
        &state,
        by,
        id.into_inner(),
        OperatorAction::HangUp,
        StatusCode::OK,
        applied,
    )
    .await
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
/// credentials missing, stream not started, already ending). Audited as
/// `call.transfer`.
pub async fn transfer(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let request: TransferRequest = json_body(&body).map_err(|e| e.for_call(&id))?;
    let reason = request.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::BadRequest("reason: 1 to 200 characters".into()).for_call(id));
    }
    let applied = json!({"status": "transferring"});
    let by = Act {
        principal: &principal,
        req: &req,
        audited: "call.transfer",
    };
    act(
        &state,
        by,
        id,
        OperatorAction::Transfer { reason },
        StatusCode::OK,
        applied,
    )
    .await
}

/// `POST /api/calls/{id}/session {voice?, instructions?, eagerness?}`: pushes a
/// `session.update` to the live call with switchboard id `id`, on whichever
/// node carries it. 202 when sent; 400 invalid; 404 no such live call.
/// Audited as `call.session_edited`.
pub async fn call_session(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let settings: SessionSettings = json_body(&body).map_err(|e| e.for_call(&id))?;
    if let Err(e) = settings.validate() {
        return Err(ApiError::from(e).for_call(id));
    }
    let applied = json!({"status": "sent"});
    let action = OperatorAction::Session { settings };
    let by = Act {
        principal: &principal,
        req: &req,
        audited: "call.session_edited",
    };
    act(&state, by, id, action, StatusCode::ACCEPTED, applied).await
}
