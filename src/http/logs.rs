//! `GET /logs` (WebSocket): the live feed of [`CallEvent`](crate::events::CallEvent)s — call
//! start/end, transcripts, tool calls, link restarts — as JSON text frames,
//! of the calls of the caller's tenant only (an admin: every tenant's),
//! optionally filtered by `?call_sid=`.

use crate::accounts::Access;
use crate::http::routes::Routes;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::accounts::{Principal, Scope};
use crate::events::TenantEvent;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The live event feed `/logs` and its tickets.
pub fn configure_logs(routes: &mut Routes<'_>) {
    routes.get("/logs", Access::Read, logs);
    routes.post("/api/logs/ticket", Access::Read, ticket);
}

/// Query parameters of `/logs` (besides `ticket`, a single-use ticket from
/// `POST /api/logs/ticket` that `http::auth` reads; a token is never taken
/// from a URL).
#[derive(Deserialize)]
pub struct LogsQuery {
    /// Only events of this carrier call id.
    pub call_sid: Option<String>,
}

/// `POST /api/logs/ticket` (credentials in the header): a single-use ticket
/// for `/logs?ticket=…`, valid 60 s, with the asker's scope.
/// `{"ticket": "<64 hex>", "expires_in_secs": 60}`.
pub async fn ticket(principal: Principal, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({
        "ticket": state.log_tickets.issue(principal),
        "expires_in_secs": crate::http::tickets::TICKET_TTL.as_secs(),
    }))
}

/// `GET /logs`: upgrades to the event feed once `http::auth` has found the
/// caller — bearer token, session cookie (same origin), or ticket (401/403
/// before the upgrade).
pub async fn logs(
    principal: Principal,
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let feed = LogFeedSession {
        state: state.into_inner(),
        call_sid: query.into_inner().call_sid,
        scope: principal.scope,
    };
    ws::start(feed, &req, stream).map_err(ApiError::upgrade)
}

struct LogFeedSession {
    state: Arc<AppState>,
    call_sid: Option<String>,
    /// Whose calls' events this listener may see.
    scope: Scope,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Forward(TenantEvent);

impl Actor for LogFeedSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let rx = self.state.carrier.events.subscribe();
        let events = futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some((Forward(event), rx)),
                    Err(RecvError::Lagged(n)) => {
                        log::warn!("/logs listener lagged; {n} events skipped");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        ctx.add_message_stream(events);
    }
}

impl Handler<Forward> for LogFeedSession {
    type Result = ();

    fn handle(&mut self, Forward(tenant_event): Forward, ctx: &mut Self::Context) {
        if !self.scope.allows(Some(&tenant_event.tenant)) {
            return;
        }
        let event = tenant_event.event;
        if let Some(sid) = &self.call_sid {
            if event.call_sid() != Some(sid.as_str()) {
                return;
            }
        }
        if let Ok(text) = serde_json::to_string(&event) {
            ctx.text(text);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for LogFeedSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }
}
