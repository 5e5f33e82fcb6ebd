//! `switchboard erase --tenant T --phone P`: erases one caller of one tenant
//! (a data-subject request), as `DELETE /api/callers/{phone}` does: what goes
//! and what stays is [`crate::store::erasure`]. Prints the counts and files
//! them in the audit log (never the number).

use clap::Args;

use crate::accounts::audit::{self, Change, Who};
use crate::config::Config;
use crate::store::erasure::erase_caller;

/// `switchboard erase …`.
#[derive(Args, Debug)]
pub struct EraseArgs {
    /// The tenant id.
    #[arg(long)]
    pub tenant: String,
    /// The caller's number, E.164 (`+15550100001`).
    #[arg(long)]
    pub phone: String,
}

/// Erases the caller; the line to print (the counts).
///
/// Errors: an unknown tenant, a number that is not E.164, the database's.
pub fn run(config: &Config, args: EraseArgs) -> anyhow::Result<String> {
    if !config.tenants.iter().any(|t| t.id == args.tenant) {
        anyhow::bail!("no tenant {:?} in the configuration", args.tenant);
    }
    let phone = crate::tools::args::e164("phone", &args.phone)?;
    super::with_database(config, |conn| {
        let erased = erase_caller(conn, &args.tenant, &phone)?;
        crate::store::files::remove_under(&config.recording.dir, &erased.files);
        audit::record(
            conn,
            &Who::command_line(),
            Change::new("caller.erase", Some(&args.tenant), None).detail(erased.summary()),
        )?;
        Ok(format!("erased: {}", erased.summary()))
    })
}
