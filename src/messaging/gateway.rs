//! The Node client gateway, `GET /supervisor` (WebSocket): one `NodeSession`
//! actor per connection. It authenticates the client (an `Authorization: Bearer`
//! token on the upgrade, refused with HTTP 401; or a first `auth` message within
//! `messaging.auth_timeout_secs`, else close 1008), turns `sms_received` /
//! `email_received` into typed messages for the [`MessageRouter`], answers
//! `ping`, relays `delivered` acknowledgements, and writes the responses the
//! router pushes. Keepalive: a client silent for `messaging.heartbeat_secs` is
//! pinged, one silent for `messaging.client_timeout_secs` is dropped. Frames over
//! `messaging.max_message_bytes` close with 1009; malformed or unknown messages
//! get an `error` and the connection stays up.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use chrono::Utc;
use serde_json::json;

use super::messages::{
    ClientConnected, ClientGone, EmailReceived, Origin, OutboxDelivered, PushResponses, SmsReceived,
};
use super::protocol::{self, ClientMessage, ErrorCode, RequestId, ServerMessage};
use super::router::MessageRouter;
use super::tokens::{self, AuthError, AuthorizedClient};
use crate::app::Services;
use crate::tenant::TenantConfig;

/// Distinguishes sessions in the router's registry.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Checks `token` on the blocking pool.
async fn verify(services: &Services, token: String) -> Result<AuthorizedClient, AuthError> {
    let pool = services.pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
        tokens::verify(&mut conn, &token, Utc::now().naive_utc())
    })
    .await
    .unwrap_or(Err(AuthError::Unknown))
}

/// `GET /supervisor`: upgrades a Node client. With an `Authorization` header the
/// token is checked first (401 JSON `{"error":…}` when missing, unknown, revoked
/// or expired); without one the client must send `auth` first.
pub async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    services: web::Data<Services>,
) -> actix_web::Result<HttpResponse> {
    let client = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let result = match token {
                None => Err(AuthError::Missing),
                Some(token) => verify(&services, token.to_owned()).await,
            };
            match result {
                Ok(client) => Some(client),
                Err(e) => {
                    log::warn!("/supervisor: refused: {e}");
                    return Ok(HttpResponse::Unauthorized()
                        .insert_header(("WWW-Authenticate", "Bearer"))
                        .json(json!({"error": e.to_string()})));
                }
            }
        }
    };
    let max = services.config.messaging.max_message_bytes;
    let session = NodeSession::new(services.into_inner(), client);
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(max)
        .start()
}

/// One Node client connection.
pub struct NodeSession {
    services: Arc<Services>,
    router: Addr<MessageRouter>,
    session_id: u64,
    client: Option<AuthorizedClient>,
    /// An `auth` message is being checked.
    authenticating: bool,
    last_rx: Instant,
    /// Outbox ids written to this client and not yet acknowledged.
    sent: HashSet<String>,
}

