//! `switchboard loadtest`: the load generator's command line (see
//! [`crate::loadtest`] for the method). Prints a progress line while running,
//! then the report table; `--json` writes every figure.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::loadtest::caller::Webhook;
use crate::loadtest::model::{ModelOptions, SimDelays, StampingModel};
use crate::loadtest::{self, Options};
use crate::model::api::ModelApi;

/// Arguments of `switchboard loadtest`.
#[derive(Args, Debug)]
pub struct LoadtestArgs {
    /// Media Streams URL of the switchboard under test; repeat it for each node
    /// of a cluster (calls are spread over them in turn).
    #[arg(long = "url", default_value = "ws://127.0.0.1:8080/media-stream")]
    pub urls: Vec<String>,
    /// Concurrent calls.
    #[arg(long, default_value_t = 100)]
    pub calls: u32,
    /// How long each call streams (`60s`, `500ms`, `2m`).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Calls are dialled evenly over this time.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// switchboard's PID: report its CPU per call-second and RSS per call from
    /// /proc. With several --url, one per URL in the same order (per node).
    #[arg(long = "target-pid")]
    pub target_pids: Vec<u32>,
    /// Host the stamping model at this URL (`ws://127.0.0.1:9100/v1/realtime`);
    /// switchboard must be started with `SWITCHBOARD_MODEL__URL` set to it. Needed
    /// for relay time and frame-loss figures and for `--floor`.
    #[arg(long)]
    pub model_url: Option<String>,
    /// Worker threads of the stamping model.
    #[arg(long, default_value_t = 1)]
    pub model_workers: usize,
    /// The protocol the stamping model speaks: `realtime` or `live` (OpenAI
    /// GPT-Live; switchboard must then run with `SWITCHBOARD_MODEL__API=live`).
    #[arg(long, default_value = "realtime", value_parser = parse_api)]
    pub model_api: ModelApi,
    /// The stamping model answers the WebSocket upgrade this late, like a
    /// provider across a network (`400ms`; default none). Needs --model-url.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub model_connect_delay: Duration,
    /// The stamping model's greeting starts this long after its
    /// `response.create` (a provider's time to first audio, `500ms`; default
    /// none). Needs --greeting.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    pub model_first_audio_delay: Duration,
    /// The stamping model answers switchboard's greeting (`response.create`
    /// before any caller turn) with 1 s of stamped audio; callers stay silent
    /// until it has played (connect + first-audio delay + 1 s + 1 s slack) and
    /// report greeting latency (stream `start` sent → first greeting frame, ms,
    /// p50/p95/p99/max) and greeting frames sent / received / lost. Needs
    /// --model-url and switchboard's `calls.greet_caller` (default on).
    #[arg(long)]
    pub greeting: bool,
    /// Ring through this voice webhook first (`http://127.0.0.1:8080/twiml`):
    /// each caller posts Twilio's voice webhook form, waits --webhook-gap, and
    /// opens the `<Connect><Stream>` its TwiML names with its `<Parameter>`s
    /// (so a pre-warmed call is attached); --url is then unused. A webhook
    /// refused (HTTP error) or answered without a stream counts as a refused
    /// call. Not with --floor.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Webhook answered → stream opened (Twilio's is about a second).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub webhook_gap: Duration,
    /// Also run the same traffic through the bare floor relay and report ratios.
    /// Not with --webhook (the floor relay has no voice webhook).
    #[arg(long)]
    pub floor: bool,
    /// Worker threads of the floor relay (match switchboard's `server.workers`).
    #[arg(long, default_value_t = 2)]
    pub floor_workers: usize,
    /// Generator threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Wait after the calls end before the "after" RSS sample.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub settle: Duration,
    /// The dialled number sent as the `to` custom parameter, or the webhook's
    /// `To` (routes to a tenant).
    #[arg(long, default_value = "+15550100000")]
    pub to: String,
    /// The caller's number in the webhook's `From` (with --webhook).
    #[arg(long, default_value = "+15550100001")]
    pub from: String,
    /// Write every figure as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Exit with status 1 unless every call completed with no frame lost or out of
    /// order (greeting frames included) and, with --greeting, every completed call
    /// heard its greeting.
    #[arg(long)]
    pub strict: bool,
}

/// `60s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration such as 60s, 500ms or 2m"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s, m)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

/// `host:port` of a `ws://host:port/path` URL.
fn bind_of(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).with_context(|| format!("--model-url {url}"))?;
    anyhow::ensure!(parsed.scheme() == "ws", "--model-url {url}: must be ws://");
    let host = parsed.host_str().context("--model-url has no host")?;
    let port = parsed.port().unwrap_or(80);
    Ok(format!("{host}:{port}"))
}

/// Raises the open-file soft limit to the hard limit (each call is two sockets here).
pub fn raise_nofile_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Runs the load test and prints the report; `Ok(false)` when `--strict` failed.
pub async fn run(args: LoadtestArgs) -> anyhow::Result<bool> {
    raise_nofile_limit();
    let model_options = ModelOptions {
        delays: SimDelays {
            connect: args.model_connect_delay,
            first_audio: args.model_first_audio_delay,
        },
        greeting: args.greeting,
        live: args.model_api == ModelApi::Live,
    };
    anyhow::ensure!(
        args.model_url.is_some() || model_options == ModelOptions::default(),
        "--greeting and the --model-*-delay options need --model-url (the stamping model)"
    );
    anyhow::ensure!(
        args.greeting || args.model_first_audio_delay.is_zero(),
        "--model-first-audio-delay needs --greeting (it delays the greeting)"
    );
    let model = match &args.model_url {
        Some(url) => {
            let model =
                StampingModel::start_with(&bind_of(url)?, args.model_workers, model_options)
                    .with_context(|| format!("starting the stamping model at {url}"))?;
            eprintln!("stamping model at {}", model.url());
            Some(model)
        }
        None => None,
    };
    let mut opts = Options::new(args.urls.first().cloned().unwrap_or_default());
    opts.urls = args.urls.clone();
    opts.calls = args.calls;
    opts.duration = args.duration;
    opts.ramp = args.ramp;
    opts.target_pids = args.target_pids.clone();
    opts.threads = args.threads;
    opts.settle = args.settle;
    opts.custom_parameters = vec![("to".into(), args.to.clone())];
    opts.webhook = args.webhook.as_ref().map(|url| Webhook {
        url: url.clone(),
        gap: args.webhook_gap,
        from: args.from.clone(),
        to: args.to.clone(),
    });
    opts.floor_workers = args.floor_workers;
    opts.progress = true;
    if args.floor {
        opts.floor_exe = Some(std::env::current_exe().context("locating the switchboard binary")?);
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = loadtest::run(&opts, model.as_ref(), command).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("figures written to {}", path.display());
    }
    if let Some(model) = model {
        model.stop().await;
    }
    Ok(!args.strict || report.runs.iter().all(|r| r.is_clean()))
}

/// `realtime` or `live`.
fn parse_api(s: &str) -> Result<ModelApi, String> {
    match s {
        "realtime" => Ok(ModelApi::Realtime),
        "live" => Ok(ModelApi::Live),
        other => Err(format!("{other:?} is not realtime or live")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn model_bind_comes_from_the_url() {
        assert_eq!(
            bind_of("ws://127.0.0.1:9100/v1/realtime").unwrap(),
            "127.0.0.1:9100"
        );
        assert!(bind_of("wss://x/v1").is_err());
    }
}
