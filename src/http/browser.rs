//! Browser softphone HTTP side: `POST /api/sessions` (admin token) issues a
//! single-use token; `GET /browser?token=…` checks the Origin allow-list (403) and
//! the token (401) before upgrading to the softphone WebSocket
//! (`carrier::browser::edge`).

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde::Deserialize;
use serde_json::json;

use crate::app::Services;
use crate::carrier::browser::edge::BrowserSocket;
use crate::carrier::browser::token::{TokenError, TOKEN_TTL};
use crate::carrier::browser::wire::MAX_AUDIO_BYTES;
use crate::http::admin::{check_admin, unauthorized};

/// Body of `POST /api/sessions` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Tenant to talk to; default = the routing default tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// `POST /api/sessions`: `{"sessionId":"BR…","token":"<64 hex>","expiresIn":60}`.
/// 401 without the admin token; 404 for an unknown tenant.
pub async fn create_session(
    req: HttpRequest,
    body: web::Bytes,
    services: web::Data<Services>,
) -> HttpResponse {
    if let Err(e) = check_admin(&req, &services) {
        return unauthorized(e);
    }
    let request: NewSession = if body.is_empty() {
        NewSession::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return HttpResponse::BadRequest().json(json!({"error": e.to_string()})),
        }
    };
    if let Some(id) = &request.tenant {
        if services.tenants.get(id).is_none() {
            return HttpResponse::NotFound().json(json!({"error": "no such tenant"}));
        }
    }
    let (session_id, token) = services.browser_tokens.issue(request.tenant);
    HttpResponse::Created().json(json!({
        "sessionId": session_id,
        "token": token,
        "expiresIn": TOKEN_TTL.as_secs(),
    }))
}

/// The `token` query parameter of `/browser`.
#[derive(Deserialize)]
pub struct BrowserQuery {
    pub token: Option<String>,
}

/// Whether `origin` may open `/browser`: listed in `browser.allowed_origins`, or the
/// server's own origin (`server.public_url`, or the request's scheme and Host).
fn origin_allowed(req: &HttpRequest, services: &Services, origin: &str) -> bool {
    if services
        .config
        .browser
        .allowed_origins
        .iter()
        .any(|o| o == origin)
    {
        return true;
    }
    let public = services.config.server.public_url.trim_end_matches('/');
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
    services: web::Data<Services>,
    query: web::Query<BrowserQuery>,
) -> actix_web::Result<HttpResponse> {
    let origin = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !origin_allowed(&req, &services, origin) {
        log::warn!("/browser: origin {origin:?} refused");
        return Ok(HttpResponse::Forbidden().json(json!({"error": "origin not allowed"})));
    }
    let redeemed = match query.token.as_deref().filter(|t| !t.is_empty()) {
        None => Err(TokenError::Missing),
        Some(token) => services.browser_tokens.redeem(token),
    };
    let session = match redeemed {
        Ok(s) => s,
        Err(e) => {
            log::warn!("/browser: {e}");
            return Ok(HttpResponse::Unauthorized().json(json!({"error": e.to_string()})));
        }
    };
    if services.is_draining() {
        return Ok(HttpResponse::ServiceUnavailable().json(json!({"error": "server is draining"})));
    }
    let tenant = match services
        .tenants
        .resolve(session.tenant_id.as_deref(), None, None)
    {
        Ok(t) => t,
        Err(e) => return Ok(HttpResponse::NotFound().json(json!({"error": e.to_string()}))),
    };
    if let Err(e) = tenant.check_direct_link(services.config.model.provider) {
        log::warn!("/browser: {e}");
        return Ok(HttpResponse::Conflict().json(json!({"error": e})));
    }
    let socket = BrowserSocket::new(services.into_inner(), session, tenant);
    ws::WsResponseBuilder::new(socket, &req, stream)
        .frame_size(MAX_AUDIO_BYTES)
        .start()
}
