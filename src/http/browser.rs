//! Browser softphone HTTP side: `POST /api/sessions` (an owner or admin) issues a
//! single-use token; `GET /browser?token=…` checks the Origin allow-list (403) and
//! the token (401) before upgrading to the softphone WebSocket
//! (`carrier::browser::edge`).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::Principal;
use crate::call_tree::supervisor::Prewarm;
use crate::carrier::browser::edge::{browser_call_setup, BrowserSocket};
use crate::carrier::browser::token::{TokenError, TOKEN_TTL};
use crate::carrier::browser::wire::MAX_AUDIO_BYTES;
use crate::http::error::{json_body, ApiError};
use crate::http::state::AppState;

/// The browser softphone: its sessions (`POST /api/sessions`) and its socket
/// (`GET /browser`).
pub fn configure_browser(routes: &mut Routes<'_>) {
    routes.get("/browser", Access::Public, browser);
    routes.post("/api/sessions", Access::Manage, create_session);
}

/// Body of `POST /api/sessions` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Tenant to talk to; default = the routing default tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `POST /api/sessions`: `{"sessionId":"BR…","token":"<64 hex>","expiresIn":60}`.
/// 400 for a body that is not such JSON; 401 without credentials; 404
/// for an unknown tenant or another's. A tenant's owner or token without a
/// `tenant` talks to its own tenant.
pub async fn create_session(
    principal: Principal,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut request: NewSession = if body.is_empty() {
        NewSession::default()
    } else {
        json_body(&body)?
    };
    if request.tenant.is_none() {
        request.tenant = principal.scope.tenant().map(str::to_string);
    }
    if let Some(id) = &request.tenant {
        let known = state.carrier.tenants.get(id).is_some();
        if !known || !principal.scope.allows(Some(id)) {
            return Err(ApiError::NotFound("no such tenant".into()).for_tenant(id));
        }
    }
    let (session_id, token) = state.carrier.browser_tokens.issue(request.tenant.clone());
    if state.config.calls.prewarm {
        prewarm(&state, &session_id, &token, request.tenant.as_deref()).await;
    }
    Ok(HttpResponse::Created().json(json!({
        "sessionId": session_id,
        "token": token,
        "expiresIn": TOKEN_TTL.as_secs(),
    })))
}

/// Starts the session's call now (model link, greeting) so the socket finds
/// its greeting ready; the pre-warm token stays with the session. Nothing when
/// the tenant cannot take a direct call or the call is not admitted now (the
/// socket then starts the call itself, and is refused there if it must be).
async fn prewarm(state: &AppState, session_id: &str, token: &str, tenant: Option<&str>) {
    let Ok(tenant) = state.carrier.tenants.resolve(tenant, None, None) else {
        return;
    };
    if tenant
        .check_direct_link(state.config.model.provider)
        .is_err()
    {
        return;
    }
    let ask = Prewarm::here(browser_call_setup(session_id, tenant, None));
    if let Ok(Some(prewarm)) = state.carrier.supervisor.send(ask).await {
        state
            .carrier
            .browser_tokens
            .set_prewarm(token, prewarm.as_str().to_string());
    }
}

/// The `token` query parameter of `/browser`.
#[derive(Deserialize)]
pub struct BrowserQuery {
    pub token: Option<String>,
}

/// Whether `origin` may open `/browser`: listed in `browser.allowed_origins`, or the
/// server's own origin (`server.public_url`, or the request's scheme and Host).
fn origin_allowed(req: &HttpRequest, state: &AppState, origin: &str) -> bool {
    if state
        .config
        .browser
        .allowed_origins
        .iter()
        .any(|o| o == origin)
    {
        return true;
    }
    let public = state.config.server.public_url.trim_end_matches('/');
    if !public.is_empty() {
        return origin == public;
    }
    let info = req.connection_info();
    origin == format!("{}://{}", info.scheme(), info.host())
}

/// `GET /browser?token=…`: 403 when the `Origin` header is missing or not allowed,
/// 401 when the token is missing, unknown, expired or used, 503 while draining;
/// otherwise upgrades (binary frames up to 100 KB; larger close with 1009).
pub async fn browser(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<BrowserQuery>,
) -> Result<HttpResponse, ApiError> {
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !origin_allowed(&req, &state, origin) {
        return Err(ApiError::Forbidden("origin not allowed".into()).about("origin", origin));
    }
    let session = match query.token.as_deref().filter(|t| !t.is_empty()) {
        None => Err(TokenError::Missing),
        Some(token) => state.carrier.browser_tokens.redeem(token),
    }?;
    let call = session.session_id.clone();
    if state.carrier.is_draining() {
        return Err(ApiError::draining().for_call(call));
    }
    let tenant = state
        .carrier
        .tenants
        .resolve(session.tenant_id.as_deref(), None, None)
        .map_err(|e| ApiError::NotFound(e.to_string()).for_call(&call))?;
    if let Err(e) = tenant.check_direct_link(state.config.model.provider) {
        return Err(ApiError::Conflict(e).for_call(call).for_tenant(&tenant.id));
    }
    let socket = BrowserSocket::new(state.carrier.clone(), session, tenant);
    ws::WsResponseBuilder::new(socket, &req, stream)
        .frame_size(MAX_AUDIO_BYTES)
        .start()
        .map_err(ApiError::upgrade)
}
