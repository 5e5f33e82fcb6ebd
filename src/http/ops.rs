//! Operations endpoints: `GET /health` (liveness/readiness; 503 while draining),
//! `GET /metrics` (Prometheus text; optionally behind `server.metrics_token`),
//! `GET /tools` (tool schemas).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::call_tree::supervisor::ActiveCalls;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::store::writer::Stats;

/// Operations: `/health`, `/metrics`, `/tools`.
pub fn configure_ops(routes: &mut Routes<'_>) {
    routes.get("/health", Access::Public, health);
    routes.get("/metrics", Access::Public, metrics);
    routes.get("/tools", Access::Public, tools);
}

/// `GET /health`: `{"status":"ok","calls":N,"store_pending":N,"spool_depth":N}`
/// (`spool_depth`: writes waiting in the outage spool for the database); 503
/// `draining` on shutdown. The 503 is a readiness answer, not an error: a
/// load balancer reads its status, an operator the same document as on 200.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let calls = state
        .carrier
        .supervisor
        .send(ActiveCalls)
        .await
        .unwrap_or(0);
    let store = state.store.send(Stats).await.ok();
    let body = json!({
        "status": if state.carrier.is_draining() { "draining" } else { "ok" },
        "calls": calls,
        "store_pending": store.as_ref().map(|s| s.pending),
        "spool_depth": store.as_ref().map(|s| s.spooled),
    });
    if state.carrier.is_draining() {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

/// Whether `req` may read `/metrics`: always when `server.metrics_token` is
/// unset, else only with `Authorization: Bearer <token>` carrying the metrics
/// token (Prometheus: `authorization: {credentials: …}`) or the admin token
/// (the dashboard), each compared in constant time.
fn metrics_allowed(req: &HttpRequest, state: &AppState) -> bool {
    let server = &state.config.server;
    let Some(expected) = server.metrics_token.as_deref().filter(|t| !t.is_empty()) else {
        return true;
    };
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return false;
    };
    let matches = |token: &str| bool::from(given.as_bytes().ct_eq(token.as_bytes()));
    let admin = server
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .is_some_and(matches);
    matches(expected) | admin
}

/// `GET /metrics`: Prometheus text exposition; 401 (counted by the failed-auth
/// limiter) without the bearer token when `server.metrics_token` is set.
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !metrics_allowed(&req, &state) {
        return Err(ApiError::Unauthorized {
            message: "missing or wrong metrics token".into(),
            challenge: Some("Bearer realm=\"metrics\""),
        });
    }
    let store = state.store.send(Stats).await.ok();
    let pending = store.as_ref().map(|s| s.pending as f64).unwrap_or(-1.0);
    let failures = store.as_ref().map(|s| s.failures as f64).unwrap_or(-1.0);
    let spooled = store.as_ref().map(|s| s.spooled as f64).unwrap_or(-1.0);
    let spooled_total = store
        .as_ref()
        .map(|s| s.spooled_total as f64)
        .unwrap_or(-1.0);
    let replayed = store.as_ref().map(|s| s.replayed as f64).unwrap_or(-1.0);
    let text = state.carrier.metrics.render(&[
        (
            "store_pending_writes",
            "Writes accepted but not yet committed",
            pending,
        ),
        (
            "store_failed_batches",
            "Batches that failed and are retried",
            failures,
        ),
        (
            "store_spool_depth",
            "Writes waiting in the outage spool for the database",
            spooled,
        ),
        (
            "store_spooled_writes",
            "Writes appended to the outage spool since start",
            spooled_total,
        ),
        (
            "store_replayed_writes",
            "Spooled writes replayed into the database since start",
            replayed,
        ),
    ]);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}

/// `GET /tools`: every tool's schema (Realtime `function` tool shape).
pub async fn tools(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.tools.registry.describe())
}
