//! `switchboard sip-loadtest`: many concurrent OpenAI SIP calls against a
//! running switchboard, which carries no audio for them — so its CPU per
//! call-second can be set beside a relayed Media Streams call's
//! (`bench/run.sh sip`). This process plays OpenAI: it signs each call's
//! `live.transport.incoming` (or `realtime.call.incoming`) webhook with the
//! `standardwebhooks` crate and posts it, answers the call controls
//! (`…/accept`, `…/hangup`, 200) and serves each sideband, on which it sends
//! a caller line and a receptionist line every `--line-every` (none by
//! default, like the relayed load test's model, which sends no transcripts);
//! at the end it closes each session
//! (`session.closed` on GPT-Live; on Realtime the sideband closes and a
//! re-attach is answered 404, as when a SIP call ends).

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use actix_web_actors::ws;
use serde_json::json;

use super::procfs;

/// The number the calls dial unless told otherwise (the example tenant's).
pub const DEFAULT_TO: &str = "+15550100000";

/// Why the load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum SipLoadError {
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("the webhook secret is not whsec_ + base64: {0}")]
    Secret(String),
    #[error("the target process: {0}")]
    Proc(#[from] procfs::ProcError),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SipOptions {
    /// switchboard's `POST /openai/webhook` URL.
    pub webhook: String,
    /// The webhook signing secret switchboard was given (`whsec_…`).
    pub secret: String,
    /// Where this process serves OpenAI's REST and sideband
    /// (switchboard's `openai.api_base` must be `http://` + this).
    pub listen: String,
    pub calls: u32,
    /// How long each call lasts.
    pub duration: Duration,
    /// Calls are announced evenly over this time.
    pub ramp: Duration,
    /// GPT-Live (`live.transport.incoming`) or Realtime.
    pub live: bool,
    /// The number dialled (a tenant's `phone_numbers`).
    pub to: String,
    /// switchboard's PID, for CPU and RSS.
    pub target_pid: Option<u32>,
    /// How often each sideband carries a caller and a receptionist
    /// transcript line; zero: none.
    pub line_every: Duration,
}

/// The figures of one run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SipReport {
    pub calls: u32,
    /// Webhooks answered 200.
    pub webhooks_ok: u64,
    pub accepted: u64,
    pub attached: u64,
    pub hangups: u64,
    /// Client events switchboard sent on the sidebands (greetings, tool results).
    pub sideband_events: u64,
    /// switchboard's CPU per call-second over the steady window, ms.
    pub cpu_ms_per_call_second: Option<f64>,
    /// CPU ms and seconds of the steady window.
    pub window_cpu_ms: Option<f64>,
    pub window_secs: f64,
    /// switchboard's RSS per call at the end of the window, KiB.
    pub rss_kib_per_call: Option<f64>,
}

impl SipReport {
    /// The report as text lines.
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>, digits: usize| {
            v.map_or("n/a".to_string(), |v| format!("{v:.digits$}"))
        };
        format!(
            "calls / webhooks 200 / accepted / sidebands attached   {} / {} / {} / {}\n\
             sideband client events (greetings)                     {}\n\
             server CPU ms per call-second                          {} ({} ms in {:.1} s)\n\
             server RSS per call KiB                                {}\n",
            self.calls,
            self.webhooks_ok,
            self.accepted,
            self.attached,
            self.sideband_events,
            opt(self.cpu_ms_per_call_second, 3),
            opt(self.window_cpu_ms, 0),
            self.window_secs,
            opt(self.rss_kib_per_call, 1),
        )
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    attached: AtomicU64,
    hangups: AtomicU64,
    events: AtomicU64,
}

#[derive(Default)]
struct Shared {
    counters: Counters,
    sessions: Mutex<Vec<Addr<Sideband>>>,
    /// Calls whose session has ended: a re-attach is answered 404.
    ended: Mutex<HashSet<String>>,
}

