//! What `switchboard loadtest` reports: per run (switchboard, and the floor
//! relay when asked) the call outcomes, per-direction frame accounting and
//! relay time, first-audio and greeting latency, the greeting's frame
//! accounting, voice webhook answer time and the server's CPU and memory; the
//! ratios between the two runs; a plain-text table and the same figures as
//! JSON (`--json`).

use std::fmt::Write as _;

use serde::Serialize;

use super::procfs::ProcSample;
use super::stats::LatencySummary;

/// One direction of audio through the relay.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Direction {
    /// Stamped frames sent into the relay.
    pub frames_sent: u64,
    /// Stamped frames that came out of it.
    pub frames_received: u64,
    /// Sent but never received (`frames_sent − frames_received`, and gaps).
    pub lost: u64,
    /// Received with a sequence number already passed (duplicated or reordered).
    pub out_of_order: u64,
    /// Time inside the relay (send → receive on one clock), ms. Carrier → model
    /// excludes the frames counted in `queued_at_connect`.
    pub relay_time: LatencySummary,
    /// Carrier → model only: frames sent before the relay's model socket was
    /// accepted (they waited for the link to connect).
    pub queued_at_connect: u64,
    /// Longest of those waits, ms.
    pub connect_wait_max_ms: f64,
}

/// The stamping model's greeting as the callers heard it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Greeting {
    /// Stream `start` sent → first greeting frame received, ms (one sample per
    /// call that heard a greeting).
    pub latency: LatencySummary,
    /// Greeting frames the model sent (every session, attached or not).
    pub frames_sent: u64,
    /// Greeting frames the callers received.
    pub frames_received: u64,
    /// Sent but never received (includes greetings of sessions no stream reached).
    pub lost: u64,
    /// Received with a sequence number already passed.
    pub out_of_order: u64,
    /// Calls that completed without hearing a greeting.
    pub calls_not_greeted: u64,
}

/// The measured server process over the steady window (all calls up).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerFigures {
    /// PID sampled.
    pub pid: u32,
    /// The media-stream URL its calls dialled.
    pub url: String,
    /// Calls it was given.
    pub calls: u32,
    /// Length of the steady window, s.
    pub window_s: f64,
    /// CPU time used in the window, ms.
    pub cpu_ms: f64,
    /// `cpu_ms / (calls × window_s)`.
    pub cpu_ms_per_call_second: f64,
    /// CPU time from before the first call to after the settle time, ms:
    /// includes call set-up (webhooks, model connects, greetings) and tear-down.
    pub cpu_ms_whole_run: f64,
    /// `cpu_ms_whole_run / calls`.
    pub cpu_ms_per_call: f64,
    /// RSS before the first call, KiB.
    pub rss_idle_kib: u64,
    /// RSS with every call up, KiB.
    pub rss_loaded_kib: u64,
    /// `(rss_loaded − rss_idle) / calls`, KiB.
    pub rss_per_call_kib: f64,
    /// RSS after every call ended and the settle time passed, KiB.
    pub rss_after_kib: u64,
    /// `(rss_after − rss_idle) / rss_idle`, percent.
    pub rss_after_vs_idle_pct: f64,
}

impl ServerFigures {
    /// The figures of process `pid`, given `calls` calls, from its samples
    /// `[idle, window start, window end, after]` over a `window_s` window.
    pub fn of(pid: u32, url: String, calls: u32, window_s: f64, samples: [ProcSample; 4]) -> Self {
        let [idle, a, b, after] = samples;
        let calls_f = f64::from(calls.max(1));
        ServerFigures {
            pid,
            url,
            calls,
            window_s,
            cpu_ms: b.cpu_ms - a.cpu_ms,
            cpu_ms_per_call_second: (b.cpu_ms - a.cpu_ms) / (window_s * calls_f),
            cpu_ms_whole_run: after.cpu_ms - idle.cpu_ms,
            cpu_ms_per_call: (after.cpu_ms - idle.cpu_ms) / calls_f,
            rss_idle_kib: idle.rss_kib,
            rss_loaded_kib: b.rss_kib,
            rss_per_call_kib: (b.rss_kib as f64 - idle.rss_kib as f64) / calls_f,
            rss_after_kib: after.rss_kib,
            rss_after_vs_idle_pct: (after.rss_kib as f64 - idle.rss_kib as f64) * 100.0
                / idle.rss_kib.max(1) as f64,
        }
    }
}

