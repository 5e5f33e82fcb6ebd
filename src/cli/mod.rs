//! Command line: `switchboard [--config PATH]
//! [serve|migrate|call|client|user|token|calendar|sim-model|loadtest|floor-relay]`.

pub mod calendar;
pub mod call;
pub mod client;
pub mod erase;
pub mod floor_relay;
pub mod loadtest;
pub mod purge;
pub mod serve;
pub mod sim_model;
pub mod sip_loadtest;
pub mod token;
pub mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// switchboard: an AI voice receptionist supervisor.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Every key can be overridden by
    /// SWITCHBOARD_<SECTION>__<KEY> environment variables.
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; `serve` is the default.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run migrations, upsert tenants, and serve (default).
    Serve,
    /// Run database migrations only.
    Migrate,
    /// Place a call like Twilio Media Streams would, streaming a WAV file.
    Call(call::CallArgs),
    /// Manage Node.js clients of the `/supervisor` gateway (tokens).
    Client(client::ClientArgs),
    /// Manage the people who sign in to the dashboard.
    User(user::UserArgs),
    /// Manage integration tokens (one tenant each).
    Token(token::TokenArgs),
    /// Tenants' calendars: the URL of a tenant's subscribable `.ics` feed.
    Calendar(calendar::CalendarArgs),
    /// Erase one caller's data from one tenant (a data-subject request).
    Erase(erase::EraseArgs),
    /// Apply the tenants' retention policies now (or preview with --dry-run).
    Purge(purge::PurgeArgs),
    /// Serve the built-in realtime simulator alone (`/sim/v1/realtime`).
    SimModel(sim_model::SimModelArgs),
    /// Load-test a running switchboard with many concurrent Media Streams calls.
    Loadtest(loadtest::LoadtestArgs),
    /// The bare pass-through relay `loadtest --floor` compares against.
    FloorRelay(floor_relay::FloorRelayArgs),
    /// Load-test a running switchboard with many concurrent OpenAI SIP calls
    /// (this process plays OpenAI: webhooks, call controls, sidebands).
    SipLoadtest(sip_loadtest::SipLoadtestArgs),
}

/// Runs `f` on a connection to the configured database (migrated first),
/// closing the pool afterwards whatever `f` answers.
pub fn with_database<T>(
    config: &crate::config::Config,
    f: impl FnOnce(&mut crate::store::DbConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    use anyhow::Context as _;
    let (pool, link, _) = crate::app::migrate(config).context("opening the database")?;
    let result = pool
        .get()
        .context("database connection")
        .and_then(|mut conn| f(&mut conn));
    link.close(crate::app::POOL_CLOSE_TIMEOUT);
    drop(pool);
    result
}
