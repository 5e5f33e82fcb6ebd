//! The audit log over HTTP: `GET /api/audit` (admin: every tenant's and the
//! server's; an owner or token: its tenant's), paged like the inbox, and
//! [`record`], which every changing handler calls after its change.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::audit::{self, Change, Who};
use crate::accounts::{Access, Principal, TenantFilter};
use crate::http::auth::client_address;
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::paging::{bounds, empty_page, page_json};
use crate::http::routes::Routes;
use crate::http::state::AppState;
use crate::store;

/// `GET /api/audit`.
pub fn configure_audit(routes: &mut Routes<'_>) {
    routes.get("/api/audit", Access::Manage, list_audit);
}

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Only this tenant's entries (an admin's filter; others see only their own).
    pub tenant: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// `GET /api/audit`: entries newest first, `{"items":[{id, at, actor,
/// actor_kind, tenant_id, action, object, detail, address}…], "total",
/// "limit", "offset"}`.
pub async fn list_audit(
    principal: Principal,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = bounds(q.limit, q.offset)?;
    let filter = principal.scope.filter(q.tenant.as_deref());
    if filter == TenantFilter::Nothing {
        return Ok(empty_page(limit, offset));
    }
    let (rows, total) = query(&state, move |conn| {
        store::audit::list(conn, filter.tenant(), limit, offset)
    })
    .await?;
    let items = rows.iter().map(|r| json!(r)).collect();
    Ok(page_json(items, total, limit, offset))
}

/// Appends `change` by `principal` (from `req`'s address) to the audit log.
/// The change is made already: a failed write is logged, not answered.
pub async fn record(state: &AppState, req: &HttpRequest, principal: &Principal, change: Change) {
    let who = Who::principal(principal, client_address(req));
    let action = change.action;
    let written = query(state, move |conn| audit::record(conn, &who, change)).await;
    if let Err(e) = written {
        log::error!(
            "audit log: {action} by {} not recorded: {e}",
            principal.name()
        );
    }
}
