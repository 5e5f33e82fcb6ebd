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
use crate::http::auth::Admin;
use crate::http::state::AppState;

/// Query parameters of `/logs`.
#[derive(Deserialize)]
pub struct LogsQuery {
    /// Only events of this carrier call id.
    pub call_sid: Option<String>,
}

/// `GET /logs`: upgrades to the event feed after the admin check (401 before upgrade).
pub async fn logs(
    _: Admin,
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<LogsQuery>,
) -> actix_web::Result<HttpResponse> {
    let feed = LogFeedSession {
        state: state.into_inner(),
        call_sid: query.into_inner().call_sid,
    };
    ws::start(feed, &req, stream)
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
