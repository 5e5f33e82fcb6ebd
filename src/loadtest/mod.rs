//! `switchboard loadtest`: many concurrent Twilio Media Streams calls against a
//! relay, measuring what the relay adds to every audio frame.
//!
//! How the time inside the relay is measured: the load generator hosts both
//! ends. Its callers ([`caller`]) dial the relay's `/media-stream`; the relay's
//! model link dials the generator's [`model::StampingModel`] (switchboard
//! started with `SWITCHBOARD_MODEL__URL` pointing at it). Every 20 ms µ-law
//! frame carries a [`stamp::Stamp`] (call, sequence number, send time in µs on
//! the generator's monotonic clock) in its first 24 bytes; the relay passes
//! µ-law through untouched, so the far end reads the stamp back and records
//! `receive time − send time` per direction, and checks the sequence for lost,
//! duplicated or reordered frames. The figure therefore includes the loopback
//! TCP hops on both sides; the floor run ([`floor`]) includes exactly the same
//! hops, which is why switchboard is reported as a ratio to it.
//!
//! Work is spread over several generator threads (one actix system each); per
//! frame a caller does one 24-byte base64 encode, one `write!` of the JSON head
//! into a reused buffer, and a `Vec::push` of its latency sample.
//!
//! Greeting latency (pre-warm at the voice webhook): with
//! [`Options::webhook`] each caller rings first — posts Twilio's voice webhook,
//! waits the webhook → stream gap, opens the stream the TwiML names — and with a
//! greeting stamping model ([`model::ModelOptions`], optionally with a
//! provider's connect and first-audio delays) each caller listens in silence
//! until the greeting has played, timing stream `start` → first greeting frame
//! and counting the greeting's frames. The steady window (CPU per call-second)
//! starts after every call's gap and greeting, so both pre-warm on and off are
//! measured over the same speech + silence traffic.

pub mod caller;
pub mod clock;
pub mod floor;
pub mod model;
pub mod procfs;
pub mod report;
pub mod sip;
pub mod stamp;
pub mod stats;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

use caller::{Outcome, Plan, Progress, Webhook};
use model::StampingModel;
use procfs::ProcSample;
use report::{Direction, Greeting, Report, RunReport, ServerFigures};
use stamp::FrameTails;
use stats::{LatencySummary, SharedHistogram};

/// One frame, ms.
const FRAME_MS: u64 = 20;
/// The steady window starts this long after the last call was dialled.
const STEADY_AFTER_RAMP: Duration = Duration::from_secs(1);
/// How long to wait for the relay to close the model sockets after the calls end.
const MODEL_CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Progress line refresh.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error("invalid options: {0}")]
    Options(String),
    #[error("floor relay: {0}")]
    Floor(String),
    #[error("generator thread: {0}")]
    Thread(String),
}

/// How many 20 ms frames each caller sends, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frames {
    /// All of them: `listen` + whole speech + silence cycles.
    total: u64,
    /// Silent at the start, hearing the greeting.
    listen: u64,
    /// Speech at the start of each cycle.
    speech: u64,
    /// Silence after it.
    silence: u64,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ws://HOST:PORT/media-stream` of switchboard: one URL, or one per node
    /// of a cluster (call `i` dials `urls[i % len]`).
    pub urls: Vec<String>,
    /// Concurrent calls.
    pub calls: u32,
    /// How long each call streams (rounded up to whole speech + silence cycles).
    pub duration: Duration,
    /// Calls are dialled evenly over this time.
    pub ramp: Duration,
    /// switchboard's PID, for CPU and RSS figures; with several `urls`, one per
    /// URL in the same order (each node's figures count its own calls).
    pub target_pids: Vec<u32>,
    /// Generator threads (one actix system each).
    pub threads: usize,
    /// Speech at the start of each caller cycle.
    pub speech: Duration,
    /// Silence after it (the model answers in it).
    pub silence: Duration,
    /// Wait after the calls end before the "after" RSS sample.
    pub settle: Duration,
    /// `start.customParameters` of every call (without a webhook).
    pub custom_parameters: Vec<(String, String)>,
    /// Ring first: post this voice webhook, wait its gap, and open the stream
    /// (URL and parameters) its TwiML names. `url` and `custom_parameters` are
    /// then unused. Not with `floor_exe` (the floor relay has no webhook).
    pub webhook: Option<Webhook>,
    /// With a path to the `switchboard` binary: repeat the run through
    /// `switchboard floor-relay` started as a child process.
    pub floor_exe: Option<PathBuf>,
    /// Worker threads of the floor relay (match switchboard's `server.workers`).
    pub floor_workers: usize,
    /// Print a progress line on stderr.
    pub progress: bool,
}

