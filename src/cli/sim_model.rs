//! `switchboard sim-model`: the built-in realtime simulator alone, in its own
//! process (`GET /sim/v1/realtime`), so a load test can run switchboard against
//! it with the relay's CPU isolated from the model's. Like the built-in route it
//! answers loopback peers only unless `simulator.public = true`.

use std::path::PathBuf;

use actix_web::{App, HttpServer};
use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::model::simulator::{Simulator, SIM_PATH};

/// Arguments of `switchboard sim-model`.
#[derive(Args, Debug)]
pub struct SimModelArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub bind: String,
    /// Simulator script (default: `simulator.script` from the configuration; the
    /// built-in script when that is empty).
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Directory of the script's clips (default: `simulator.clips_dir`; the
    /// built-in clips when that is empty).
    #[arg(long)]
    pub clips: Option<PathBuf>,
    /// Audio streaming speed relative to real time (default: `simulator.pace`).
    #[arg(long)]
    pub pace: Option<f32>,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

/// Serves the simulator until SIGINT/SIGTERM.
pub async fn run(args: SimModelArgs, config: &Config) -> anyhow::Result<()> {
    let mut sim_config = config.simulator.clone();
    if let Some(script) = args.script {
        sim_config.script = script;
    }
    if let Some(clips) = args.clips {
        sim_config.clips_dir = clips;
    }
    if let Some(pace) = args.pace {
        sim_config.pace = pace;
    }
    sim_config.record_events = false;
    let sim = Simulator::from_config(&sim_config).context("building the simulator")?;
    let server = HttpServer::new(move || {
        let sim = sim.clone();
        App::new().configure(move |cfg| sim.configure(cfg))
    })
    .workers(args.workers.max(1))
    .backlog(4096)
    .bind(&args.bind)
    .with_context(|| format!("binding {}", args.bind))?;
    for addr in server.addrs() {
        println!("simulator listening on ws://{addr}{SIM_PATH}");
    }
    server.run().await.context("simulator server")
}
