//! A realtime model played from a fixture (tests/fixtures/realtime/*.replay):
//! a local WebSocket server that sends a provider's recorded (or field-exact)
//! server frames step by step as the test asks, and keeps every client event
//! switchboard sent, per connection, with the close code it closed with. It
//! also keeps every REST `POST` (OpenAI's SIP call controls), answered 200
//! unless the test says otherwise.
//! Nothing here interprets the protocol: the frames are the provider's, the
//! assertions are the test's.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use base64::Engine;
use serde_json::Value;
use switchboard::audio::format::{encode_pcm, AudioFormat};
use switchboard::audio::wav::read_wav;
use switchboard::far_end::TwilioCall;

/// µ-law bytes per 100 ms chunk of an `@audio` directive.
const CHUNK_BYTES: usize = 800;

/// One thing a step does.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A text frame, sent byte for byte.
    Text(String),
    /// Close the socket with this code and reason.
    Close(u16, String),
}

/// A parsed `.replay` file: named steps of frames.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    steps: HashMap<String, Vec<Frame>>,
}

impl Replay {
    /// Loads `tests/fixtures/realtime/NAME`, expanding `@audio` directives with
    /// the shipped clips (`assets/sim/CLIP`) as 8 kHz µ-law.
    pub fn load(name: &str) -> Replay {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("tests/fixtures/realtime").join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
        let mut steps: HashMap<String, Vec<Frame>> = HashMap::new();
        let mut current: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix("@step ") {
                current = Some(name.trim().to_string());
                steps.entry(name.trim().to_string()).or_default();
                continue;
            }
            let step = current
                .as_ref()
                .unwrap_or_else(|| panic!("{name}:{}: frame before any @step", n + 1));
            let frames = steps.get_mut(step).expect("step exists");
            if let Some(rest) = line.strip_prefix("@audio ") {
                let (clip, template) = rest.split_once(' ').expect("@audio CLIP TEMPLATE");
                let pcm = read_wav(&root.join("assets/sim").join(clip)).expect("clip wav");
                let mulaw = encode_pcm(AudioFormat::Pcmu, &pcm).expect("µ-law");
                for (i, chunk) in mulaw.chunks(CHUNK_BYTES).enumerate() {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(chunk);
                    frames.push(Frame::Text(
                        template
                            .replace("$AUDIO", &b64)
                            .replace("$N", &i.to_string()),
                    ));
                }
            } else if let Some(rest) = line.strip_prefix("@close ") {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                frames.push(Frame::Close(
                    code.parse().expect("close code"),
                    reason.into(),
                ));
            } else {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("{name}:{}: not JSON: {e}", n + 1));
                frames.push(Frame::Text(line.to_string()));
            }
        }
        Replay { steps }
    }

    fn step(&self, name: &str) -> Vec<Frame> {
        self.steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name:?} in the fixture"))
            .clone()
    }

    /// Milliseconds of audio the `@audio` frames of `step` carry.
    pub fn audio_ms(&self, step: &str) -> u32 {
        self.step(step)
            .iter()
            .filter_map(|f| match f {
                Frame::Text(t) if t.contains("response.output_audio.delta") => {
                    let v: Value = serde_json::from_str(t).ok()?;
                    let b64 = v["delta"].as_str()?;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
                    Some(bytes.len() as u32 / 8)
                }
                _ => None,
            })
            .sum()
    }
}

/// What the model saw of one connection.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Request path and query of the upgrade (`/v1/realtime?model=…`).
    pub path: String,
    /// Client events other than audio appends, in order.
    pub events: Vec<Value>,
    /// Audio appends received (`input_audio_buffer.append`, GPT-Live's
    /// `session.input_audio.append`).
    pub appends: usize,
    /// The first audio append, whole.
    pub first_append: Option<Value>,
    /// Close code the client sent, if it closed with a frame.
    pub close_code: Option<u16>,
}

/// A REST request the server received (OpenAI's call controls: accept,
/// reject, refer, hangup).
#[derive(Debug, Clone)]
pub struct RestCall {
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    /// The JSON body; `None` when there was none.
    pub body: Option<Value>,
}

#[derive(Default)]
struct Shared {
    connections: Vec<Connection>,
    sessions: Vec<Addr<ReplaySession>>,
    rest: Vec<RestCall>,
    /// (path suffix, status, JSON body) answers; anything else gets 200 with no body.
    rest_answers: Vec<(String, u16, Value)>,
}

/// The running replay server.
pub struct ReplayModel {
    port: u16,
    handle: ServerHandle,
    shared: Arc<Mutex<Shared>>,
    pub replay: Arc<Replay>,
}

impl ReplayModel {
    /// Serves `replay` on a loopback port; every new connection is sent the
    /// `connect` step.
    pub async fn start(replay: Replay) -> ReplayModel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let replay = Arc::new(replay);
        let state = web::Data::new((shared.clone(), replay.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/{tail:.*}", web::post().to(rest))
                .default_service(web::get().to(upgrade))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        ReplayModel {
            port,
            handle,
            shared,
            replay,
        }
    }

    /// `ws://127.0.0.1:PORT/v1/realtime`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/v1/realtime", self.port)
    }

    /// `http://127.0.0.1:PORT`: an `openai.api_base` for OpenAI SIP tests.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every REST request so far.
    pub fn rest_calls(&self) -> Vec<RestCall> {
        self.shared.lock().expect("lock").rest.clone()
    }