/// Runs the load and reports.
///
/// # Errors
/// [`SipLoadError`] when the stand-in cannot listen, the secret is bad, or
/// the target process cannot be read.
pub async fn run(opts: &SipOptions) -> Result<SipReport, SipLoadError> {
    let webhook = standardwebhooks::Webhook::new(&opts.secret)
        .map_err(|e| SipLoadError::Secret(e.to_string()))?;
    let shared = Arc::new(Shared::default());
    let listener = TcpListener::bind(&opts.listen)
        .map_err(|e| SipLoadError::Listen(opts.listen.clone(), e))?;
    let state = web::Data::new((shared.clone(), opts.live, opts.line_every));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/{tail:.*}", web::post().to(control))
            .default_service(web::get().to(attach))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| SipLoadError::Listen(opts.listen.clone(), e))?
    .run();
    let handle = server.handle();
    actix_rt::spawn(server);

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let ok = Arc::new(AtomicU64::new(0));
    let gap = opts.ramp / opts.calls.max(1);
    let started = Instant::now();
    for i in 0..opts.calls {
        let id = if opts.live {
            format!("live_lt_{i}")
        } else {
            format!("rtc_lt_{i}")
        };
        let (kind, data) = if opts.live {
            (
                "live.transport.incoming",
                json!({"type": "sip", "session_id": id, "sip_headers": headers(&opts.to, i)}),
            )
        } else {
            (
                "realtime.call.incoming",
                json!({"call_id": id, "sip_headers": headers(&opts.to, i)}),
            )
        };
        let now = chrono::Utc::now().timestamp();
        let body = json!({"object": "event", "id": format!("evt_lt_{i}"), "type": kind,
                          "created_at": now, "data": data})
        .to_string();
        let msg_id = format!("msg_lt_{i}_{now}");
        let signature = webhook
            .sign(&msg_id, now, body.as_bytes())
            .map_err(|e| SipLoadError::Secret(e.to_string()))?;
        let request = client
            .post(&opts.webhook)
            .insert_header(("webhook-id", msg_id))
            .insert_header(("webhook-timestamp", now.to_string()))
            .insert_header(("webhook-signature", signature))
            .insert_header(("content-type", "application/json"));
        let ok = ok.clone();
        actix_rt::spawn(async move {
            if let Ok(resp) = request.send_body(body).await {
                if resp.status().is_success() {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let next = started + gap * (i + 1);
        actix_rt::time::sleep_until(next.into()).await;
    }
    // Steady: every call announced, attached a moment ago.
    let steady_from = Instant::now() + Duration::from_secs(2);
    actix_rt::time::sleep_until(steady_from.into()).await;
    let before = opts.target_pid.map(procfs::sample).transpose()?;
    let steady_to = started + opts.ramp + opts.duration;
    actix_rt::time::sleep_until(steady_to.max(steady_from + Duration::from_secs(1)).into()).await;
    let after = opts.target_pid.map(procfs::sample).transpose()?;
    let window = steady_from.elapsed().as_secs_f64();

    // The end: each session closes.
    let sessions: Vec<_> = shared
        .sessions
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    for session in sessions {
        session.do_send(End);
    }
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    handle.stop(true).await;

    let c = &shared.counters;
    let calls = f64::from(opts.calls.max(1));
    let cpu = before.zip(after).map(|(b, a)| a.cpu_ms - b.cpu_ms);
    Ok(SipReport {
        calls: opts.calls,
        webhooks_ok: ok.load(Ordering::Relaxed),
        accepted: c.accepted.load(Ordering::Relaxed),
        attached: c.attached.load(Ordering::Relaxed),
        hangups: c.hangups.load(Ordering::Relaxed),
        sideband_events: c.events.load(Ordering::Relaxed),
        cpu_ms_per_call_second: cpu.map(|ms| ms / (calls * window)),
        window_cpu_ms: cpu,
        window_secs: window,
        rss_kib_per_call: after.map(|a| a.rss_kib as f64 / calls),
    })
}

fn headers(to: &str, i: u32) -> serde_json::Value {
    json!([
        {"name": "From", "value": format!("<sip:+1415555{:04}@pstn.example.com>;tag={i}", i % 10_000)},
        {"name": "To", "value": format!("<sip:{to}@sip.api.openai.com>")},
        {"name": "Call-ID", "value": format!("lt-{i}@203.0.113.7")}
    ])
}

type State = web::Data<(Arc<Shared>, bool, Duration)>;

/// OpenAI's call controls: every one answered 200.
async fn control(req: HttpRequest, state: State) -> HttpResponse {
    let counters = &state.0.counters;
    if req.path().ends_with("/accept") {
        counters.accepted.fetch_add(1, Ordering::Relaxed);
    } else if req.path().ends_with("/hangup") {
        counters.hangups.fetch_add(1, Ordering::Relaxed);
    }
    HttpResponse::Ok().finish()
}

/// A sideband attach; 404 once the call's session has ended.
async fn attach(
    req: HttpRequest,
    stream: web::Payload,
    state: State,
) -> Result<HttpResponse, actix_web::Error> {
    let id = req
        .query_string()
        .strip_prefix("call_id=")
        .map(str::to_string)
        .or_else(|| req.path().split('/').nth(4).map(str::to_string))
        .unwrap_or_default();
    let ended = state
        .0
        .ended
        .lock()
        .map(|e| e.contains(&id))
        .unwrap_or(true);
    if ended {
        return Ok(HttpResponse::NotFound().finish());
    }
    state.0.counters.attached.fetch_add(1, Ordering::Relaxed);
    ws::start(
        Sideband {
            id,
            live: state.1,
            line_every: state.2,
            shared: state.0.clone(),
            line: 0,
        },
        &req,
        stream,
    )
}

#[derive(Message)]
#[rtype(result = "()")]
struct End;

/// One call's sideband, played by this process.
struct Sideband {
    id: String,
    live: bool,
    line_every: Duration,
    shared: Arc<Shared>,
    line: u64,
}

impl Sideband {
    /// The next caller and receptionist lines, in the surface's events.
    fn lines(&mut self) -> [String; 2] {
        self.line += 1;
        let n = self.line;
        let ms = n * self.line_every.as_millis() as u64;
        if self.live {
            [
                json!({"type": "session.input_transcript.delta", "event_id": format!("ev_u{n}"),
                       "delta": "I would like to book a cleaning next week.",
                       "start_ms": ms, "end_ms": ms + 800})
                .to_string(),
                json!({"type": "session.output_transcript.delta", "event_id": format!("ev_a{n}"),
                       "delta": "Of course, which day suits you best?",
                       "start_ms": ms + 1000, "end_ms": ms + 1800})
                .to_string(),
            ]
        } else {
            [
                json!({"type": "conversation.item.input_audio_transcription.completed",
                       "event_id": format!("ev_u{n}"), "item_id": format!("item_u{n}"),
                       "content_index": 0, "transcript": "I would like to book a cleaning next week."})
                .to_string(),
                json!({"type": "response.output_audio_transcript.done",
                       "event_id": format!("ev_a{n}"), "response_id": format!("resp_{n}"),
                       "item_id": format!("item_a{n}"), "output_index": 0, "content_index": 0,
                       "transcript": "Of course, which day suits you best?"})
                .to_string(),
            ]
        }
    }
}

impl Actor for Sideband {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Ok(mut sessions) = self.shared.sessions.lock() {
            sessions.push(ctx.address());
        }
        if !self.line_every.is_zero() {
            ctx.run_interval(self.line_every, |act, ctx| {
                for line in act.lines() {
                    ctx.text(line);
                }
            });
        }
    }
}

impl Handler<End> for Sideband {
    type Result = ();

    fn handle(&mut self, _: End, ctx: &mut Self::Context) {
        if let Ok(mut ended) = self.shared.ended.lock() {
            ended.insert(self.id.clone());
        }
        if self.live {
            ctx.text(
                json!({"type": "session.closed", "event_id": "ev_closed", "reason": "close_requested"})
                    .to_string(),
            );
        }
        ctx.close(Some(ws::CloseCode::Normal.into()));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Sideband {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(_)) => {
                self.shared.counters.events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            _ => {}
        }
    }
}