impl NodeSession {
    fn new(services: Arc<Services>, client: Option<AuthorizedClient>) -> Self {
        NodeSession {
            router: services.messaging.clone(),
            services,
            session_id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            client,
            authenticating: false,
            last_rx: Instant::now(),
            sent: HashSet::new(),
        }
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, msg: &ServerMessage) {
        ctx.text(msg.to_json());
    }

    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, reason: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.chars().take(120).collect()),
        }));
        ctx.stop();
    }

    /// Announces the authenticated client and registers it for responses.
    fn authenticated(&mut self, id: Option<RequestId>, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(client) = &self.client else { return };
        log::info!(
            "/supervisor: client {} ({}) authenticated",
            client.name,
            client.id
        );
        self.send(
            ctx,
            &ServerMessage::Authenticated {
                id,
                client_id: client.id.clone(),
                tenants: client.tenant_ids.clone(),
            },
        );
        self.router.do_send(ClientConnected {
            session_id: self.session_id,
            client_id: client.id.clone(),
            tenant_ids: client.tenant_ids.clone(),
            recipient: ctx.address().recipient(),
        });
    }

    /// The tenant a client message is for: the named one (if the client serves
    /// it), the client's only tenant, or the client's tenant owning `to`.
    fn tenant_for(
        &self,
        client: &AuthorizedClient,
        requested: Option<&str>,
        to: &str,
    ) -> Result<Arc<TenantConfig>, String> {
        let tenants = &self.services.tenants;
        let id = match requested {
            Some(id) if client.tenant_ids.iter().any(|t| t == id) => id.to_owned(),
            Some(id) => return Err(format!("this client may not send for tenant {id:?}")),
            None if client.tenant_ids.len() == 1 => client.tenant_ids[0].clone(),
            None => client
                .tenant_ids
                .iter()
                .find(|t| {
                    tenants
                        .get(t)
                        .is_some_and(|c| c.phone_numbers.iter().any(|n| n == to))
                })
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "{to:?} belongs to none of this client's tenants; name one in \"tenant\""
                    )
                })?,
        };
        tenants
            .get(&id)
            .ok_or_else(|| format!("tenant {id:?} is not configured on this server"))
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let parsed = protocol::parse(text);
        let Some(client) = self.client.clone() else {
            match parsed {
                Ok(ClientMessage::Auth { id, token }) if !self.authenticating => {
                    self.authenticating = true;
                    let services = self.services.clone();
                    let fut = async move { verify(&services, token).await };
                    ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
                        act.authenticating = false;
                        match result {
                            Ok(client) => {
                                act.client = Some(client);
                                act.authenticated(id, ctx);
                            }
                            Err(e) => {
                                log::warn!("/supervisor: auth refused: {e}");
                                act.close(ctx, ws::CloseCode::Policy, &e.to_string());
                            }
                        }
                    }));
                }
                Ok(ClientMessage::Auth { .. }) => {}
                _ => self.close(
                    ctx,
                    ws::CloseCode::Policy,
                    "authenticate first: {\"type\":\"auth\",\"token\":…}",
                ),
            }
            return;
        };
        let msg = match parsed {
            Ok(msg) => msg,
            Err(e) => {
                log::debug!("/supervisor: client {}: {e}", client.id);
                return self.send(ctx, &ServerMessage::from(e));
            }
        };
        match msg {
            ClientMessage::Auth { id, .. } => self.send(
                ctx,
                &ServerMessage::error(
                    id,
                    ErrorCode::AlreadyAuthenticated,
                    "this connection is already authenticated",
                ),
            ),
            ClientMessage::Ping { id } => self.send(ctx, &ServerMessage::Pong { id }),
            ClientMessage::Delivered { id } => {
                if self.sent.remove(&id.0) {
                    self.router.do_send(OutboxDelivered {
                        id: id.0,
                        tenant_ids: client.tenant_ids.clone(),
                    });
                } else {
                    let message =
                        format!("no response {id} is awaiting delivery on this connection");
                    self.send(
                        ctx,
                        &ServerMessage::error(Some(id), ErrorCode::UnknownDelivery, message),
                    );
                }
            }
            ClientMessage::SmsReceived {
                id,
                from,
                to,
                message,
                user,
                tenant,
            } => match self.tenant_for(&client, tenant.as_deref(), &to) {
                Err(e) => self.send(
                    ctx,
                    &ServerMessage::error(Some(id), ErrorCode::TenantNotAllowed, e),
                ),
                Ok(tenant) => {
                    let request = SmsReceived {
                        origin: origin(&client, &id),
                        tenant,
                        from,
                        to,
                        body: message,
                        provider_id: Some(provider_id(&client, &id)),
                        user,
                    };
                    self.acknowledge(id, self.router.send(request), ctx);
                }
            },
            ClientMessage::EmailReceived {
                id,
                from,
                to,
                subject,
                body,
                user,
                tenant,
            } => match self.tenant_for(&client, tenant.as_deref(), &to) {
                Err(e) => self.send(
                    ctx,
                    &ServerMessage::error(Some(id), ErrorCode::TenantNotAllowed, e),
                ),
                Ok(tenant) => {
                    let (from_name, from) = super::sendgrid::parse_mailbox(&from)
                        .unwrap_or((None, from.trim().to_owned()));
                    let to = super::sendgrid::parse_mailbox(&to)
                        .map(|(_, a)| a)
                        .unwrap_or(to);
                    let request = EmailReceived {
                        origin: origin(&client, &id),
                        tenant,
                        from,
                        from_name,
                        to,
                        subject,
                        body,
                        provider_id: Some(provider_id(&client, &id)),
                        user,
                    };
                    self.acknowledge(id, self.router.send(request), ctx);
                }
            },
        }
    }

    /// Answers `id` with `message_acknowledged` once the router stored the message,
    /// or `error` `internal` when it could not.
    fn acknowledge<F>(&mut self, id: RequestId, fut: F, ctx: &mut ws::WebsocketContext<Self>)
    where
        F: std::future::Future<
                Output = Result<
                    Result<super::messages::Accepted, super::MessagingError>,
                    MailboxError,
                >,
            > + 'static,
    {
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            let reply = match result {
                Ok(Ok(accepted)) => ServerMessage::MessageAcknowledged {
                    id,
                    message_id: accepted.message_id,
                    received_at: accepted.received_at,
                },
                Ok(Err(e)) => {
                    log::error!("/supervisor: message {id} not stored: {e}");
                    ServerMessage::error(
                        Some(id),
                        ErrorCode::Internal,
                        "the message could not be stored; retry with the same id",
                    )
                }
                Err(e) => {
                    log::error!("/supervisor: message {id}: router unavailable: {e}");
                    ServerMessage::error(
                        Some(id),
                        ErrorCode::Internal,
                        "the server is shutting down; retry with the same id",
                    )
                }
            };
            act.send(ctx, &reply);
        }));
    }
}

