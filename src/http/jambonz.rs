//! `GET /jambonz`: the upgrade of jambonz's WebSocket API (subprotocol
//! `ws.jambonz.org`) onto the jambonz edge (`carrier::jambonz::edge`).

use crate::accounts::Access;
use crate::http::routes::Routes;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::carrier::env::CarrierEnv;
use crate::carrier::jambonz::edge::{basic_auth_matches, JambonzSocket, MAX_FRAME_BYTES};
use crate::carrier::jambonz::wire;
use crate::http::error::ApiError;

/// jambonz's WebSocket, `GET /jambonz`.
pub fn configure_jambonz(routes: &mut Routes<'_>) {
    routes.get("/jambonz", Access::Public, upgrade);
}

/// `GET /jambonz`: upgrades jambonz's WebSocket with the `ws.jambonz.org`
/// subprotocol selected. 403 while `/jambonz` is closed (a model key and no
/// jambonz credentials); 401 (before the upgrade, `WWW-Authenticate: Basic`)
/// when `jambonz.username` is set and the request lacks those Basic
/// credentials; 503 while draining; 400 when the client does not offer the
/// subprotocol.
pub async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    env: web::Data<CarrierEnv>,
) -> Result<HttpResponse, ApiError> {
    if env.config.jambonz_closed() {
        // Without credentials anyone reaching this port (a local process, an
        // SSRF, a same-host proxy) would be handed the provider key in the
        // `llm` verb: closed on every address.
        return Err(ApiError::Forbidden(
            "/jambonz is closed: set jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD".into(),
        ));
    }
    if let Some((user, password)) = env.config.jambonz_credentials() {
        if !basic_auth_matches(req.headers(), user, password) {
            return Err(ApiError::Unauthorized {
                message: "jambonz credentials required (HTTP Basic)".into(),
                challenge: Some("Basic realm=\"jambonz\""),
            });
        }
    }
    if env.is_draining() {
        return Err(ApiError::draining());
    }
    let offered = req
        .headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').any(|p| p.trim() == wire::SUBPROTOCOL))
        .unwrap_or(false);
    if !offered {
        return Err(ApiError::BadRequest(format!(
            "offer the {} subprotocol",
            wire::SUBPROTOCOL
        )));
    }
    ws::WsResponseBuilder::new(JambonzSocket::new(env.into_inner()), &req, stream)
        .protocols(&[wire::SUBPROTOCOL])
        .frame_size(MAX_FRAME_BYTES)
        .start()
        .map_err(ApiError::upgrade)
}
