//! The Node client gateway, `GET /supervisor` (WebSocket; the upgrade is in
//! `http::gateway`): one `NodeSession` actor per connection. It authenticates
//! the client (an `Authorization: Bearer` token on the upgrade, refused with
//! HTTP 401; or a first `auth` message within
//! `messaging.auth_timeout_secs`, else close 1008), turns `sms_received` /
//! `email_received` into typed messages for the [`MessageRouter`], answers
//! `ping`, relays `delivered` acknowledgements, and writes the responses the
//! router pushes. Keepalive: a client silent for `messaging.heartbeat_secs` is
//! pinged, one silent for `messaging.client_timeout_secs` is dropped. Frames over
//! `messaging.max_message_bytes` close with 1009; malformed or unknown messages
//! get an `error` and the connection stays up.
//!
//! Both forms of the protocol ([`protocol`]) are served on one socket, decided
//! per message. A request with `id` is acknowledged once stored and answered
//! later through the outbox. A request without `id` (the existing webhook
//! clients) gets exactly one event: the text model's reply as `send_sms_response`
//! / `send_email_response` if it comes within `messaging.sync_reply_ms`, else
//! `message_acknowledged` — those clients resolve a request on the first event of
//! its kind. An `auth` message without `id` is answered with `auth_result`, and
//! such a session is not sent outbox responses (it never acknowledges them) until
//! it sends a request with `id` itself.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix::ActorState;
use actix_web::web;
use actix_web_actors::ws;
use chrono::{DateTime, Utc};

use super::protocol::{self, ClientMessage, ErrorCode, RequestId, ServerMessage};
use super::router::{reply_subject, MessageRouter};
use super::router_messages::{
    Accepted, AnswerWritten, Channel, ClientConnected, ClientGone, EmailReceived, Origin,
    OutboxDelivered, PendingReply, PushResponses, SmsReceived,
};
use super::tokens::{self, AuthError, AuthorizedClient};
use super::MessagingError;
use crate::messaging::env::MessagingEnv;
use crate::rate_limits::RateLimits;
use crate::tenant::TenantConfig;

/// Distinguishes sessions in the router's registry.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Checks `token` on the blocking pool.
pub async fn verify(env: &MessagingEnv, token: String) -> Result<AuthorizedClient, AuthError> {
    let pool = env.pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
        tokens::verify(&mut conn, &token, Utc::now().naive_utc())
    })
    .await
    .unwrap_or(Err(AuthError::Unknown))
}

/// One Node client connection.
pub struct NodeSession {
    env: Arc<MessagingEnv>,
    router: Addr<MessageRouter>,
    session_id: u64,
    client: Option<AuthorizedClient>,
    /// An `auth` message is being checked.
    authenticating: bool,
    /// Registered with the router for outbox responses (the id form: header auth,
    /// `auth` with `id`, or a first request with `id`).
    registered: bool,
    last_rx: Instant,
    /// Outbox ids written to this client and not yet acknowledged.
    sent: HashSet<String>,
    /// The server's rate limits and this connection's client address.
    limiter: Option<(web::Data<RateLimits>, IpAddr)>,
}

