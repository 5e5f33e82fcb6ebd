//! `switchboard purge [--dry-run]`: applies every tenant's retention policy
//! now — the pass the server runs hourly — or, with `--dry-run`, prints what
//! it would remove and changes nothing. One line per tenant with a policy.

use chrono::Utc;
use clap::Args;

use crate::config::Config;
use crate::retention::purge_tenants;
use crate::store::retention::Outcome;

/// `switchboard purge …`.
#[derive(Args, Debug)]
pub struct PurgeArgs {
    /// Print what would be purged; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the purge; the lines to print.
///
/// Errors: the database's.
pub fn run(config: &Config, args: PurgeArgs) -> anyhow::Result<Vec<String>> {
    let now = Utc::now().naive_utc();
    super::with_database(config, |conn| {
        let done = purge_tenants(
            conn,
            &config.tenants,
            &config.recording.dir,
            now,
            args.dry_run,
        )?;
        let verb = if args.dry_run {
            "would purge"
        } else {
            "purged"
        };
        let mut lines: Vec<String> = done
            .into_iter()
            .map(|(tenant, outcome)| match outcome {
                Outcome::Done(purged) => format!("{tenant}: {verb} {}", purged.summary()),
                Outcome::Busy => format!("{tenant}: skipped, another node is purging it now"),
            })
            .collect();
        if lines.is_empty() {
            lines.push("no tenant sets retention_days or retention_days_summary".into());
        }
        Ok(lines)
    })
}
