//! `GET /supervisor`: the upgrade of a Node client onto the gateway
//! (`messaging::gateway`). With an `Authorization: Bearer` header the token is
//! checked first (401 when missing, unknown, revoked or expired; 503 when the
//! database cannot be asked); without one the client must send `auth` first.

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::http::error::ApiError;
use crate::messaging::env::MessagingEnv;
use crate::messaging::gateway::{verify, NodeSession};
use crate::messaging::tokens::AuthError;
use crate::rate_limits::RateLimits;

/// The Node client gateway's socket, `GET /supervisor`.
pub fn configure_gateway(routes: &mut Routes<'_>) {
    routes.get("/supervisor", Access::Public, connect);
}

/// `GET /supervisor`: authenticates the header token, if any, and upgrades
/// (frames up to `messaging.max_message_bytes`).
pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    env: web::Data<MessagingEnv>,
) -> Result<HttpResponse, ApiError> {
    let client = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let client = match token {
                None => Err(AuthError::Missing),
                Some(token) => verify(&env, token.to_owned()).await,
            }?;
            Some(client)
        }
    };
    let max = env.config.messaging.max_message_bytes;
    // In-band `auth` failures count against this address like a 401 does.
    let limiter = req
        .app_data::<web::Data<RateLimits>>()
        .cloned()
        .and_then(|limits| {
            let ip = limits.client_ip(req.head(), req.peer_addr())?;
            Some((limits, ip))
        });
    let session = NodeSession::new(env.into_inner(), client, limiter);
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(max)
        .start()
        .map_err(ApiError::upgrade)
}