impl NodeSession {
    /// A session for a connection from `limiter`'s address (its in-band
    /// `auth` failures count against it), already authenticated as `client`
    /// when the upgrade carried a valid token.
    pub fn new(
        env: Arc<MessagingEnv>,
        client: Option<AuthorizedClient>,
        limiter: Option<(web::Data<RateLimits>, IpAddr)>,
    ) -> Self {
        NodeSession {
            router: env.router.clone(),
            env,
            session_id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            client,
            authenticating: false,
            registered: false,
            last_rx: Instant::now(),
            sent: HashSet::new(),
            limiter,
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

    /// Announces the authenticated client: `authenticated` (header auth, or an
    /// `auth` with `id`; the session is then registered for outbox responses),
    /// or `auth_result` for an `auth` without `id` (the webhook form).
    fn authenticated(&mut self, form: AuthForm, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        log::info!(
            "/supervisor: client {} ({}) authenticated",
            client.name,
            client.id
        );
        let id = match form {
            AuthForm::Header => None,
            AuthForm::Message(None) => {
                return self.send(
                    ctx,
                    &ServerMessage::AuthResult {
                        id: None,
                        success: true,
                        message: format!("authenticated as {}", client.name),
                        client_id: Some(client.id.clone()),
                        tenants: Some(client.tenant_ids.clone()),
                    },
                );
            }
            AuthForm::Message(id) => id,
        };
        self.send(
            ctx,
            &ServerMessage::Authenticated {
                id,
                client_id: client.id.clone(),
                tenants: client.tenant_ids.clone(),
            },
        );
        self.register(ctx);
    }

    /// Registers this session with the router for its tenants' outbox responses
    /// (pending ones are pushed at once); once per session.
    fn register(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(client) = &self.client else { return };
        if self.registered {
            return;
        }
        self.registered = true;
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
        let tenants = &self.env.tenants;
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
                    let env = self.env.clone();
                    let fut = async move { verify(&env, token).await };
                    ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
                        act.authenticating = false;
                        match result {
                            Ok(client) => {
                                act.client = Some(client);
                                act.authenticated(AuthForm::Message(id), ctx);
                            }
                            Err(e) => {
                                log::warn!("/supervisor: auth refused: {e}");
                                if let Some((limits, ip)) = &act.limiter {
                                    if limits.failed_auth(*ip).is_err() {
                                        log::warn!(
                                            "{ip}: failed-authentication limit exceeded on /supervisor"
                                        );
                                    }
                                }
                                let message = refusal(&e);
                                act.send(
                                    ctx,
                                    &ServerMessage::AuthResult {
                                        id,
                                        success: false,
                                        message: message.clone(),
                                        client_id: None,
                                        tenants: None,
                                    },
                                );
                                act.close(ctx, ws::CloseCode::Policy, &message);
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
            } => {
                let tenant = match self.tenant_for(&client, tenant.as_deref(), &to) {
                    Ok(tenant) => tenant,
                    Err(e) => {
                        return self.send(
                            ctx,
                            &ServerMessage::error(id, ErrorCode::TenantNotAllowed, e),
                        )
                    }
                };
                let answer = AnswerTo {
                    channel: Channel::Sms,
                    tenant_id: tenant.id.clone(),
                    customer: from.clone(),
                    business: to.clone(),
                    subject: None,
                    user: user.clone(),
                };
                let request = SmsReceived {
                    origin: origin(&client, id.as_ref()),
                    tenant,
                    from,
                    to,
                    body: message,
                    provider_id: id.as_ref().map(|id| provider_id(&client, id)),
                    user,
                };
                let stored = self.router.send(request);
                self.respond(id, answer, stored, ctx);
            }
            ClientMessage::EmailReceived {
                id,
                from,
                to,
                subject,
                body,
                user,
                tenant,
            } => {
                let tenant = match self.tenant_for(&client, tenant.as_deref(), &to) {
                    Ok(tenant) => tenant,
                    Err(e) => {
                        return self.send(
                            ctx,
                            &ServerMessage::error(id, ErrorCode::TenantNotAllowed, e),
                        )
                    }
                };
                let (from_name, from) =
                    super::sendgrid::parse_mailbox(&from).unwrap_or((None, from.trim().to_owned()));
                let to = super::sendgrid::parse_mailbox(&to)
                    .map(|(_, a)| a)
                    .unwrap_or(to);
                let answer = AnswerTo {
                    channel: Channel::Email,
                    tenant_id: tenant.id.clone(),
                    customer: from.clone(),
                    business: to.clone(),
                    subject: Some(reply_subject(&subject)),
                    user: user.clone(),
                };
                let request = EmailReceived {
                    origin: origin(&client, id.as_ref()),
                    tenant,
                    from,
                    from_name,
                    to,
                    subject,
                    body,
                    provider_id: id.as_ref().map(|id| provider_id(&client, id)),
                    user,
                };
                let stored = self.router.send(request);
                self.respond(id, answer, stored, ctx);
            }
        }
    }

    /// Answers a request: with `id`, `message_acknowledged` once stored (the
    /// reply follows through the outbox); without, the one direct answer.
    fn respond<F>(
        &mut self,
        id: Option<RequestId>,
        answer: AnswerTo,
        stored: F,
        ctx: &mut ws::WebsocketContext<Self>,
    ) where
        F: std::future::Future<Output = Result<Result<Accepted, MessagingError>, MailboxError>>
            + 'static,
    {
        match id {
            Some(id) => {
                // A request with an id: this client speaks the id form and takes
                // outbox responses (acknowledging them with `delivered`).
                self.register(ctx);
                self.acknowledge(id, answer, stored, ctx);
            }
            None => self.answer_inline(answer, stored, ctx),
        }
    }

    /// A request without `id`: waits up to `messaging.sync_reply_ms` (from now)
    /// for the text model's reply and writes it as `send_sms_response` /
    /// `send_email_response`; otherwise (slower, failed, no text model)
    /// `message_acknowledged`. A reply written to the open socket is recorded as
    /// delivered; one that comes later is kept for a resend, never pushed.
    fn answer_inline<F>(
        &mut self,
        answer: AnswerTo,
        stored: F,
        ctx: &mut ws::WebsocketContext<Self>,
    ) where
        F: std::future::Future<Output = Result<Result<Accepted, MessagingError>, MailboxError>>
            + 'static,
    {
        let wait = Duration::from_millis(self.env.config.messaging.sync_reply_ms);
        let deadline = tokio::time::Instant::now() + wait;
        let fut = async move {
            let accepted = match stored.await {
                Ok(Ok(accepted)) => accepted,
                Ok(Err(e)) => return Err(InlineFailure::Store(e)),
                Err(e) => return Err(InlineFailure::RouterGone(e)),
            };
            let text = match accepted.reply {
                PendingReply::Ready(text) => text,
                PendingReply::Later(rx) => tokio::time::timeout_at(deadline, rx)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten(),
                PendingReply::Elsewhere => None,
            };
            Ok((accepted.message_id, accepted.received_at, text))
        };
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            let (message_id, received_at, text) = match result {
                Ok(stored) => stored,
                Err(InlineFailure::Store(e)) => {
                    log::error!(
                        "/supervisor: {} from {} not stored: {e}",
                        answer.channel.as_str(),
                        answer.customer
                    );
                    return act.send(
                        ctx,
                        &ServerMessage::error(
                            None,
                            ErrorCode::Internal,
                            "the message could not be stored; send it again",
                        ),
                    );
                }
                Err(InlineFailure::RouterGone(e)) => {
                    log::error!("/supervisor: router unavailable: {e}");
                    return act.send(
                        ctx,
                        &ServerMessage::error(
                            None,
                            ErrorCode::Internal,
                            "the server is shutting down; send it again",
                        ),
                    );
                }
            };
            if ctx.state() != ActorState::Running {
                log::info!(
                    "/supervisor: client left before the answer to {message_id}; kept for a resend"
                );
                return;
            }
            match text {
                Some(text) => {
                    let reply = answer.response(&message_id, text);
                    let payload = reply.to_json();
                    ctx.text(payload.clone());
                    act.router.do_send(AnswerWritten {
                        tenant_id: answer.tenant_id,
                        message_id,
                        payload,
                    });
                }
                None => act.send(ctx, &answer.acknowledgement(None, message_id, received_at)),
            }
        }));
    }

    /// Answers `id` with `message_acknowledged` once the router stored the message,
    /// or `error` `internal` when it could not.
    fn acknowledge<F>(
        &mut self,
        id: RequestId,
        answer: AnswerTo,
        fut: F,
        ctx: &mut ws::WebsocketContext<Self>,
    ) where
        F: std::future::Future<Output = Result<Result<Accepted, MessagingError>, MailboxError>>
            + 'static,
    {
        ctx.spawn(fut.into_actor(self).map(move |result, act, ctx| {
            let reply = match result {
                Ok(Ok(accepted)) => {
                    answer.acknowledgement(Some(id), accepted.message_id, accepted.received_at)
                }
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

/// How a session was authenticated.
#[derive(Debug, Clone, PartialEq)]
enum AuthForm {
    /// `Authorization: Bearer` on the upgrade.
    Header,
    /// An `auth` message, with its `id` if it had one.
    Message(Option<RequestId>),
}

/// What an answer to one client request is built from.
#[derive(Debug, Clone)]
struct AnswerTo {
    channel: Channel,
    tenant_id: String,
    /// The customer's number or address (the request's `from`, the answer's `to`).
    customer: String,
    /// The business's number or address (the request's `to`).
    business: String,
    /// Subject of an email answer.
    subject: Option<String>,
    /// The request's `user`, echoed.
    user: Option<String>,
}

impl AnswerTo {
    /// `message_acknowledged` for the stored message.
    fn acknowledgement(
        &self,
        id: Option<RequestId>,
        message_id: String,
        received_at: DateTime<Utc>,
    ) -> ServerMessage {
        ServerMessage::MessageAcknowledged {
            id,
            message_id,
            received_at,
            message_type: self.channel,
            user: self.user.clone(),
            timestamp: Utc::now(),
        }
    }

    /// The direct answer (no outbox id) with the reply `text`.
    fn response(&self, message_id: &str, text: String) -> ServerMessage {
        match self.channel {
            Channel::Sms => ServerMessage::SendSmsResponse {
                id: None,
                in_reply_to: None,
                message_id: message_id.to_owned(),
                tenant: self.tenant_id.clone(),
                to: self.customer.clone(),
                from: self.business.clone(),
                message: text.clone(),
                body: text,
                user: self.user.clone(),
            },
            Channel::Email => ServerMessage::SendEmailResponse {
                id: None,
                in_reply_to: None,
                message_id: message_id.to_owned(),
                tenant: self.tenant_id.clone(),
                to: self.customer.clone(),
                from: self.business.clone(),
                subject: self.subject.clone().unwrap_or_default(),
                body: text,
                user: self.user.clone(),
            },
        }
    }
}

/// Why a request without `id` got no answer.
enum InlineFailure {
    Store(MessagingError),
    RouterGone(MailboxError),
}

/// The reason given to a client whose `auth` was refused (no database detail).
fn refusal(e: &AuthError) -> String {
    match e {
        AuthError::Store(_) => "the token could not be checked; try again later".into(),
        other => other.to_string(),
    }
}

fn origin(client: &AuthorizedClient, id: Option<&RequestId>) -> Origin {
    Origin::NodeClient {
        client_id: client.id.clone(),
        request_id: id.map(|id| id.0.clone()),
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
        let m = &self.env.config.messaging;
        let heartbeat = Duration::from_secs(m.heartbeat_secs);
        let timeout = Duration::from_secs(m.client_timeout_secs);
        if self.client.is_some() {
            self.authenticated(AuthForm::Header, ctx);
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
