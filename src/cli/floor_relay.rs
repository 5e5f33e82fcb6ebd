//! `switchboard floor-relay`: the bare pass-through relay the load test compares
//! switchboard against (see [`crate::loadtest::floor`]). Prints
//! `floor relay listening on ADDR` once bound.

use std::io::Write as _;

use anyhow::Context;
use clap::Args;

use crate::loadtest::floor;

/// Arguments of `switchboard floor-relay`.
#[derive(Args, Debug)]
pub struct FloorRelayArgs {
    /// Listen address (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: String,
    /// Realtime WebSocket every carrier connection is relayed to.
    #[arg(long)]
    pub model_url: String,
    /// HTTP worker threads (match switchboard's `server.workers`).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// Serves the floor relay until the process is stopped.
pub async fn run(args: FloorRelayArgs) -> anyhow::Result<()> {
    let (server, addr) = floor::server(&args.bind, &args.model_url, args.workers)
        .with_context(|| format!("binding {}", args.bind))?;
    let mut out = std::io::stdout();
    writeln!(out, "{}{addr}", floor::READY_PREFIX)?;
    out.flush()?;
    server.await.context("floor relay server")
}
