//! The jambonz WebSocket edge (`GET /jambonz`, subprotocol `ws.jambonz.org`;
//! the upgrade and its HTTP Basic check are in `http::jambonz`): parses jambonz frames
//! ([`super::wire`]), routes `session:new` to a tenant and starts a [`JambonzCall`]
//! (or turns the call away with a short `say` + `hangup` when jambonz could not run
//! the tenant's model), forwards every later message to it as a typed
//! [`JambonzEvent`], and writes what the call sends back. It only ever sends `ack`
//! and `command`: a frame it cannot use is logged with the call id and dropped
//! (jambonz raises an INVALID_APP_PAYLOAD alert for any other message type,
//! feature-server 0.9.8 `lib/utils/ws-requestor.js`). Thin on purpose: the call's
//! state lives in the call actor.

use std::sync::Arc;

use actix::prelude::*;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web_actors::ws;
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::call_tree::call::ledger::{CallIdentity, CallLedger};
use crate::call_tree::call::route::{route_call, RouteKeys};
use crate::call_tree::supervisor::StartCall;
use crate::carrier::env::CarrierEnv;
use crate::carrier::jambonz::call::{JambonzCall, JambonzCallSetup, JambonzEvent, JambonzOut};
use crate::carrier::jambonz::llm::{self, Refusal};
use crate::carrier::jambonz::wire::{self, Inbound, Outbound, SessionInfo};
use crate::lifecycle::{Carrier, Refused};
use crate::tenant::TenantConfig;

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
    env: Arc<CarrierEnv>,
    state: State,
    bad_frames: u32,
    conn_id: String,
    /// jambonz's `call_sid`, once a session message named it (for log lines).
    call_sid: Option<String>,
}

impl JambonzSocket {
    /// A socket waiting for `session:new` or `session:reconnect`.
    pub fn new(env: Arc<CarrierEnv>) -> Self {
        JambonzSocket {
            env,
            state: State::AwaitingSession,
            bad_frames: 0,
            conn_id: uuid::Uuid::new_v4().to_string(),
            call_sid: None,
        }
    }

    fn send(ctx: &mut ws::WebsocketContext<Self>, out: &Outbound) {
        ctx.text(out.to_json());
    }

    /// Who a log line is about: jambonz's call sid, else the connection.
    fn who(&self) -> String {
        match &self.call_sid {
            Some(sid) => format!("call {sid}"),
            None => format!("conn {}", self.conn_id),
        }
    }

