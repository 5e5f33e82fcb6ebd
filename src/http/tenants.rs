//! The tenants resource (admin token): the configured tenants, and operator
//! edits to the model session of a tenant's new calls.

use actix_web::{web, HttpResponse};

use crate::cluster::settings::SessionNotice;
use crate::http::auth::Admin;
use crate::http::db::query;
use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;
use crate::session_settings::SessionSettings;
use crate::store;

/// Routes of `/api/tenants`.
pub fn configure_tenants(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/tenants", web::get().to(list_tenants))
        .route("/api/tenants/{id}/session", web::put().to(tenant_session));
}

/// `GET /api/tenants`: the configured tenants.
pub async fn list_tenants(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    let tenants: Vec<_> = state
        .carrier
        .tenants
        .all()
        .iter()
        .map(|t| t.as_ref().clone())
        .collect();
    HttpResponse::Ok().json(tenants)
}

/// `PUT /api/tenants/{id}/session {voice?, instructions?, eagerness?}`: settings for
/// the tenant's calls that start from now on, merged into the stored ones in the
/// database (so they outlive a restart) and, in a cluster, announced to every
/// node. 200 with the merged settings; 400 invalid; 404 unknown tenant; 503
/// database unavailable.
pub async fn tenant_session(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = id.into_inner();
    edit_session(&state, &tenant_id, &body)
        .await
        .map_err(|e| e.for_tenant(tenant_id))
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
