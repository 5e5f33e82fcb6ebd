//! The `switchboard` binary: CLI glue around the library (anyhow lives here only).

use anyhow::Context;
use clap::Parser;

use switchboard::cli::{self, Cli, Command};
use switchboard::config::Config;

fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Cli::parse();
    let config_path = args.config.exists().then_some(args.config.as_path());
    if config_path.is_none() && args.config.as_os_str() != "config.toml" {
        anyhow::bail!("config file {} not found", args.config.display());
    }
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let config = Config::load(config_path)?;
            let served = actix_rt::System::new().block_on(cli::serve::serve(config));
            if let Some(refused) = served
                .as_ref()
                .err()
                .and_then(|e| e.downcast_ref::<switchboard::exposure::Refused>())
            {
                // The start-up audit: one line, no error chain or backtrace.
                log::error!("{refused}");
                std::process::exit(2);
            }
            served
        }
        Command::Migrate => {
            let config = Config::load(config_path)?;
            let (_, applied) = switchboard::app::migrate(&config).context("migrating")?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::Client(client) => cli::client::run(&Config::load(config_path)?, client),
        Command::Call(call) => actix_rt::System::new().block_on(cli::call::run(call)),
        Command::SimModel(args) => {
            let config = Config::load(config_path)?;
            actix_rt::System::new().block_on(cli::sim_model::run(args, &config))
        }
        Command::Loadtest(args) => {
            if !actix_rt::System::new().block_on(cli::loadtest::run(args))? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::FloorRelay(args) => actix_rt::System::new().block_on(cli::floor_relay::run(args)),
    }
}
