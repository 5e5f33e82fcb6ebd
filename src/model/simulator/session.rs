//! The actix WebSocket actor behind each `GET /sim/v1/realtime` socket: it
//! hands every text frame to its [`Conversation`] (the pure engine in
//! [`super::engine`]), writes the server events the engine returns, runs the
//! pacing interval the engine asks for, records client events when the
//! simulator records, and registers with the simulator for the test hooks.

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Handler, Message, SpawnHandle,
    StreamHandler, WrapFuture,
};
use actix_web_actors::ws;
use serde_json::Value;

use super::engine::{Conversation, Effect};
use super::Inner;

/// Asks a session to drop its socket without a close frame (test hook).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kill;

/// The per-socket actor.
pub struct SimSession {
    inner: Arc<Inner>,
    id: u64,
    conversation: Conversation,
    /// The pacing interval while a reply streams.
    ticker: Option<SpawnHandle>,
    /// Effects of the current step, reused so a step does not allocate a list.
    effects: Vec<Effect>,
    /// How late a `response.create` is acted on (a provider's time to first audio).
    first_audio_delay: Duration,
}

/// Just the `type` of a client event.
#[derive(serde::Deserialize)]
struct EventType<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

impl SimSession {
    pub(crate) fn new(inner: Arc<Inner>, id: u64, first_audio_delay: Duration) -> Self {
        let conversation = Conversation::new(inner.assets.clone(), id);
        SimSession {
            inner,
            id,
            conversation,
            ticker: None,
            effects: Vec::new(),
            first_audio_delay,
        }
    }

    /// Runs one engine step and carries out its effects in order.
    fn step(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        run: impl FnOnce(&mut Conversation, &mut Vec<Effect>),
    ) {
        let mut effects = std::mem::take(&mut self.effects);
        run(&mut self.conversation, &mut effects);
        for effect in effects.drain(..) {
            match effect {
                Effect::Send(text) => ctx.text(text),
                Effect::StartTicking(period) => {
                    if let Some(old) = self.ticker.take() {
                        ctx.cancel_future(old);
                    }
                    self.ticker = Some(ctx.run_interval(period, |act, ctx| {
                        act.step(ctx, Conversation::tick);
                    }));
                }
                Effect::StopTicking => {
                    if let Some(ticker) = self.ticker.take() {
                        ctx.cancel_future(ticker);
                    }
                }
            }
        }
        self.effects = effects;
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if self.inner.recording() {
            let recorded =
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
            self.inner.record(self.id, recorded);
        }
        if !self.first_audio_delay.is_zero()
            && serde_json::from_str::<EventType<'_>>(text)
                .is_ok_and(|e| e.kind == "response.create")
        {
            // The session pauses (later frames wait, in order) like a model
            // thinking before its first audio.
            let text = text.to_owned();
            ctx.wait(
                actix_rt::time::sleep(self.first_audio_delay)
                    .into_actor(self)
                    .map(move |_, act, ctx| {
                        act.step(ctx, |conversation, out| {
                            conversation.client_text(&text, out)
                        });
                    }),
            );
            return;
        }
        self.step(ctx, |conversation, out| conversation.client_text(text, out));
    }
}

impl Actor for SimSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.inner.register(self.id, ctx.address());
        self.step(ctx, Conversation::opened);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.inner.deregister(self.id);
    }
}

impl Handler<Kill> for SimSession {
    type Result = ();

    fn handle(&mut self, _msg: Kill, ctx: &mut Self::Context) {
        // Stopping without `ctx.close()` ends the stream with no close frame.
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for SimSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.step(ctx, Conversation::binary_frame),
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Pong(_) | ws::Message::Continuation(_) | ws::Message::Nop) => {}
            Err(e) => {
                log::warn!("simulator session {}: protocol error: {e}", self.id);
                ctx.stop();
            }
        }
    }
}
