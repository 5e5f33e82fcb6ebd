//! The floor relay: the cheapest relay one can build on switchboard's own
//! WebSocket stack (actix-web-actors in, `awc` out). Each carrier connection
//! gets one model connection; text frames are forwarded both ways verbatim —
//! no parsing, no validation, no pacing, no actors besides the socket's own.
//! `switchboard loadtest --floor` runs the same traffic through it (as
//! `switchboard floor-relay`, a separate process) so switchboard's cost can be
//! reported as a ratio to this floor.

use std::net::{SocketAddr, TcpListener};

use actix::io::{SinkWrite, WriteHandler};
use actix::prelude::*;
use actix_codec::Framed;
use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use awc::error::WsProtocolError;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use bytestring::ByteString;
use futures_util::stream::{SplitSink, StreamExt as _};

/// First line `switchboard floor-relay` prints on stdout, followed by the bound address.
pub const READY_PREFIX: &str = "floor relay listening on ";

/// Largest frame either side may send, bytes.
const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The relay's upstream.
#[derive(Debug, Clone)]
struct Upstream {
    url: String,
}

/// Builds the floor relay on `bind`: `GET /media-stream` (any path) upgrades
/// and is relayed to `model_url`. Returns the server (to be awaited or
/// spawned) and the bound address.
///
/// # Errors
/// The listener cannot be bound.
pub fn server(
    bind: &str,
    model_url: &str,
    workers: usize,
) -> std::io::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(bind)?;
    let addr = listener.local_addr()?;
    let upstream = web::Data::new(Upstream {
        url: model_url.to_string(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(upstream.clone())
            .default_service(web::get().to(upgrade))
    })
    .workers(workers.max(1))
    .backlog(4096)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok((server, addr))
}

async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    upstream: web::Data<Upstream>,
) -> HttpResponse {
    let relay = FloorRelay {
        url: upstream.url.clone(),
        model: None,
    };
    match ws::WsResponseBuilder::new(relay, &req, stream)
        .frame_size(MAX_FRAME_BYTES)
        .start()
    {
        Ok(resp) => resp,
        Err(e) => HttpResponse::from_error(e),
    }
}

thread_local! {
    /// One client per worker thread, as switchboard's model link does.
    static CLIENT: std::cell::RefCell<Option<awc::Client>> = const { std::cell::RefCell::new(None) };
}

fn thread_client() -> awc::Client {
    CLIENT.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                awc::Client::builder()
                    .connector(awc::Connector::new().limit(0))
                    .max_http_version(awc::http::Version::HTTP_11)
                    .finish()
            })
            .clone()
    })
}

type WsSink = SplitSink<Framed<BoxedSocket, Codec>, Message>;

/// One carrier connection and its model connection.
struct FloorRelay {
    url: String,
    model: Option<SinkWrite<Message, WsSink>>,
}

impl Actor for FloorRelay {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let url = self.url.clone();
        let client = thread_client();
        let connect = async move {
            client
                .ws(url.as_str())
                .max_frame_size(MAX_FRAME_BYTES)
                .connect()
                .await
        };
        // Carrier frames wait in the socket until the model is connected.
        ctx.wait(connect.into_actor(self).map(|res, act, ctx| match res {
            Ok((_, framed)) => {
                let (sink, stream) = framed.split();
                act.model = Some(SinkWrite::new(sink, ctx));
                ctx.add_stream(stream);
            }
            Err(e) => {
                log::warn!("floor relay: model connect failed: {e}");
                ctx.close(Some(ws::CloseCode::Error.into()));
                ctx.stop();
            }
        }));
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for FloorRelay {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) => {
                if let Some(model) = &mut self.model {
                    let _ = model.write(Message::Text(text));
                }
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                if let Some(model) = &mut self.model {
                    let _ = model.write(Message::Close(reason.clone()));
                    model.close();
                }
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<Result<Frame, WsProtocolError>> for FloorRelay {
    fn handle(&mut self, item: Result<Frame, WsProtocolError>, ctx: &mut Self::Context) {
        match item {
            Ok(Frame::Text(bytes)) => {
                if let Ok(text) = ByteString::try_from(bytes) {
                    ctx.text(text);
                }
            }
            Ok(Frame::Ping(p)) => {
                if let Some(model) = &mut self.model {
                    let _ = model.write(Message::Pong(p));
                }
            }
            Ok(Frame::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl WriteHandler<WsProtocolError> for FloorRelay {
    fn error(&mut self, _: WsProtocolError, ctx: &mut Self::Context) -> Running {
        ctx.stop();
        Running::Stop
    }
}
