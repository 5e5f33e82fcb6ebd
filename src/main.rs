//! The `switchboard` binary: CLI glue around the library (anyhow lives here only).
//!
//! A command that fails prints one line (`switchboard: …`, the error and its
//! causes) and exits 2 when it could not start — a configuration that does
//! not load, `serve` or `migrate` failing — or 1 when a client command fails
//! on the way (`call`, `loadtest`, …). No panic, no backtrace.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use switchboard::cli::{self, Cli, Command};
use switchboard::config::{Config, ServerConfig};

/// Why the process stops early: the line to print and the exit code.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

/// Failures before the command could start: exit 2.
fn at_start(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

/// Failures of a client command on the way: exit 1.
fn on_the_way(error: anyhow::Error) -> Failure {
    Failure { code: 1, error }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("switchboard: {}", one_line(&failure.error));
            ExitCode::from(failure.code)
        }
    }
}

/// The error and its causes as one line, `outer: inner`: a cause whose text
/// the line already holds (the library's errors quote their source) is not
/// repeated, and line breaks inside a message (a backend's report) are folded.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(args: Cli) -> Result<ExitCode, Failure> {
    let config_path = args.config.exists().then_some(args.config.as_path());
    if config_path.is_none() && args.config.as_os_str() != "config.toml" {
        return Err(at_start(anyhow::anyhow!(
            "config file {} not found",
            args.config.display()
        )));
    }
    let load = |path: Option<&Path>| Config::load(path).map_err(at_start);
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = load(config_path)?;
            actix_rt::System::new()
                .block_on(cli::serve::serve(config))
                .map_err(at_start)?;
        }
        Command::Migrate => {
            let config = load(config_path)?;
            let (pool, link, applied) = switchboard::app::migrate(&config)
                .context("migrating")
                .map_err(at_start)?;
            link.close(switchboard::app::POOL_CLOSE_TIMEOUT);
            drop(pool);
            println!("{} migration(s) applied", applied.len());
        }
        Command::Client(client) => {
            cli::client::run(&load(config_path)?, client).map_err(on_the_way)?
        }
        Command::User(user) => cli::user::run(&load(config_path)?, user).map_err(on_the_way)?,
        Command::Token(token) => cli::token::run(&load(config_path)?, token).map_err(on_the_way)?,
        Command::Calendar(args) => {
            let url = cli::calendar::run(&load(config_path)?, args).map_err(on_the_way)?;
            println!("{url}");
        }
        Command::Purge(args) => {
            for line in cli::purge::run(&load(config_path)?, args).map_err(on_the_way)? {
                println!("{line}");
            }
        }
        Command::Erase(args) => {
            let line = cli::erase::run(&load(config_path)?, args).map_err(on_the_way)?;
            println!("{line}");
        }
        Command::Call(call) => {
            // The local server's token file, when there is a config; a config
            // that does not load is not this client's concern.
            let token_file = Config::load(config_path)
                .map(|c| c.server.admin_token_file)
                .unwrap_or_else(|_| ServerConfig::default().admin_token_file);
            actix_rt::System::new()
                .block_on(cli::call::run(call, &token_file))
                .map_err(on_the_way)?
        }
        Command::SimModel(args) => {
            let config = load(config_path)?;
            actix_rt::System::new()
                .block_on(cli::sim_model::run(args, &config))
                .map_err(at_start)?
        }
        Command::Loadtest(args) => {
            let passed = actix_rt::System::new()
                .block_on(cli::loadtest::run(args))
                .map_err(on_the_way)?;
            if !passed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::FloorRelay(args) => actix_rt::System::new()
            .block_on(cli::floor_relay::run(args))
            .map_err(on_the_way)?,
        Command::SipLoadtest(args) => {
            let passed = actix_rt::System::new()
                .block_on(cli::sip_loadtest::run(args))
                .map_err(on_the_way)?;
            if !passed {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