impl Options {
    /// Defaults for `url`: 100 calls for 60 s, 10 s ramp, 2 threads, 1 s speech / 2 s silence.
    pub fn new(url: impl Into<String>) -> Self {
        Options {
            urls: vec![url.into()],
            calls: 100,
            duration: Duration::from_secs(60),
            ramp: Duration::from_secs(10),
            target_pids: Vec::new(),
            threads: 2,
            speech: Duration::from_secs(1),
            silence: Duration::from_secs(2),
            settle: Duration::from_secs(5),
            custom_parameters: Vec::new(),
            webhook: None,
            floor_exe: None,
            floor_workers: 2,
            progress: false,
        }
    }

    /// The frame plan of every caller; `listen`: silence first (the greeting).
    fn frames(&self, listen: Duration) -> Frames {
        let speech = (self.speech.as_millis() as u64 / FRAME_MS).max(1);
        let silence = (self.silence.as_millis() as u64 / FRAME_MS).max(1);
        let listen = (listen.as_millis() as u64).div_ceil(FRAME_MS);
        let cycle = speech + silence;
        let wanted = (self.duration.as_millis() as u64).div_ceil(FRAME_MS);
        Frames {
            total: listen + wanted.div_ceil(cycle) * cycle,
            listen,
            speech,
            silence,
        }
    }

