//! The admin token: every `/api/…` route, `/logs` and the dashboard's data
//! take `Authorization: Bearer <server.admin_token>`, never a token in a URL
//! (`/logs` also takes a single-use ticket, `http::tickets`). Handlers ask for it with the [`Admin`]
//! extractor, which answers 401 before the handler runs or reads a body.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Why an admin request was refused (answered 401 as [`ApiError::Unauthorized`]).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No `Authorization: Bearer` header.
    #[error("missing admin token")]
    Missing,
    /// Another token, or none configured.
    #[error("wrong admin token")]
    Wrong,
}

/// Checks `Authorization: Bearer <token>` against `server.admin_token`, in
/// constant time. Without a configured token every admin request is refused.
pub fn check_admin(req: &HttpRequest, state: &AppState) -> Result<(), AdminError> {
    let expected = state
        .config
        .server
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or(AdminError::Wrong)?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    // Never from the query string: a URL lands in proxy access logs
    // (`/logs` takes a single-use ticket instead, see `http::tickets`).
    let given = header.ok_or(AdminError::Missing)?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(AdminError::Wrong)
    }
}

/// A refused admin request: 401 with `WWW-Authenticate: Bearer`.
impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        ApiError::Unauthorized {
            message: e.to_string(),
            challenge: Some("Bearer"),
        }
    }
}

/// A request that carries the admin token. As a handler's first parameter it
/// refuses every other request with 401 (`WWW-Authenticate: Bearer`,
/// `{"error":"missing admin token"|"wrong admin token"}`), so an unauthenticated caller learns nothing from the handler's
/// own validation.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verdict = match req.app_data::<web::Data<AppState>>() {
            Some(state) => check_admin(req, state).map(|()| Admin),
            // No state, no token to compare with: refused like a wrong token.
            None => Err(AdminError::Wrong),
        };
        ready(verdict.map_err(ApiError::from))
    }
}
