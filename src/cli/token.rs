//! `switchboard token add|list|revoke`: integration tokens of one tenant.
//! `add` prints the token once; only its SHA-256 is kept. Each change is
//! written to the audit log as done by the command line.

use chrono::Utc;
use clap::{Args, Subcommand};

use crate::accounts::audit::{self, Change, Who};
use crate::accounts::tokens;
use crate::config::Config;
use crate::store::api_tokens;

/// `switchboard token …`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// What to do with integration tokens.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for one tenant and print it (shown once).
    Add {
        #[arg(long)]
        tenant: String,
        /// A name people recognise in the list and the audit log.
        #[arg(long)]
        name: String,
        /// Reads only: no change is accepted with it.
        #[arg(long)]
        read_only: bool,
    },
    /// List tokens with when they were created and last used (never the tokens).
    List,
    /// Revoke a token by id; it is refused from now on.
    Revoke {
        /// The id printed by `add` or `list` (`tok_…`).
        id: String,
    },
}

/// Runs a `token` subcommand against the configured database.
pub fn run(config: &Config, args: TokenArgs) -> anyhow::Result<()> {
    super::with_database(config, |conn| {
        let who = Who::command_line();
        match args.command {
            TokenCommand::Add {
                tenant,
                name,
                read_only,
            } => {
                if !config.tenants.iter().any(|t| t.id == tenant) {
                    anyhow::bail!("no tenant {tenant:?} in the configuration");
                }
                let (row, token) =
                    tokens::create(conn, &tenant, &name, read_only, Utc::now().naive_utc())?;
                let kind = if read_only { "read-only" } else { "read-write" };
                let change = Change::new("token.added", Some(&tenant), Some(&row.id))
                    .detail(format!("{name} ({kind})"));
                audit::record(conn, &who, change)?;
                eprintln!(
                    "token {} ({name}, {kind}) for {tenant}; shown once:",
                    row.id
                );
                println!("{token}");
            }
            TokenCommand::List => {
                for t in api_tokens::all(conn)? {
                    let state = match t.revoked_at {
                        Some(at) => format!("revoked {at}"),
                        None => "active".into(),
                    };
                    let used = t
                        .last_used_at
                        .map_or("never used".to_string(), |at| format!("last used {at}"));
                    let kind = if t.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    };
                    println!(
                        "{}\t{}\t{}\t{kind}\tcreated {}\t{used}\t{state}",
                        t.id, t.tenant_id, t.name, t.created_at
                    );
                }
            }
            TokenCommand::Revoke { id } => {
                let Some(row) = api_tokens::revoke(conn, &id, Utc::now().naive_utc())? else {
                    anyhow::bail!("no active token {id}");
                };
                let change =
                    Change::new("token.revoked", Some(&row.tenant_id), Some(&id)).detail(row.name);
                audit::record(conn, &who, change)?;
                println!("revoked {id}");
            }
        }
        Ok(())
    })
}