fn origin(client: &AuthorizedClient, id: &RequestId) -> Origin {
    Origin::NodeClient {
        client_id: client.id.clone(),
        request_id: id.0.clone(),
    }
}

/// The provider id of a client message: a resend of the same `id` by the same
/// client is recognised and not stored twice.
fn provider_id(client: &AuthorizedClient, id: &RequestId) -> String {
    format!("node:{}:{}", client.id, id.0)
}

impl Actor for NodeSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let m = &self.services.config.messaging;
        let heartbeat = Duration::from_secs(m.heartbeat_secs);
        let timeout = Duration::from_secs(m.client_timeout_secs);
        if self.client.is_some() {
            self.authenticated(None, ctx);
        } else {
            ctx.run_later(Duration::from_secs(m.auth_timeout_secs), |act, ctx| {
                if act.client.is_none() {
                    log::warn!("/supervisor: no auth message in time; closing");
                    act.close(ctx, ws::CloseCode::Policy, "authentication timeout");
                }
            });
        }
        let check = heartbeat
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(250));
        ctx.run_interval(check, move |act, ctx| {
            let idle = act.last_rx.elapsed();
            if idle > timeout {
                log::warn!(
                    "/supervisor: client silent for {} s; dropping",
                    idle.as_secs()
                );
                act.close(ctx, ws::CloseCode::Away, "keepalive timeout");
            } else if idle >= heartbeat {
                ctx.ping(b"sb");
            }
        });
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if self.client.is_some() {
            self.router.do_send(ClientGone {
                session_id: self.session_id,
            });
        }
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for NodeSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_rx = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => {
                if self.client.is_none() {
                    return self.close(ctx, ws::CloseCode::Policy, "authenticate first");
                }
                self.send(
                    ctx,
                    &ServerMessage::error(
                        None,
                        ErrorCode::BinaryNotSupported,
                        "send JSON text frames",
                    ),
                );
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                let code = match e {
                    ws::ProtocolError::Overflow => ws::CloseCode::Size,
                    _ => ws::CloseCode::Protocol,
                };
                log::warn!("/supervisor: protocol error: {e}");
                self.close(ctx, code, &e.to_string());
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<PushResponses> for NodeSession {
    type Result = ();

    fn handle(&mut self, msg: PushResponses, ctx: &mut Self::Context) {
        for item in msg.0 {
            if self.sent.insert(item.id) {
                ctx.text(item.payload);
            }
        }
    }
}
