//! One caller's data, erased on request: `DELETE /api/callers/{phone}` (an
//! owner: their tenant; an admin: `?tenant=ID`). What goes and what stays:
//! [`crate::store::erasure`]. The erasure is audited by its counts, never the
//! number.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::audit::Change;
use crate::accounts::{Access, Principal, TenantFilter};
use crate::http::audit::record;
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::routes::Routes;
use crate::http::state::AppState;
use crate::store;

/// `DELETE /api/callers/{phone}`.
pub fn configure_callers(routes: &mut Routes<'_>) {
    routes.add(
        Method::DELETE,
        "/api/callers/{phone}",
        Access::Manage,
        erase_caller,
    );
}

/// Query of `DELETE /api/callers/{phone}`.
#[derive(Debug, Deserialize)]
pub struct EraseQuery {
    /// The tenant whose caller is erased: required of an admin, optional
    /// (and then their own) for an owner or token.
    pub tenant: Option<String>,
}

/// `DELETE /api/callers/{phone}` (`phone` E.164, `+` URL-encoded as `%2B`):
/// `200 {"tenant", "erased": {calls, transcript_lines, tool_calls,
/// caller_messages, customers, bookings, text_messages, notifications}}`.
/// 400 for a number that is not E.164 or an admin naming no tenant; 404 for a
/// tenant out of the caller's scope or not configured.
pub async fn erase_caller(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    phone: web::Path<String>,
    q: web::Query<EraseQuery>,
) -> Result<HttpResponse, ApiError> {
    let phone = crate::tools::args::e164("phone", &phone)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tenant = match principal.scope.filter(q.tenant.as_deref()) {
        TenantFilter::Only(t) => t,
        TenantFilter::Any => {
            return Err(ApiError::BadRequest(
                "tenant: name the tenant whose caller is erased (?tenant=ID)".into(),
            ))
        }
        TenantFilter::Nothing => {
            let asked = q.tenant.clone().unwrap_or_default();
            return Err(ApiError::NotFound("no such tenant".into()).for_tenant(asked));
        }
    };
    if state.carrier.tenants.get(&tenant).is_none() {
        return Err(ApiError::NotFound("no such tenant".into()).for_tenant(tenant));
    }
    let (t, p) = (tenant.clone(), phone.clone());
    let erased = query(&state, move |conn| {
        store::erasure::erase_caller(conn, &t, &p)
    })
    .await?;
    store::files::remove_under(&state.config.recording.dir, &erased.files);
    log::info!(
        "tenant {tenant}: a caller's data was erased ({})",
        erased.summary()
    );
    record(
        &state,
        &req,
        &principal,
        Change::new("caller.erase", Some(&tenant), None).detail(erased.summary()),
    )
    .await;
    Ok(HttpResponse::Ok().json(json!({"tenant": tenant, "erased": erased})))
}
