//! The jambonz WebSocket edge (`GET /jambonz`, subprotocol `ws.jambonz.org`): parses
//! jambonz frames ([`super::wire`]), routes `session:new` to a tenant and starts a
//! [`JambonzCall`], forwards every later message to it as a typed [`JambonzEvent`],
//! and writes what the call sends back. Acks what jambonz waits for that the call
//! does not answer itself. Thin on purpose: the call's state lives in the call actor.

use std::sync::Arc;

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use serde_json::json;

use crate::app::Services;
use crate::carrier::jambonz::call::{JambonzCall, JambonzCallSetup, JambonzEvent, JambonzOut};
use crate::carrier::jambonz::wire::{self, Inbound, Outbound, SessionInfo, Verb};

/// Largest inbound frame, bytes (`session:new` carries SIP headers and body).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Invalid frames tolerated before the socket is closed (1008).
const MAX_BAD_FRAMES: u32 = 50;

enum State {
    AwaitingSession,
    Bound(Addr<JambonzCall>),
    Ended,
}

/// One jambonz WebSocket connection (one per call; a reconnect opens a new one).
pub struct JambonzSocket {
    services: Arc<Services>,
    state: State,
    bad_frames: u32,
    conn_id: String,
}

impl JambonzSocket {
    /// A socket waiting for `session:new` or `session:reconnect`.
    pub fn new(services: Arc<Services>) -> Self {
        JambonzSocket {
            services,
            state: State::AwaitingSession,
            bad_frames: 0,
            conn_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    fn send(ctx: &mut ws::WebsocketContext<Self>, out: &Outbound) {
        ctx.text(out.to_json());
    }

    fn bad_frame(&mut self, ctx: &mut ws::WebsocketContext<Self>, detail: &str, content: &str) {
        self.bad_frames += 1;
        self.services.metrics.carrier_bad_frames.inc();
        if self.bad_frames.is_power_of_two() {
            log::warn!(
                "jambonz conn {}: bad frame #{}: {detail}",
                self.conn_id,
                self.bad_frames
            );
        }
        Self::send(ctx, &Outbound::invalid_message(detail, content));
        if self.bad_frames > MAX_BAD_FRAMES {
            self.detach();
            ctx.close(Some(ws::CloseReason {
                code: ws::CloseCode::Policy,
                description: Some("too many invalid messages".into()),
            }));
            ctx.stop();
        }
    }

    fn detach(&mut self) {
        if let State::Bound(call) = std::mem::replace(&mut self.state, State::Ended) {
            call.do_send(JambonzEvent::Detached);
        }
    }

    fn start_call(
        &mut self,
        msgid: String,
        info: SessionInfo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let tenant = match self.services.tenants.resolve(
            None,
            info.to.as_deref(),
            info.account_sid.as_deref(),
        ) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("jambonz call {} refused: {e}", info.call_sid);
                self.services
                    .metrics
                    .calls_refused
                    .with_label_values(&["routing"])
                    .inc();
                Self::send(
                    ctx,
                    &Outbound::ack(
                        &msgid,
                        Some(vec![
                            Verb::Say {
                                text: "Sorry, this number is not in service. Goodbye.".into(),
                            },
                            Verb::Hangup {},
                        ]),
                    ),
                );
                self.state = State::Ended;
                return;
            }
        };
        let setup = JambonzCallSetup {
            call_id: uuid::Uuid::new_v4().to_string(),
            info,
            tenant,
            msgid,
            edge: ctx.address().recipient(),
        };
        let call = JambonzCall::new(setup, self.services.clone()).start();
        self.state = State::Bound(call);
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let message = match wire::parse_inbound(text) {
            Ok(m) => m,
            Err(e) => {
                self.bad_frame(ctx, &e.to_string(), text);
                return;
            }
        };
        let call = match &self.state {
            State::Bound(call) => Some(call.clone()),
            _ => None,
        };
        match (message, call) {
            (Inbound::SessionNew { msgid, info }, None) => self.start_call(msgid, info, ctx),
            (Inbound::SessionReconnect { msgid, info }, None) => {
                match self.services.jambonz_calls.get(&info.call_sid) {
                    Some(call) => {
                        call.do_send(JambonzEvent::Reattach {
                            msgid,
                            edge: ctx.address().recipient(),
                        });
                        self.state = State::Bound(call);
                    }
                    // Unknown (e.g. we restarted): serve it as a new call.
                    None => self.start_call(msgid, info, ctx),
                }
            }
            (
                Inbound::SessionNew { msgid, .. } | Inbound::SessionReconnect { msgid, .. },
                Some(_),
            ) => {
                log::warn!("jambonz conn {}: second session message", self.conn_id);
                Self::send(ctx, &Outbound::ack(&msgid, None));
            }
            (Inbound::VerbHook { msgid, hook, data }, Some(call)) => {
                call.do_send(JambonzEvent::VerbHook { msgid, hook, data })
            }
            (Inbound::DialConfirm { msgid, .. }, Some(call)) => {
                call.do_send(JambonzEvent::DialConfirm { msgid })
            }
            (Inbound::CallStatus(status), Some(call)) => call.do_send(JambonzEvent::Status(status)),
            (
                Inbound::LlmEvent {
                    transcript: Some(t),
                    ..
                },
                Some(call),
            ) => call.do_send(JambonzEvent::Transcript(t)),
            (Inbound::LlmEvent { event_type, .. }, _) => {
                if event_type == "error" {
                    log::warn!("jambonz conn {}: model error event", self.conn_id);
                }
            }
            (
                Inbound::LlmToolCall {
                    tool_call_id,
                    name,
                    args,
                },
                Some(call),
            ) => call.do_send(JambonzEvent::ToolCall {
                tool_call_id,
                name,
                args,
            }),
            (Inbound::Error { data }, _) => {
                log::warn!("jambonz conn {}: jambonz:error {data}", self.conn_id);
            }
            (Inbound::Other { kind, msgid }, _) => {
                log::debug!("jambonz conn {}: {kind} ignored", self.conn_id);
                if let Some(msgid) = msgid {
                    Self::send(ctx, &Outbound::ack(&msgid, None));
                }
            }
            // Anything that needs an ack before a session exists is acked empty.
            (Inbound::VerbHook { msgid, .. } | Inbound::DialConfirm { msgid, .. }, None) => {
                Self::send(ctx, &Outbound::ack(&msgid, None));
            }
            (Inbound::CallStatus(_) | Inbound::LlmToolCall { .. }, None) => {
                self.bad_frame(ctx, "message before session:new", text);
            }
        }
    }
}

