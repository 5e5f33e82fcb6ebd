//! `switchboard sip-loadtest`: many concurrent OpenAI SIP calls against a
//! running switchboard (see [`crate::loadtest::sip`]); prints the report,
//! `--json` writes it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::cli::loadtest::{parse_duration, raise_nofile_limit};
use crate::loadtest::sip::{self, SipOptions};

/// Arguments of `switchboard sip-loadtest`.
#[derive(Args, Debug)]
pub struct SipLoadtestArgs {
    /// switchboard's OpenAI webhook URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/openai/webhook")]
    pub webhook: String,
    /// The webhook signing secret switchboard runs with (`whsec_…`); default:
    /// `SWITCHBOARD_OPENAI__WEBHOOK_SECRET`, else `OPENAI_WEBHOOK_SECRET`.
    #[arg(long)]
    pub secret: Option<String>,
    /// Where to serve OpenAI's REST and sideband; start switchboard with
    /// `SWITCHBOARD_OPENAI__API_BASE=http://<this>`.
    #[arg(long, default_value = "127.0.0.1:9200")]
    pub listen: String,
    /// Concurrent calls.
    #[arg(long, default_value_t = 100)]
    pub calls: u32,
    /// How long each call lasts (`30s`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Calls are announced evenly over this time.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// `live` (GPT-Live, `live.transport.incoming`) or `realtime`.
    #[arg(long, default_value = "live")]
    pub api: String,
    /// The number dialled: a tenant's phone number.
    #[arg(long, default_value = sip::DEFAULT_TO)]
    pub to: String,
    /// Each sideband carries a caller and a receptionist transcript line this
    /// often (`3s`); `0s`: none, like the relayed load test's model.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub line_every: Duration,
    /// switchboard's PID: its CPU per call-second and RSS per call.
    #[arg(long)]
    pub target_pid: Option<u32>,
    /// Write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Runs the load test; false when not every call was accepted and attached.
///
/// # Errors
/// A bad `--api`, no secret, or [`sip::SipLoadError`].
pub async fn run(args: SipLoadtestArgs) -> anyhow::Result<bool> {
    raise_nofile_limit();
    let live = match args.api.as_str() {
        "live" => true,
        "realtime" => false,
        other => anyhow::bail!("--api {other:?} is not live or realtime"),
    };
    let secret = args
        .secret
        .or_else(|| std::env::var("SWITCHBOARD_OPENAI__WEBHOOK_SECRET").ok())
        .or_else(|| std::env::var("OPENAI_WEBHOOK_SECRET").ok())
        .context("no webhook secret: --secret or OPENAI_WEBHOOK_SECRET")?;
    let opts = SipOptions {
        webhook: args.webhook,
        secret,
        listen: args.listen,
        calls: args.calls,
        duration: args.duration,
        ramp: args.ramp,
        live,
        to: args.to,
        target_pid: args.target_pid,
        line_every: args.line_every,
    };
    let report = sip::run(&opts).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let n = u64::from(opts.calls);
    Ok(report.accepted == n && report.attached >= n)
}
