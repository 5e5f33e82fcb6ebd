//! `GET /logs` (WebSocket, admin token): the live feed of [`CallEvent`]s — call
//! start/end, transcripts, tool calls, link restarts — as JSON text frames,
//! optionally filtered by `?call_sid=`.

use std::sync::Arc;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::events::CallEvent;
use crate::http::auth::{check_admin, Admin};
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The live event feed `/logs` and its tickets.
pub fn configure_logs(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs))
        .route("/api/logs/ticket", web::post().to(ticket));
}

/// Query parameters of `/logs`.
#[derive(Deserialize)]
pub struct LogsQuery {
    /// Only events of this carrier call id.
    pub call_sid: Option<String>,
    /// A single-use ticket from `POST /api/logs/ticket` (browsers cannot set
    /// headers on a WebSocket); the admin token is never taken from a URL.
    pub ticket: Option<String>,
}

/// `POST /api/logs/ticket` (admin token in the header): a single-use ticket
/// for `/logs?ticket=…`, valid 60 s. `{"ticket": "<64 hex>", "expires_in_secs": 60}`.
pub async fn ticket(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({
        "ticket": state.log_tickets.issue(),
        "expires_in_secs": crate::http::tickets::TICKET_TTL.as_secs(),
    }))
}

/// `GET /logs`: upgrades to the event feed after the admin check — the
/// `Authorization: Bearer` header, or a ticket (401 before upgrade).
pub async fn logs(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<LogsQuery>,
) -> Result<HttpResponse, ApiError> {
    let ticketed = query
        .ticket
        .as_deref()
        .is_some_and(|t| state.log_tickets.redeem(t));
    if !ticketed {
        check_admin(&req, &state)?;
    }
    let feed = LogFeedSession {
        state: state.into_inner(),
        call_sid: query.into_inner().call_sid,
    };
    ws::start(feed, &req, stream).map_err(ApiError::upgrade)
}

struct LogFeedSession {
    state: Arc<AppState>,
    call_sid: Option<String>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Forward(CallEvent);

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

    fn handle(&mut self, Forward(event): Forward, ctx: &mut Self::Context) {
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