/// One run of the traffic against one relay (or the nodes of one cluster).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    /// `switchboard` or `floor`.
    pub target: String,
    /// Media-stream URL dialled.
    pub url: String,
    /// Calls asked for.
    pub calls: u32,
    /// Seconds each call streamed.
    pub duration_s: f64,
    /// Seconds over which calls were started.
    pub ramp_s: f64,
    /// WebSockets opened.
    pub connected: u64,
    /// Calls that streamed every frame and ended cleanly after `stop`.
    pub completed: u64,
    /// Calls that did not complete (includes refused).
    pub failed: u64,
    /// Upgrades refused or streams closed with 1013.
    pub refused: u64,
    /// Up to five distinct failure reasons.
    pub errors: Vec<String>,
    /// Carrier → model (needs the stamping model).
    pub carrier_to_model: Option<Direction>,
    /// Model → carrier (needs the stamping model).
    pub model_to_carrier: Option<Direction>,
    /// End of each call's first utterance → first assistant audio received, ms.
    pub first_audio: LatencySummary,
    /// The greeting (when the stamping model greets).
    pub greeting: Option<Greeting>,
    /// Voice webhook posted → TwiML read, ms (with `--webhook`).
    pub webhook_answer: Option<LatencySummary>,
    /// Caller turns the model answered.
    pub turns: u64,
    /// Marks echoed to the relay.
    pub marks_echoed: u64,
    /// `clear`s received.
    pub clears: u64,
    /// The relay's CPU and memory (with one `--target-pid`, or the floor child).
    pub server: Option<ServerFigures>,
    /// Each node's CPU and memory, with one `--url` and `--target-pid` per node.
    pub nodes: Vec<ServerFigures>,
    /// The load generator's own CPU per call-second over the steady window (includes the stamping model).
    pub generator_cpu_ms_per_call_second: Option<f64>,
}

impl RunReport {
    /// Whether frame accounting is clean and every call completed.
    pub fn is_clean(&self) -> bool {
        let dir_ok = |d: &Option<Direction>| {
            d.as_ref()
                .is_none_or(|d| d.lost == 0 && d.out_of_order == 0)
        };
        let greeting_ok = self
            .greeting
            .as_ref()
            .is_none_or(|g| g.lost == 0 && g.out_of_order == 0 && g.calls_not_greeted == 0);
        self.failed == 0
            && self.completed == u64::from(self.calls)
            && dir_ok(&self.carrier_to_model)
            && dir_ok(&self.model_to_carrier)
            && greeting_ok
    }
}

/// switchboard ÷ floor for the figures the budget names.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ratios {
    pub cpu_ms_per_call_second: Option<f64>,
    pub rss_per_call: Option<f64>,
    pub carrier_to_model_p99: Option<f64>,
    pub model_to_carrier_p99: Option<f64>,
}

/// Everything one invocation measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// UTC, RFC 3339.
    pub date: String,
    /// The command line.
    pub command: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
    pub runs: Vec<RunReport>,
    /// Present when a floor run followed the switchboard run.
    pub ratios: Option<Ratios>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite()).then(|| a / b)
}