    fn validate(&self) -> Result<(), LoadtestError> {
        if self.calls == 0 {
            return Err(LoadtestError::Options("--calls must be at least 1".into()));
        }
        if self.duration < Duration::from_secs(1) {
            return Err(LoadtestError::Options(
                "--duration must be at least 1s".into(),
            ));
        }
        if self.threads == 0 {
            return Err(LoadtestError::Options(
                "--threads must be at least 1".into(),
            ));
        }
        if self.silence.as_millis() as u64 <= model::REPLY_FRAMES * FRAME_MS {
            return Err(LoadtestError::Options(format!(
                "silence must exceed the stamping model's {} ms reply",
                model::REPLY_FRAMES * FRAME_MS
            )));
        }
        if self.urls.is_empty() {
            return Err(LoadtestError::Options("--url: at least one".into()));
        }
        if let Some(url) = self
            .urls
            .iter()
            .find(|u| !(u.starts_with("ws://") || u.starts_with("wss://")))
        {
            return Err(LoadtestError::Options(format!(
                "--url {url}: not a ws:// or wss:// URL"
            )));
        }
        if self.target_pids.len() > 1 && self.target_pids.len() != self.urls.len() {
            return Err(LoadtestError::Options(format!(
                "{} --target-pid for {} --url: give one per URL, in the same order",
                self.target_pids.len(),
                self.urls.len()
            )));
        }
        if self.urls.len() > 1 && self.floor_exe.is_some() {
            return Err(LoadtestError::Options(
                "--floor measures one relay: use a single --url".into(),
            ));
        }
        if let Some(hook) = &self.webhook {
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(LoadtestError::Options(format!(
                    "--webhook {}: not an http:// or https:// URL",
                    hook.url
                )));
            }
            if self.floor_exe.is_some() {
                return Err(LoadtestError::Options(
                    "--floor cannot be combined with --webhook: the floor relay has no voice \
                     webhook; measure the floor without --webhook"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Runs the traffic against switchboard and, with [`Options::floor_exe`],
/// against the floor relay; returns both reports and their ratios. `model` is
/// the stamping model switchboard's `model.url` points at (without it, relay
/// time and frame loss cannot be measured and are reported as absent).
///
/// # Errors
/// Invalid options, a generator thread that could not start, or a floor relay
/// that would not start.
pub async fn run(
    opts: &Options,
    model: Option<&StampingModel>,
    command: String,
) -> Result<Report, LoadtestError> {
    opts.validate()?;
    let mut report = Report {
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        runs: Vec::new(),
        ratios: None,
    };
    report
        .runs
        .push(run_once("switchboard", &opts.urls, opts, model, &opts.target_pids).await?);
    if let Some(exe) = &opts.floor_exe {
        let model = model.ok_or_else(|| {
            LoadtestError::Options("the floor run needs the stamping model (--model-url)".into())
        })?;
        let mut child = tokio::process::Command::new(exe)
            .args([
                "floor-relay",
                "--bind",
                "127.0.0.1:0",
                "--model-url",
                &model.url(),
                "--workers",
                &opts.floor_workers.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| LoadtestError::Floor(format!("cannot start {}: {e}", exe.display())))?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LoadtestError::Floor("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| LoadtestError::Floor("no address within 10 s".into()))?
            .map_err(|e| LoadtestError::Floor(e.to_string()))?
            .unwrap_or_default();
        let addr = line
            .strip_prefix(floor::READY_PREFIX)
            .ok_or_else(|| LoadtestError::Floor(format!("unexpected first line {line:?}")))?
            .trim()
            .to_string();
        let urls = [format!("ws://{addr}/media-stream")];
        let pids: Vec<u32> = pid.into_iter().collect();
        let floor_run = run_once("floor", &urls, opts, Some(model), &pids).await;
        let _ = child.kill().await;
        report.runs.push(floor_run?);
        report.compute_ratios();
    }
    Ok(report)
}

fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(|p| procfs::sample(p).ok())
}

/// Samples of every measured process (in `pids` order).
fn sample_all(pids: &[u32]) -> Vec<Option<ProcSample>> {
    pids.iter().map(|p| sample(Some(*p))).collect()
}

/// One pass of the traffic through the relay(s) at `urls` (call `i` dials
/// `urls[i % len]`); `pids` are the relay processes to measure.
async fn run_once(
    target: &str,
    urls: &[String],
    opts: &Options,
    model: Option<&StampingModel>,
    pids: &[u32],
) -> Result<RunReport, LoadtestError> {
    if let Some(model) = model {
        model.ledger().reset();
    }
    let greets = model.is_some_and(|m| m.options().greeting);
    let plan = opts.frames(model.map_or(Duration::ZERO, |m| m.options().listen_for()));
    let streamed = Duration::from_millis(plan.total * FRAME_MS);
    let progress = Arc::new(Progress::default());
    let m2c_latency = SharedHistogram::new();
    let own_pid = std::process::id();
    let idle = sample_all(pids);
    let threads = opts.threads.min(opts.calls as usize).max(1);
    let mut receivers = Vec::new();
    for t in 0..threads {
        let plans: Vec<Plan> = (0..opts.calls)
            .filter(|i| *i as usize % threads == t)
            .map(|idx| Plan {
                idx,
                url: urls[idx as usize % urls.len()].clone(),
                webhook: opts.webhook.clone(),
                listen_frames: plan.listen,
                start_after: opts.ramp.mul_f64(f64::from(idx) / f64::from(opts.calls)),
                frames: plan.total,
                speech_frames: plan.speech,
                silence_frames: plan.silence,
                custom_parameters: opts.custom_parameters.clone(),
            })
            .collect();
        let (tx, rx) = oneshot::channel::<Vec<Outcome>>();
        let progress = progress.clone();
        let hist = m2c_latency.clone();
        std::thread::Builder::new()
            .name(format!("loadtest-{t}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                let outcomes = system.block_on(async move {
                    let tails = Rc::new(FrameTails::new());
                    join_all(plans.into_iter().map(|plan| {
                        caller::run(plan, tails.clone(), progress.clone(), hist.batch())
                    }))
                    .await
                });
                let _ = tx.send(outcomes);
            })
            .map_err(|e| LoadtestError::Thread(e.to_string()))?;
        receivers.push(rx);
    }

    // Steady window: every call dialled, past its webhook gap and greeting, and
    // still streaming — the pre-warm's work at webhook time falls before it.
    let t0 = Instant::now();
    let gap = opts.webhook.as_ref().map_or(Duration::ZERO, |w| w.gap);
    let listen = Duration::from_millis(plan.listen * FRAME_MS);
    let win_start = opts.ramp + gap + listen + STEADY_AFTER_RAMP;
    let win_end = (gap + streamed).saturating_sub(Duration::from_millis(500));
    let steady = win_end > win_start + Duration::from_secs(1);
    type Samples = (Instant, Vec<Option<ProcSample>>, Option<ProcSample>);
    let mut at_start: Option<Samples> = None;
    let mut at_end: Option<Samples> = None;
    let mut all = join_all(receivers);
    let mut last_print = Instant::now();
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let t = t0.elapsed();
        if steady && at_start.is_none() && t >= win_start {
            at_start = Some((Instant::now(), sample_all(pids), sample(Some(own_pid))));
        }
        if steady && at_end.is_none() && t >= win_end {
            at_end = Some((Instant::now(), sample_all(pids), sample(Some(own_pid))));
        }
        if opts.progress && last_print.elapsed() >= PROGRESS_EVERY {
            last_print = Instant::now();
            print_progress(target, t, opts.calls, &progress, &m2c_latency, model);
        }
    };
    if opts.progress {
        print_progress(
            target,
            t0.elapsed(),
            opts.calls,
            &progress,
            &m2c_latency,
            model,
        );
        eprintln!();
    }
    let mut outcomes = Vec::with_capacity(opts.calls as usize);
    for r in results {
        outcomes
            .extend(r.map_err(|_| LoadtestError::Thread("a generator thread panicked".into()))?);
    }
    if let Some(model) = model {
        let deadline = Instant::now() + MODEL_CLOSE_WAIT;
        while model.ledger().live_sessions() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let after = if pids.is_empty() {
        Vec::new()
    } else {
        tokio::time::sleep(opts.settle).await;
        sample_all(pids)
    };

    let mut run = RunReport {
        target: target.to_string(),
        url: urls.join(" "),
        calls: opts.calls,
        duration_s: streamed.as_secs_f64(),
        ramp_s: opts.ramp.as_secs_f64(),
        ..RunReport::default()
    };
    let mut errors = BTreeSet::new();
    let mut first_audio = Vec::new();
    let mut greeting_latency = Vec::new();
    let mut webhook_answer = Vec::new();
    let mut greeting = Greeting::default();
    let mut c2m = Direction::default();
    let mut m2c = Direction::default();
    for o in &outcomes {
        run.connected += u64::from(o.connected);
        run.completed += u64::from(o.completed);
        run.failed += u64::from(!o.completed);
        run.refused += u64::from(o.refused);
        run.marks_echoed += o.marks_echoed;
        run.clears += o.clears;
        if let Some(e) = &o.error {
            if errors.len() < 5 {
                errors.insert(e.clone());
            }
        }
        first_audio.extend(o.first_audio_us);
        greeting_latency.extend(o.greeting_latency_us);
        webhook_answer.extend(o.webhook_answer_us);
        greeting.frames_received += o.greeting.received;
        greeting.out_of_order += o.greeting.out_of_order;
        greeting.calls_not_greeted += u64::from(o.completed && o.greeting_latency_us.is_none());
        if let Some(model) = model.filter(|_| !o.refused) {
            // A refused call's frames never had a relay to cross: not counted.
            let seen = model.ledger().call(o.idx).unwrap_or_default();
            greeting.frames_sent += seen.greeting_sent;
            greeting.lost += seen
                .greeting_sent
                .saturating_sub(o.greeting.received - o.greeting.out_of_order);
            run.turns += seen.turns;
            c2m.frames_sent += o.c2m_sent;
            c2m.frames_received += seen.c2m.received;
            c2m.out_of_order += seen.c2m.out_of_order;
            c2m.queued_at_connect += seen.queued_at_connect;
            c2m.connect_wait_max_ms = c2m
                .connect_wait_max_ms
                .max(seen.connect_wait_max_us as f64 / 1000.0);
            c2m.lost += o
                .c2m_sent
                .saturating_sub(seen.c2m.received - seen.c2m.out_of_order);
            m2c.frames_sent += seen.m2c_sent;
            m2c.frames_received += o.m2c.received;
            m2c.out_of_order += o.m2c.out_of_order;
            m2c.lost += seen
                .m2c_sent
                .saturating_sub(o.m2c.received - o.m2c.out_of_order);
        }
    }
    run.errors = errors.into_iter().collect();
    run.first_audio = LatencySummary::of_samples(&first_audio);
    if opts.webhook.is_some() {
        run.webhook_answer = Some(LatencySummary::of_samples(&webhook_answer));
    }
    if let Some(model) = model.filter(|_| greets) {
        // Greetings of sessions no caller frame reached (never attached): lost.
        let orphans = model.ledger().orphan_greeting_frames();
        greeting.frames_sent += orphans;
        greeting.lost += orphans;
        greeting.latency = LatencySummary::of_samples(&greeting_latency);
        run.greeting = Some(greeting);
    }
    if let Some(model) = model {
        c2m.relay_time = model.ledger().c2m_latency.summary();
        m2c.relay_time = m2c_latency.summary();
        run.carrier_to_model = Some(c2m);
        run.model_to_carrier = Some(m2c);
    }
    if let (Some((t_a, srv_a, gen_a)), Some((t_b, srv_b, gen_b))) = (at_start, at_end) {
        let window = t_b.duration_since(t_a).as_secs_f64();
        let call_seconds = window * f64::from(opts.calls);
        let mut servers = Vec::new();
        for (i, pid) in pids.iter().enumerate() {
            let at = |v: &Vec<Option<ProcSample>>| v.get(i).copied().flatten();
            if let (Some(a), Some(b), Some(idle)) = (at(&srv_a), at(&srv_b), at(&idle)) {
                // Calls this process carried: its URL's share of the
                // dialling, less the calls it refused.
                let calls = outcomes
                    .iter()
                    .filter(|o| o.idx as usize % urls.len() == i && !o.refused)
                    .count() as u32;
                let after = at(&after).unwrap_or(b);
                servers.push(ServerFigures::of(
                    *pid,
                    urls[i % urls.len()].clone(),
                    calls,
                    window,
                    [idle, a, b, after],
                ));
            }
        }
        if servers.len() == 1 {
            run.server = servers.pop();
        } else {
            run.nodes = servers;
        }
        if let (Some(a), Some(b)) = (gen_a, gen_b) {
            run.generator_cpu_ms_per_call_second = Some((b.cpu_ms - a.cpu_ms) / call_seconds);
        }
    }
    Ok(run)
}

fn print_progress(
    target: &str,
    t: Duration,
    calls: u32,
    progress: &Progress,
    m2c: &SharedHistogram,
    model: Option<&StampingModel>,
) {
    let connected = progress.connected.load(Ordering::Relaxed);
    let ended = progress.ended.load(Ordering::Relaxed);
    let failed = progress.failed.load(Ordering::Relaxed);
    let c2m_p99 = model
        .map(|m| format!("{:.2}", m.ledger().c2m_latency.summary().p99_ms))
        .unwrap_or_else(|| "n/a".into());
    eprint!(
        "\r[{target} {:>5.1}s] calls up {:>5}/{calls} ended {:>5} failed {:>4} greeted {:>5} · frames c→m {:>9} m→c {:>9} · p99 c→m {c2m_p99} ms m→c {:.2} ms   ",
        t.as_secs_f64(),
        connected - ended.min(connected),
        ended,
        failed,
        progress.greeted.load(Ordering::Relaxed),
        progress.c2m_sent.load(Ordering::Relaxed),
        progress.m2c_received.load(Ordering::Relaxed),
        m2c.summary().p99_ms,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_listen_first_then_stream_whole_cycles() {
        let mut opts = Options::new("ws://127.0.0.1:1/media-stream");
        opts.duration = Duration::from_secs(5);
        let frames = opts.frames(Duration::from_millis(2910));
        assert_eq!(
            frames,
            Frames {
                total: 146 + 300,
                listen: 146,
                speech: 50,
                silence: 100
            },
            "2.91 s of listening rounds up to 146 frames; 5 s rounds up to two 3 s cycles"
        );
        assert_eq!(opts.frames(Duration::ZERO).total, 300);
    }

    #[test]
    fn several_urls_need_one_pid_each_and_no_floor() {
        let mut opts = Options::new("ws://127.0.0.1:1/media-stream");
        opts.urls.push("ws://127.0.0.1:2/media-stream".into());
        assert!(opts.validate().is_ok());
        opts.target_pids = vec![10, 11, 12];
        assert!(opts.validate().is_err(), "three pids for two URLs");
        opts.target_pids = vec![10, 11];
        assert!(opts.validate().is_ok());
        opts.floor_exe = Some("switchboard".into());
        assert!(opts.validate().is_err(), "the floor measures one relay");
        opts.floor_exe = None;
        opts.urls.push("http://127.0.0.1:3/media-stream".into());
        opts.target_pids.clear();
        assert!(opts.validate().is_err(), "a URL is ws://");
    }

    #[test]
    fn the_floor_run_is_refused_with_a_webhook() {
        let mut opts = Options::new("ws://127.0.0.1:1/media-stream");
        opts.webhook = Some(Webhook {
            url: "http://127.0.0.1:1/twiml".into(),
            gap: Duration::from_secs(1),
            from: "+15550100001".into(),
            to: "+15550100000".into(),
        });
        assert!(opts.validate().is_ok());
        opts.floor_exe = Some("switchboard".into());
        let err = opts.validate().unwrap_err().to_string();
        assert!(
            err.contains("--floor") && err.contains("--webhook"),
            "{err}"
        );
        opts.floor_exe = None;
        if let Some(hook) = opts.webhook.as_mut() {
            hook.url = "ws://127.0.0.1:1/twiml".into();
        }
        assert!(opts.validate().is_err(), "a webhook is http(s)");
    }
}