    /// Answers POSTs whose path ends with `suffix` with `status` and `body`.
    pub fn answer_rest(&self, suffix: &str, status: u16, body: Value) {
        self.shared
            .lock()
            .expect("lock")
            .rest_answers
            .push((suffix.to_string(), status, body));
    }

    /// Waits until a REST request whose path ends with `suffix` came; returns it.
    pub async fn wait_rest(&self, suffix: &str, timeout: Duration) -> RestCall {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(call) = self
                .rest_calls()
                .into_iter()
                .find(|c| c.path.ends_with(suffix))
            {
                return call;
            }
            assert!(
                Instant::now() < deadline,
                "no POST …{suffix} within {timeout:?}; got {:?}",
                self.rest_calls()
                    .iter()
                    .map(|c| c.path.clone())
                    .collect::<Vec<_>>()
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` WebSocket connections were made.
    pub async fn wait_connections(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.connections().len() < n {
            assert!(
                Instant::now() < deadline,
                "{} connections within {timeout:?}, not {n}",
                self.connections().len()
            );
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until connection `index` has received a client event matching
    /// `pred` (no call to keep alive: OpenAI SIP); returns it.
    pub async fn wait_sent(
        &self,
        index: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.sent(index, &pred, deadline, timeout) {
                return event;
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first client event of connection `index` matching `pred`; fails
    /// the test, naming what did come, once `deadline` has passed.
    fn sent(
        &self,
        index: usize,
        pred: &impl Fn(&Value) -> bool,
        deadline: Instant,
        timeout: Duration,
    ) -> Option<Value> {
        let found = self
            .connections()
            .get(index)
            .and_then(|c| c.events.iter().find(|e| pred(e)).cloned());
        assert!(
            found.is_some() || Instant::now() < deadline,
            "model connection {index}: no matching client event within {timeout:?}; got {:?}",
            self.connections().get(index).map(|c| c
                .events
                .iter()
                .map(|e| e["type"].clone())
                .collect::<Vec<_>>())
        );
        found
    }

    /// Sends `step` on the newest connection.
    pub fn play(&self, step: &str) {
        let frames = self.replay.step(step);
        let addr = self
            .shared
            .lock()
            .expect("lock")
            .sessions
            .last()
            .cloned()
            .expect("a model connection");
        addr.do_send(Play(frames));
    }

    /// Every connection so far.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.lock().expect("lock").connections.clone()
    }

    /// Keeps the call alive (100 ms of silence at a time) until connection
    /// `index` has received a client event matching `pred`; returns it.
    pub async fn wait_event(
        &self,
        call: &mut TwilioCall,
        index: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.sent(index, &pred, deadline, timeout) {
                return event;
            }
            let _ = call.send_silence(100).await;
        }
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn rest(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<(Arc<Mutex<Shared>>, Arc<Replay>)>,
) -> HttpResponse {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let call = RestCall {
        path: path.clone(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap_or(Value::Null)),
    };
    let mut shared = state.0.lock().expect("lock");
    shared.rest.push(call);
    match shared
        .rest_answers
        .iter()
        .find(|(suffix, _, _)| path.ends_with(suffix.as_str()))
    {
        Some((_, status, body)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).expect("status"))
                .json(body)
        }
        None => HttpResponse::Ok().finish(),
    }
}

async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<(Arc<Mutex<Shared>>, Arc<Replay>)>,
) -> Result<HttpResponse, actix_web::Error> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (shared, replay) = state.get_ref().clone();
    let index = {
        let mut s = shared.lock().expect("lock");
        s.connections.push(Connection {
            path,
            ..Connection::default()
        });
        s.connections.len() - 1
    };
    ws::WsResponseBuilder::new(
        ReplaySession {
            index,
            shared,
            replay,
        },
        &req,
        stream,
    )
    .frame_size(4 * 1024 * 1024)
    .start()
}

#[derive(Message)]
#[rtype(result = "()")]
struct Play(Vec<Frame>);

struct ReplaySession {
    index: usize,
    shared: Arc<Mutex<Shared>>,
    replay: Arc<Replay>,
}

impl ReplaySession {
    fn send(&self, frames: Vec<Frame>, ctx: &mut ws::WebsocketContext<Self>) {
        for frame in frames {
            match frame {
                Frame::Text(text) => ctx.text(text),
                Frame::Close(code, reason) => {
                    ctx.close(Some(ws::CloseReason {
                        code: ws::CloseCode::from(code),
                        description: Some(reason),
                    }));
                    ctx.stop();
                    return;
                }
            }
        }
    }
}

impl Actor for ReplaySession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.shared
            .lock()
            .expect("lock")
            .sessions
            .push(ctx.address());
        let connect = self.replay.step("connect");
        self.send(connect, ctx);
    }
}

impl Handler<Play> for ReplaySession {
    type Result = ();

    fn handle(&mut self, msg: Play, ctx: &mut Self::Context) {
        self.send(msg.0, ctx);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ReplaySession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let mut shared = self.shared.lock().expect("lock");
        let conn = &mut shared.connections[self.index];
        match msg {
            Ok(ws::Message::Text(text)) => {
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if value["type"] == "input_audio_buffer.append"
                    || value["type"] == "session.input_audio.append"
                {
                    conn.appends += 1;
                    if conn.first_append.is_none() {
                        conn.first_append = Some(value);
                    }
                } else {
                    conn.events.push(value);
                }
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                conn.close_code = reason.as_ref().map(|r| u16::from(r.code));
                ctx.close(reason);
                ctx.stop();
            }
            _ => {}
        }
    }
}