impl Actor for JambonzSocket {
    type Context = ws::WebsocketContext<Self>;

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.detach();
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for JambonzSocket {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => {
                self.bad_frame(ctx, "binary frame (jambonz sends JSON text)", "")
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                self.detach();
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("jambonz conn {}: protocol error: {e}", self.conn_id);
                self.detach();
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                ctx.close(Some(ws::CloseReason {
                    code,
                    description: Some(e.to_string()),
                }));
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.detach();
        ctx.stop();
    }
}

impl Handler<JambonzOut> for JambonzSocket {
    type Result = ();

    fn handle(&mut self, out: JambonzOut, ctx: &mut Self::Context) {
        match out {
            JambonzOut::Send(message) => Self::send(ctx, &message),
            JambonzOut::Close { code, reason } => {
                self.state = State::Ended;
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::from(code),
                    description: Some(reason),
                }));
                ctx.stop();
            }
        }
    }
}

/// `GET /jambonz`: upgrades jambonz's WebSocket with the `ws.jambonz.org`
/// subprotocol selected. 400 when the client does not offer it; 503 while draining.
pub async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    services: web::Data<Services>,
) -> actix_web::Result<HttpResponse> {
    if services.is_draining() {
        return Ok(HttpResponse::ServiceUnavailable().json(json!({"error": "server is draining"})));
    }
    let offered = req
        .headers()
        .get(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').any(|p| p.trim() == wire::SUBPROTOCOL))
        .unwrap_or(false);
    if !offered {
        return Ok(HttpResponse::BadRequest()
            .json(json!({"error": format!("offer the {} subprotocol", wire::SUBPROTOCOL)})));
    }
    ws::WsResponseBuilder::new(JambonzSocket::new(services.into_inner()), &req, stream)
        .protocols(&[wire::SUBPROTOCOL])
        .frame_size(MAX_FRAME_BYTES)
        .start()
}
