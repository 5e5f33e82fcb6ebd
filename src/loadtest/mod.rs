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

pub mod caller;
pub mod clock;
pub mod floor;
pub mod model;
pub mod procfs;
pub mod report;
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

use caller::{Outcome, Plan, Progress};
use model::StampingModel;
use procfs::ProcSample;
use report::{Direction, Report, RunReport, ServerFigures};
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

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ws://HOST:PORT/media-stream` of switchboard.
    pub url: String,
    /// Concurrent calls.
    pub calls: u32,
    /// How long each call streams (rounded up to whole speech + silence cycles).
    pub duration: Duration,
    /// Calls are dialled evenly over this time.
    pub ramp: Duration,
    /// switchboard's PID, for CPU and RSS figures.
    pub target_pid: Option<u32>,
    /// Generator threads (one actix system each).
    pub threads: usize,
    /// Speech at the start of each caller cycle.
    pub speech: Duration,
    /// Silence after it (the model answers in it).
    pub silence: Duration,
    /// Wait after the calls end before the "after" RSS sample.
    pub settle: Duration,
    /// `start.customParameters` of every call.
    pub custom_parameters: Vec<(String, String)>,
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
            url: url.into(),
            calls: 100,
            duration: Duration::from_secs(60),
            ramp: Duration::from_secs(10),
            target_pid: None,
            threads: 2,
            speech: Duration::from_secs(1),
            silence: Duration::from_secs(2),
            settle: Duration::from_secs(5),
            custom_parameters: Vec::new(),
            floor_exe: None,
            floor_workers: 2,
            progress: false,
        }
    }

    fn frames(&self) -> (u64, u64, u64) {
        let speech = (self.speech.as_millis() as u64 / FRAME_MS).max(1);
        let silence = (self.silence.as_millis() as u64 / FRAME_MS).max(1);
        let cycle = speech + silence;
        let wanted = (self.duration.as_millis() as u64).div_ceil(FRAME_MS);
        (wanted.div_ceil(cycle) * cycle, speech, silence)
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
        if !(self.url.starts_with("ws://") || self.url.starts_with("wss://")) {
            return Err(LoadtestError::Options(format!(
                "--url {}: not a ws:// or wss:// URL",
                self.url
            )));
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
        .push(run_once("switchboard", &opts.url, opts, model, opts.target_pid).await?);
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
        let url = format!("ws://{addr}/media-stream");
        let floor_run = run_once("floor", &url, opts, Some(model), pid).await;
        let _ = child.kill().await;
        report.runs.push(floor_run?);
        report.compute_ratios();
    }
    Ok(report)
}

fn sample(pid: Option<u32>) -> Option<ProcSample> {
    pid.and_then(|p| procfs::sample(p).ok())
}

/// One pass of the traffic through the relay at `url`.
async fn run_once(
    target: &str,
    url: &str,
    opts: &Options,
    model: Option<&StampingModel>,
    pid: Option<u32>,
) -> Result<RunReport, LoadtestError> {
    if let Some(model) = model {
        model.ledger().reset();
    }
    let (frames, speech_frames, silence_frames) = opts.frames();
    let streamed = Duration::from_millis(frames * FRAME_MS);
    let progress = Arc::new(Progress::default());
    let m2c_latency = SharedHistogram::new();
    let own_pid = std::process::id();
    let idle = sample(pid);
    let threads = opts.threads.min(opts.calls as usize).max(1);
    let mut receivers = Vec::new();
    for t in 0..threads {
        let plans: Vec<Plan> = (0..opts.calls)
            .filter(|i| *i as usize % threads == t)
            .map(|idx| Plan {
                idx,
                url: url.to_string(),
                start_after: opts.ramp.mul_f64(f64::from(idx) / f64::from(opts.calls)),
                frames,
                speech_frames,
                silence_frames,
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

    // Steady window: every call dialled and still streaming.
    let t0 = Instant::now();
    let win_start = opts.ramp + STEADY_AFTER_RAMP;
    let win_end = streamed.saturating_sub(Duration::from_millis(500));
    let steady = win_end > win_start + Duration::from_secs(1);
    let mut at_start: Option<(Instant, Option<ProcSample>, Option<ProcSample>)> = None;
    let mut at_end: Option<(Instant, Option<ProcSample>, Option<ProcSample>)> = None;
    let mut all = join_all(receivers);
    let mut last_print = Instant::now();
    let results = loop {
        tokio::select! {
            results = &mut all => break results,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let t = t0.elapsed();
        if steady && at_start.is_none() && t >= win_start {
            at_start = Some((Instant::now(), sample(pid), sample(Some(own_pid))));
        }
        if steady && at_end.is_none() && t >= win_end {
            at_end = Some((Instant::now(), sample(pid), sample(Some(own_pid))));
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
    let after = match pid {
        Some(_) => {
            tokio::time::sleep(opts.settle).await;
            sample(pid)
        }
        None => None,
    };

    let mut run = RunReport {
        target: target.to_string(),
        url: url.to_string(),
        calls: opts.calls,
        duration_s: streamed.as_secs_f64(),
        ramp_s: opts.ramp.as_secs_f64(),
        ..RunReport::default()
    };
    let mut errors = BTreeSet::new();
    let mut first_audio = Vec::new();
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
        if let Some(model) = model {
            let seen = model.ledger().call(o.idx).unwrap_or_default();
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
    if let Some(model) = model {
        c2m.relay_time = model.ledger().c2m_latency.summary();
        m2c.relay_time = m2c_latency.summary();
        run.carrier_to_model = Some(c2m);
        run.model_to_carrier = Some(m2c);
    }
    if let (Some((t_a, srv_a, gen_a)), Some((t_b, srv_b, gen_b))) = (at_start, at_end) {
        let window = t_b.duration_since(t_a).as_secs_f64();
        let call_seconds = window * f64::from(opts.calls);
        if let (Some(a), Some(b), Some(idle), Some(pid)) = (srv_a, srv_b, idle, pid) {
            let after = after.unwrap_or(b);
            run.server = Some(ServerFigures {
                pid,
                window_s: window,
                cpu_ms: b.cpu_ms - a.cpu_ms,
                cpu_ms_per_call_second: (b.cpu_ms - a.cpu_ms) / call_seconds,
                rss_idle_kib: idle.rss_kib,
                rss_loaded_kib: b.rss_kib,
                rss_per_call_kib: (b.rss_kib as f64 - idle.rss_kib as f64) / f64::from(opts.calls),
                rss_after_kib: after.rss_kib,
                rss_after_vs_idle_pct: (after.rss_kib as f64 - idle.rss_kib as f64) * 100.0
                    / idle.rss_kib.max(1) as f64,
            });
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
        "\r[{target} {:>5.1}s] calls up {:>5}/{calls} ended {:>5} failed {:>4} · frames c→m {:>9} m→c {:>9} · p99 c→m {c2m_p99} ms m→c {:.2} ms   ",
        t.as_secs_f64(),
        connected - ended.min(connected),
        ended,
        failed,
        progress.c2m_sent.load(Ordering::Relaxed),
        progress.m2c_received.load(Ordering::Relaxed),
        m2c.summary().p99_ms,
    );
}