impl Report {
    /// Fills [`Report::ratios`] from the first two runs.
    pub fn compute_ratios(&mut self) {
        let [sb, floor, ..] = self.runs.as_slice() else {
            return;
        };
        let p99 = |d: &Option<Direction>| d.as_ref().map(|d| d.relay_time.p99_ms);
        let both = |a: Option<f64>, b: Option<f64>| a.zip(b).and_then(|(a, b)| ratio(a, b));
        let cpu = |r: &RunReport| r.server.as_ref().map(|s| s.cpu_ms_per_call_second);
        let rss = |r: &RunReport| r.server.as_ref().map(|s| s.rss_per_call_kib);
        self.ratios = Some(Ratios {
            cpu_ms_per_call_second: both(cpu(sb), cpu(floor)),
            rss_per_call: both(rss(sb), rss(floor)),
            carrier_to_model_p99: both(p99(&sb.carrier_to_model), p99(&floor.carrier_to_model)),
            model_to_carrier_p99: both(p99(&sb.model_to_carrier), p99(&floor.model_to_carrier)),
        });
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut row = |label: &str, f: &dyn Fn(&RunReport) -> String| {
            rows.push((label.to_string(), self.runs.iter().map(f).collect()));
        };
        let lat = |s: &LatencySummary| {
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2}",
                s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            )
        };
        let dir_frames = |d: &Option<Direction>| match d {
            Some(d) => format!(
                "{} / {} / {} / {}",
                d.frames_sent, d.frames_received, d.lost, d.out_of_order
            ),
            None => "n/a (no stamping model)".into(),
        };
        let dir_lat = |d: &Option<Direction>| match d {
            Some(d) => lat(&d.relay_time),
            None => "n/a".into(),
        };
        row("url", &|r| r.url.clone());
        row("calls completed / failed / refused", &|r| {
            format!(
                "{} / {} / {} of {}",
                r.completed, r.failed, r.refused, r.calls
            )
        });
        row("c→m frames sent / recv / lost / out-of-order", &|r| {
            dir_frames(&r.carrier_to_model)
        });
        row("c→m time in relay p50/p90/p99/max ms", &|r| {
            dir_lat(&r.carrier_to_model)
        });
        row(
            "c→m frames queued while the model link connected (max wait ms)",
            &|r| match &r.carrier_to_model {
                Some(d) => format!("{} ({:.1})", d.queued_at_connect, d.connect_wait_max_ms),
                None => "n/a".into(),
            },
        );
        row("m→c frames sent / recv / lost / out-of-order", &|r| {
            dir_frames(&r.model_to_carrier)
        });
        row("m→c time in relay p50/p90/p99/max ms", &|r| {
            dir_lat(&r.model_to_carrier)
        });
        row("first audio p50/p90/p99/max ms", &|r| lat(&r.first_audio));
        row(
            "greeting latency p50/p95/p99/max ms (calls)",
            &|r| match &r.greeting {
                Some(g) => format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} ({})",
                    g.latency.p50_ms,
                    g.latency.p95_ms,
                    g.latency.p99_ms,
                    g.latency.max_ms,
                    g.latency.count
                ),
                None => "n/a (model does not greet)".into(),
            },
        );
        row(
            "greeting frames sent / recv / lost / out-of-order",
            &|r| match &r.greeting {
                Some(g) => format!(
                    "{} / {} / {} / {}",
                    g.frames_sent, g.frames_received, g.lost, g.out_of_order
                ),
                None => "n/a".into(),
            },
        );
        row(
            "webhook answer p50/p95/max ms",
            &|r| match &r.webhook_answer {
                Some(w) => format!("{:.1} / {:.1} / {:.1}", w.p50_ms, w.p95_ms, w.max_ms),
                None => "n/a (no --webhook)".into(),
            },
        );
        row("turns / marks echoed / clears", &|r| {
            format!("{} / {} / {}", r.turns, r.marks_echoed, r.clears)
        });
        row("server CPU ms per call-second", &|r| match &r.server {
            Some(s) => format!(
                "{:.3} ({:.0} ms in {:.1} s)",
                s.cpu_ms_per_call_second, s.cpu_ms, s.window_s
            ),
            None => "n/a (no --target-pid)".into(),
        });
        row("server CPU ms per call, whole run", &|r| match &r.server {
            Some(s) => format!("{:.1} ({:.0} ms)", s.cpu_ms_per_call, s.cpu_ms_whole_run),
            None => "n/a".into(),
        });
        row("server RSS per call KiB", &|r| match &r.server {
            Some(s) => format!("{:.1}", s.rss_per_call_kib),
            None => "n/a".into(),
        });
        row(
            "server RSS idle → loaded → after KiB",
            &|r| match &r.server {
                Some(s) => format!(
                    "{} → {} → {} ({:+.1} %)",
                    s.rss_idle_kib, s.rss_loaded_kib, s.rss_after_kib, s.rss_after_vs_idle_pct
                ),
                None => "n/a".into(),
            },
        );
        let nodes = self.runs.iter().map(|r| r.nodes.len()).max().unwrap_or(0);
        for i in 0..nodes {
            let label = format!("node {} CPU ms per call-second", i + 1);
            row(&label, &|r| match r.nodes.get(i) {
                Some(s) => format!(
                    "{:.3} ({} calls via {}, pid {})",
                    s.cpu_ms_per_call_second, s.calls, s.url, s.pid
                ),
                None => "n/a".into(),
            });
        }
        row("generator CPU ms per call-second", &|r| {
            r.generator_cpu_ms_per_call_second
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "n/a".into())
        });
        let mut headers: Vec<String> = self.runs.iter().map(|r| r.target.clone()).collect();
        if let Some(ratios) = &self.ratios {
            headers.push("ratio".into());
            let fmt = |v: Option<f64>| v.map(|v| format!("{v:.2}×")).unwrap_or_default();
            for (label, cells) in rows.iter_mut() {
                let value = match label.as_str() {
                    l if l.starts_with("c→m time") => fmt(ratios.carrier_to_model_p99),
                    l if l.starts_with("m→c time") => fmt(ratios.model_to_carrier_p99),
                    l if l.starts_with("server CPU ms per call-second") => {
                        fmt(ratios.cpu_ms_per_call_second)
                    }
                    l if l.starts_with("server RSS per call") => fmt(ratios.rss_per_call),
                    _ => String::new(),
                };
                cells.push(value);
            }
        }
        let label_w = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut col_w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for (_, cells) in &rows {
            for (i, c) in cells.iter().enumerate() {
                if let Some(w) = col_w.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let mut out = String::new();
        let first = self.runs.first();
        let _ = writeln!(
            out,
            "switchboard loadtest · {} calls × {:.0} s (ramp {:.0} s) · {} · {} CPUs",
            first.map(|r| r.calls).unwrap_or(0),
            first.map(|r| r.duration_s).unwrap_or(0.0),
            first.map(|r| r.ramp_s).unwrap_or(0.0),
            self.date,
            self.cpus
        );
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        let _ = write!(out, "{}", pad("", label_w));
        for (h, w) in headers.iter().zip(&col_w) {
            let _ = write!(out, "  {}", pad(h, *w));
        }
        out.push('\n');
        for (label, cells) in &rows {
            let _ = write!(out, "{}", pad(label, label_w));
            for (c, w) in cells.iter().zip(&col_w) {
                let _ = write!(out, "  {}", pad(c, *w));
            }
            out.truncate(out.trim_end().len());
            out.push('\n');
        }
        for r in &self.runs {
            for e in &r.errors {
                let _ = writeln!(out, "{} error: {e}", r.target);
            }
            let verdict = if r.is_clean() {
                "clean: every call completed, no frame lost or out of order"
            } else {
                "NOT CLEAN: failed calls, lost/out-of-order frames or calls not greeted"
            };
            let _ = writeln!(out, "{}: {verdict}", r.target);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(target: &str, cpu: f64, p99: f64) -> RunReport {
        RunReport {
            target: target.into(),
            calls: 2,
            completed: 2,
            carrier_to_model: Some(Direction {
                frames_sent: 10,
                frames_received: 10,
                relay_time: LatencySummary {
                    count: 10,
                    p99_ms: p99,
                    ..LatencySummary::default()
                },
                ..Direction::default()
            }),
            server: Some(ServerFigures {
                cpu_ms_per_call_second: cpu,
                ..ServerFigures::default()
            }),
            ..RunReport::default()
        }
    }

    #[test]
    fn ratios_divide_switchboard_by_floor() {
        let mut report = Report {
            runs: vec![run("switchboard", 3.0, 2.0), run("floor", 2.0, 1.0)],
            ..Report::default()
        };
        report.compute_ratios();
        let r = report.ratios.clone().unwrap();
        assert_eq!(r.cpu_ms_per_call_second, Some(1.5));
        assert_eq!(r.carrier_to_model_p99, Some(2.0));
        assert_eq!(r.model_to_carrier_p99, None);
        let table = report.table();
        assert!(table.contains("1.50×"), "{table}");
        assert!(table.contains("switchboard: clean"), "{table}");
    }

    #[test]
    fn a_lost_frame_makes_the_run_unclean() {
        let mut r = run("switchboard", 1.0, 1.0);
        assert!(r.is_clean());
        if let Some(d) = r.carrier_to_model.as_mut() {
            d.lost = 1;
        }
        assert!(!r.is_clean());
    }

    #[test]
    fn greeting_figures_are_tabled_and_a_lost_greeting_frame_is_unclean() {
        let mut r = run("switchboard", 1.0, 1.0);
        r.greeting = Some(Greeting {
            latency: LatencySummary {
                count: 2,
                p50_ms: 12.0,
                p95_ms: 40.5,
                p99_ms: 41.0,
                max_ms: 41.0,
                ..LatencySummary::default()
            },
            frames_sent: 100,
            frames_received: 100,
            ..Greeting::default()
        });
        let report = Report {
            runs: vec![r.clone()],
            ..Report::default()
        };
        let table = report.table();
        assert!(
            table.contains("12.0 / 40.5 / 41.0 / 41.0 (2)"),
            "p50/p95/p99/max and count: {table}"
        );
        assert!(table.contains("100 / 100 / 0 / 0"), "{table}");
        assert!(r.is_clean());
        if let Some(g) = r.greeting.as_mut() {
            g.lost = 1;
        }
        assert!(!r.is_clean());
        if let Some(g) = r.greeting.as_mut() {
            g.lost = 0;
            g.calls_not_greeted = 1;
        }
        assert!(!r.is_clean(), "a completed call that heard no greeting");
    }
}
