//! The tenants resource (scoped to the caller's tenant): the configured tenants, and operator
//! edits to the model session of a tenant's new calls.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::accounts::audit::Change;
use crate::accounts::Principal;
use crate::cluster::settings::SessionNotice;
use crate::http::db::query;
use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;
use crate::session_settings::SessionSettings;
use crate::store;

/// Routes of `/api/tenants`.
pub fn configure_tenants(routes: &mut Routes<'_>) {
    routes.get("/api/tenants", Access::Read, list_tenants);
    routes.add(
        Method::PUT,
        "/api/tenants/{id}/session",
        Access::Manage,
        tenant_session,
    );
}

/// `GET /api/tenants`: the configured tenants the caller may see (an
/// owner, staff or token: its own; an admin: all).
pub async fn list_tenants(principal: Principal, state: web::Data<AppState>) -> HttpResponse {
    let tenants: Vec<_> = state
        .carrier
        .tenants
        .all()
        .iter()
        .filter(|t| principal.scope.allows(Some(&t.id)))
        .map(|t| t.as_ref().clone())
        .collect();
    HttpResponse::Ok().json(tenants)
}

/// `PUT /api/tenants/{id}/session {voice?, instructions?, eagerness?}`: settings for
/// the tenant's calls that start from now on, merged into the stored ones in the
/// database (so they outlive a restart) and, in a cluster, announced to every
/// node. 200 with the merged settings; 400 invalid; 404 unknown tenant (or
/// another's); 503 database unavailable. Audited as `tenant.session_edited`.
pub async fn tenant_session(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = id.into_inner();
    if !principal.scope.allows(Some(&tenant_id)) {
        return Err(ApiError::NotFound("no such tenant".into()).for_tenant(tenant_id));
    }
    let resp = edit_session(&state, &tenant_id, &body)
        .await
        .map_err(|e| e.for_tenant(&tenant_id))?;
    let detail = String::from_utf8_lossy(&body)
        .chars()
        .take(500)
        .collect::<String>();
    let change =
        Change::new("tenant.session_edited", Some(&tenant_id), Some(&tenant_id)).detail(detail);
    crate::http::audit::record(&state, &req, &principal, change).await;
    Ok(resp)
}

/// [`tenant_session`] for `tenant_id`.
async fn edit_session(
    state: &AppState,
    tenant_id: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let body: SessionSettings = json_body(body)?;
    if state.carrier.tenants.get(tenant_id).is_none() {
        return Err(ApiError::NotFound("no such tenant".into()));
    }
    body.validate()?;
    let edit = body.clone();
    let stored = query(state, {
        let tenant_id = tenant_id.to_string();
        move |conn| {
            store::tenants::edit_session(conn, &tenant_id, |held| {
                // A stored value that no longer parses is replaced, not kept.
                let mut merged: SessionSettings = held
                    .and_then(|json| serde_json::from_str(json).ok())
                    .unwrap_or_default();
                merged.merge(&edit);
                // Plain strings and an enum: serialising cannot fail.
                serde_json::to_string(&merged).unwrap_or_else(|_| "{}".into())
            })
        }
    })
    .await?
    // Configured tenants are upserted at start-up; a missing row is a
    // tenant removed from the database behind our back.
    .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
    let merged: SessionSettings = serde_json::from_str(&stored.json).unwrap_or_default();
    state
        .calls
        .session_overrides
        .apply(tenant_id, merged.clone(), stored.version);
    if let Some(cluster) = &state.carrier.cluster {
        let notice = SessionNotice {
            tenant_id: tenant_id.to_string(),
            version: stored.version,
            settings: merged.clone(),
        };
        if let Err(e) = cluster.announce_session(&notice).await {
            log::warn!(
                "tenant {}: session edit not announced ({e}); other nodes apply it at their restart",
                notice.tenant_id
            );
        }
    }
    Ok(HttpResponse::Ok().json(merged))
}
