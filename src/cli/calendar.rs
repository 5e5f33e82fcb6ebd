//! `switchboard calendar feed-url --tenant T [--rotate]`: prints the whole URL
//! of a tenant's subscribable calendar feed (`{server.public_url}/calendar/T.ics?token=…`),
//! issuing its token the first time; `--rotate` replaces the token, and the
//! old URL stops working.

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};

use crate::calendar::feed::{feed_url, new_token};
use crate::config::Config;
use crate::store::calendar;

/// `switchboard calendar …`.
#[derive(Args, Debug)]
pub struct CalendarArgs {
    #[command(subcommand)]
    pub command: CalendarCommand,
}

/// What to do with tenants' calendar feeds.
#[derive(Subcommand, Debug)]
pub enum CalendarCommand {
    /// Print the URL of a tenant's calendar feed (issuing its token once).
    FeedUrl {
        /// The tenant id.
        #[arg(long)]
        tenant: String,
        /// Replace the token: the previous URL stops working.
        #[arg(long)]
        rotate: bool,
    },
}

/// Runs a `calendar` subcommand against the configured database; returns the
/// line to print.
pub fn run(config: &Config, args: CalendarArgs) -> anyhow::Result<String> {
    let (pool, link, _) = crate::app::migrate(config).context("opening the database")?;
    let result = run_on(config, args, &pool);
    link.close(crate::app::POOL_CLOSE_TIMEOUT);
    drop(pool);
    result
}

fn run_on(
    config: &Config,
    args: CalendarArgs,
    pool: &crate::store::Pool,
) -> anyhow::Result<String> {
    let mut conn = pool.get().context("database connection")?;
    match args.command {
        CalendarCommand::FeedUrl { tenant, rotate } => {
            if !config.tenants.iter().any(|t| t.id == tenant) {
                anyhow::bail!("no tenant {tenant:?} in the configuration");
            }
            if config.server.public_url.is_empty() {
                anyhow::bail!(
                    "server.public_url is not set: the feed URL must be one calendar apps can reach"
                );
            }
            let existing = calendar::feed_token(&mut conn, &tenant)?;
            let token = match existing {
                Some(token) if !rotate => token,
                _ => {
                    let token = new_token();
                    calendar::set_feed_token(&mut conn, &tenant, &token, Utc::now().naive_utc())?;
                    token
                }
            };
            let base = config.server.public_url.trim_end_matches('/');
            Ok(feed_url(base, &tenant, &token))
        }
    }
}