    /// A frame we cannot use: logged with the call id and dropped (no reply; jambonz
    /// accepts only `ack` and `command`). Too many close the socket (1008).
    fn bad_frame(&mut self, ctx: &mut ws::WebsocketContext<Self>, detail: &str) {
        self.bad_frames += 1;
        self.env.metrics.carrier_bad_frames.inc();
        if self.bad_frames.is_power_of_two() {
            log::warn!(
                "jambonz {}: dropped frame #{}: {detail}",
                self.who(),
                self.bad_frames
            );
        }
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

    /// Turns a call away before it starts: `say` + `hangup` in the ack, a
    /// `refused` call row with the reason (through a [`CallLedger`], as every
    /// call's row), and a log line with the fix.
    fn refuse(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        msgid: &str,
        info: &SessionInfo,
        tenant: Arc<TenantConfig>,
        refusal: &Refusal,
    ) {
        let reason = refusal.reason();
        self.env
            .metrics
            .calls_refused
            .with_label_values(&[reason.metric_label()])
            .inc();
        let provider = tenant.provider.unwrap_or(self.env.config.model.provider);
        let mut ledger = CallLedger::new(
            CallIdentity {
                call_id: uuid::Uuid::new_v4().to_string(),
                carrier: Carrier::Jambonz,
                call_sid: Some(info.call_sid.clone()),
                stream_sid: None,
                from: info.from.clone(),
                to: info.to.clone(),
                model_provider: format!("jambonz-{}", provider.as_str()),
                tenant,
            },
            &self.env.calls,
            None,
        );
        ledger.refuse(&Refused {
            refusal: reason,
            detail: refusal.to_string(),
        });
        Self::send(
            ctx,
            &Outbound::ack(
                msgid,
                Some(wire::say_and_hangup(
                    "Sorry, we cannot take your call right now. Please call again later.",
                )),
            ),
        );
        self.state = State::Ended;
    }

    fn start_call(
        &mut self,
        msgid: String,
        info: SessionInfo,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        self.call_sid = Some(info.call_sid.clone());
        let routed = route_call(
            &self.env.tenants,
            &self.env.metrics,
            &format!("jambonz call {}", info.call_sid),
            RouteKeys {
                tenant: None,
                dialled: info.to.as_deref(),
                account_sid: info.account_sid.as_deref(),
            },
            None,
        );
        let tenant = match routed {
            Ok(t) => t,
            Err(_) => {
                Self::send(
                    ctx,
                    &Outbound::ack(
                        &msgid,
                        Some(wire::say_and_hangup(
                            "Sorry, this number is not in service. Goodbye.",
                        )),
                    ),
                );
                self.state = State::Ended;
                return;
            }
        };
        let plan = match llm::plan(&self.env.config, &tenant) {
            Ok(plan) => plan,
            Err(refusal) => {
                self.refuse(ctx, &msgid, &info, tenant, &refusal);
                return;
            }
        };
        let setup = JambonzCallSetup {
            call_id: uuid::Uuid::new_v4().to_string(),
            info,
            tenant,
            plan,
            msgid,
            edge: ctx.address().recipient(),
            registry: self.env.jambonz_calls.clone(),
        };
        let (start_call, call) = StartCall::<JambonzCall>::new(setup.call_id.clone(), setup);
        self.env.supervisor.do_send(start_call);
        self.state = State::Bound(call);
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let message = match wire::parse_inbound(text) {
            Ok(m) => m,
            Err(e) => {
                self.bad_frame(ctx, &e.to_string());
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
                self.call_sid = Some(info.call_sid.clone());
                match self.env.jambonz_calls.get(&info.call_sid) {
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
            // A session message repeated on a bound socket: the call acks it with
            // its current verbs, like a reconnect.
            (
                Inbound::SessionNew { msgid, .. } | Inbound::SessionReconnect { msgid, .. },
                Some(call),
            ) => call.do_send(JambonzEvent::Reattach {
                msgid,
                edge: ctx.address().recipient(),
            }),
            (Inbound::VerbHook { msgid, hook, data }, Some(call)) => {
                call.do_send(JambonzEvent::VerbHook { msgid, hook, data })
            }
            (Inbound::DialConfirm { msgid, .. }, Some(call)) => {
                call.do_send(JambonzEvent::DialConfirm { msgid })
            }
            (Inbound::CallStatus(status), Some(call)) => call.do_send(JambonzEvent::Status(status)),
            (Inbound::LlmEvent { data }, Some(call)) => call.do_send(JambonzEvent::LlmEvent(data)),
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
                log::warn!("jambonz {}: jambonz:error {data}", self.who());
            }
            (Inbound::Other { kind, msgid }, _) => {
                log::debug!("jambonz {}: {kind} ignored", self.who());
                if let Some(msgid) = msgid {
                    Self::send(ctx, &Outbound::ack(&msgid, None));
                }
            }
            // Anything that needs an ack before a session exists is acked empty.
            (Inbound::VerbHook { msgid, .. } | Inbound::DialConfirm { msgid, .. }, None) => {
                Self::send(ctx, &Outbound::ack(&msgid, None));
            }
            (Inbound::LlmEvent { .. }, None) => {}
            (Inbound::CallStatus(_) | Inbound::LlmToolCall { .. }, None) => {
                self.bad_frame(ctx, "message before session:new");
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
                self.bad_frame(ctx, "binary frame (jambonz sends JSON text)")
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                self.detach();
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("jambonz {}: protocol error: {e}", self.who());
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

/// Whether `headers` carry `Authorization: Basic base64(user:password)` for exactly
/// these credentials, as jambonz sends them (feature-server 0.9.8
/// `ws-requestor.js` passes `auth: user:pass` to the `ws` client). Constant-time
/// over the decoded credentials.
pub fn basic_auth_matches(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{user}:{password}");
    bool::from(expected.as_bytes().ct_eq(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn basic_auth_accepts_only_the_configured_pair() {
        // base64("jambonz:s3cret") as the `ws` client writes it for auth "jambonz:s3cret".
        assert!(basic_auth_matches(
            &headers("Basic amFtYm9uejpzM2NyZXQ="),
            "jambonz",
            "s3cret"
        ));
        assert!(basic_auth_matches(
            &headers("basic amFtYm9uejpzM2NyZXQ="),
            "jambonz",
            "s3cret"
        ));
        assert!(!basic_auth_matches(
            &headers("Basic amFtYm9uejpzM2NyZXQ="),
            "jambonz",
            "s3cre"
        ));
        assert!(!basic_auth_matches(
            &headers("Bearer amFtYm9uejpzM2NyZXQ="),
            "jambonz",
            "s3cret"
        ));
        assert!(!basic_auth_matches(
            &headers("Basic !!!"),
            "jambonz",
            "s3cret"
        ));
        assert!(!basic_auth_matches(&HeaderMap::new(), "jambonz", "s3cret"));
    }
}
