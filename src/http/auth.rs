//! Who is asking, and may they: every route declares an [`Access`] level
//! (`http::routes`), and [`authorize`] — the middleware each non-public route
//! is wrapped in — finds the request's [`Principal`] before the handler runs
//! or a body is read:
//!
//! - `Authorization: Bearer <server.admin_token>` (constant-time): admin;
//! - `Authorization: Bearer sbt_…`: an integration token of one tenant;
//! - the `sb_session` cookie from `POST /api/login`: a signed-in person;
//! - on a WebSocket upgrade only, `?ticket=` from `POST /api/logs/ticket`.
//!
//! None: 401. A principal below the route's level: 403. A request that
//! changes state (not GET/HEAD, or a WebSocket upgrade) on a cookie must
//! carry an `Origin` of this server (`server.public_url`, or the request's
//! own host): a page of another origin — even another port of the same host,
//! where a `SameSite=Strict` cookie still goes — is refused 403. Handlers
//! take the principal as their [`Principal`] parameter and scope what they
//! read and change by it.

use std::future::{ready, Ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage as _, HttpRequest};
use chrono::Utc;
use subtle::ConstantTimeEq;

use crate::accounts::{tokens, users, Access, Principal};
use crate::http::db::query;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::rate_limits::RateLimits;

/// The dashboard's session cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
/// when `server.public_url` is https).
pub const SESSION_COOKIE: &str = "sb_session";

/// Why a request has no principal (answered 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No bearer token, session cookie or ticket.
    #[error("missing credentials: sign in, or send Authorization: Bearer <token>")]
    Missing,
    /// A bearer token no one holds (or a revoked one).
    #[error("wrong token")]
    WrongToken,
    /// A session cookie that is unknown, expired or signed out.
    #[error("session expired or signed out; sign in again")]
    SessionEnded,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthorized {
            message: e.to_string(),
            challenge: Some("Bearer"),
        }
    }
}

/// Whether `given` is the configured admin token (constant time; none
/// configured: never).
fn is_admin_token(given: &str, state: &AppState) -> bool {
    state
        .config
        .server
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .is_some_and(|expected| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The `ticket` query parameter, if any.
fn ticket(req: &HttpRequest) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("ticket").cloned())
}

/// The principal of `req`: bearer token, session cookie, or (upgrades only) ticket.
///
/// Errors: 401 for an [`AuthError`] (never a query-string token other than a
/// ticket); 503 when the tokens or sessions cannot be read.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let given = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::from(AuthError::WrongToken))?;
        if is_admin_token(given, state) {
            return Ok(Principal::admin_token());
        }
        if !given.starts_with(tokens::TOKEN_PREFIX) {
            return Err(AuthError::WrongToken.into());
        }
        let given = given.to_string();
        let found = query(state, move |conn| {
            tokens::authenticate(conn, &given, Utc::now().naive_utc())
        })
        .await?;
        return found
            .map(|row| Principal::token(&row))
            .ok_or(AuthError::WrongToken.into());
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let value = cookie.value().to_string();
        let user = query(state, move |conn| {
            users::session_user(conn, &value, Utc::now().naive_utc())
        })
        .await?;
        return user
            .and_then(|row| Principal::user(&row, true))
            .ok_or(AuthError::SessionEnded.into());
    }
    if is_websocket_upgrade(req) {
        if let Some(principal) = ticket(req).and_then(|t| state.log_tickets.redeem(&t)) {
            return Ok(principal);
        }
    }
    Err(AuthError::Missing.into())
}

/// Whether `req` changes state as a browser sees it: any method but
/// GET/HEAD/OPTIONS, and every WebSocket upgrade.
fn changes_state(req: &HttpRequest) -> bool {
    !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || is_websocket_upgrade(req)
}

/// Whether `req`'s `Origin` is this server: the origin of
/// `server.public_url`, or `http(s)://<Host>` of the request itself. No
/// `Origin` (or `null`) is not ours.
pub fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let public = url::Url::parse(&state.config.server.public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    if public.as_deref() == Some(origin) {
        return true;
    }
    let host = req.connection_info().host().to_string();
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The middleware of every route declared with `access` (see
/// `http::routes`): 401 without a principal, 403 below `access` or from
/// another origin, else the handler with the [`Principal`] in the request.
pub async fn authorize<B: MessageBody + 'static>(
    access: Access,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if access == Access::Public {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let refused = ApiError::Internal("no application state".into());
        return Ok(req.error_response(refused));
    };
    let principal = match authenticate(req.request(), &state).await {
        Ok(p) => p,
        Err(e) => return Ok(req.error_response(e)),
    };
    if !principal.may(access) {
        let refused = ApiError::Forbidden(format!(
            "{} may not do this: it needs {}",
            principal.name(),
            match access {
                Access::Handle => "a person or a token that is not read-only",
                _ => "an owner, an admin or a token that is not read-only",
            }
        ));
        return Ok(req.error_response(refused));
    }
    if principal.by_cookie && changes_state(req.request()) && !same_origin(req.request(), &state) {
        log::warn!(
            "{} {}: refused a cookie request from another origin ({:?})",
            req.method(),
            req.path(),
            req.headers().get(header::ORIGIN)
        );
        let refused = ApiError::Forbidden("cross-origin request refused".into());
        return Ok(req.error_response(refused));
    }
    req.extensions_mut().insert(principal);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The authenticated caller, as a handler's parameter: set by [`authorize`].
/// On a route declared [`Access::Public`] there is none (401).
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .ok_or_else(|| ApiError::from(AuthError::Missing)),
        )
    }
}

/// The client's address as the audit log records it (the trusted-proxy walk
/// of `crate::rate_limits`), or the TCP peer.
pub fn client_address(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr();
    req.app_data::<web::Data<RateLimits>>()
        .and_then(|l| l.client_addr(req.head(), peer))
        .or_else(|| peer.map(|p| p.ip()))
        .map(|ip| ip.to_string())
}
