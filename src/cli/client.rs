//! `switchboard client add|revoke|list`: manage the Node.js clients allowed on the
//! `/supervisor` gateway. `add` prints the new token once, or (with
//! `--token-from-env VAR`) takes the token an existing deployment already holds
//! in its environment; either way only its hash is stored.

use anyhow::Context;
use chrono::{Duration, Utc};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::messaging::tokens;
use crate::store::node_clients;

/// `switchboard client …`.
#[derive(Args, Debug)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// What to do with Node clients.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create a client for one or more tenants and print its token (shown once).
    Add {
        /// Tenant id the client serves; repeat for several.
        #[arg(long = "tenant", required = true)]
        tenants: Vec<String>,
        /// A name for operators (default: node-client).
        #[arg(long, default_value = "node-client")]
        name: String,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Use the token held in this environment variable (e.g. SUPERVISOR_TOKEN,
        /// which existing webhook servers read) instead of generating one; it is
        /// stored hashed and not printed. At least 16 characters, no whitespace.
        #[arg(long, value_name = "VAR")]
        token_from_env: Option<String>,
    },
    /// Revoke a client by id; its connections are refused from now on.
    Revoke {
        /// The client id printed by `add` or `list`.
        id: String,
    },
    /// List clients (never tokens).
    List,
}

/// Runs a `client` subcommand against the configured database.
pub fn run(config: &Config, args: ClientArgs) -> anyhow::Result<()> {
    super::with_database(config, |conn| run_on(config, args, conn))
}

/// [`run`] on the opened database.
fn run_on(
    config: &Config,
    args: ClientArgs,
    conn: &mut crate::store::DbConnection,
) -> anyhow::Result<()> {
    match args.command {
        ClientCommand::Add {
            tenants,
            name,
            expires_in_days,
            token_from_env,
        } => {
            for t in &tenants {
                if !config.tenants.iter().any(|c| &c.id == t) {
                    anyhow::bail!("no tenant {t:?} in the configuration");
                }
            }
            let expires_at =
                expires_in_days.map(|d| (Utc::now() + Duration::days(i64::from(d))).naive_utc());
            match token_from_env {
                Some(var) => {
                    let token = std::env::var(&var)
                        .ok()
                        .filter(|t| !t.is_empty())
                        .with_context(|| {
                            format!("{var} is not set (or empty) in the environment")
                        })?;
                    let row =
                        tokens::create_client_with_token(conn, &name, &tenants, expires_at, &token)
                            .with_context(|| format!("the token in {var}"))?;
                    eprintln!(
                        "client {} ({}) for {} uses the token in {var} (stored hashed)",
                        row.id,
                        row.name,
                        tenants.join(", ")
                    );
                    println!("{}", row.id);
                }
                None => {
                    let (row, token) = tokens::create_client(conn, &name, &tenants, expires_at)
                        .context("storing the client")?;
                    eprintln!(
                        "client {} ({}) for {}; the token is shown once:",
                        row.id,
                        row.name,
                        tenants.join(", ")
                    );
                    println!("{token}");
                }
            }
        }
        ClientCommand::Revoke { id } => {
            if node_clients::revoke(conn, &id, Utc::now().naive_utc())? {
                println!("revoked {id}");
            } else {
                anyhow::bail!("no active client {id}");
            }
        }
        ClientCommand::List => {
            for c in node_clients::all(conn)? {
                let state = match (c.revoked_at, c.expires_at) {
                    (Some(at), _) => format!("revoked {at}"),
                    (None, Some(at)) => format!("expires {at}"),
                    (None, None) => "active".into(),
                };
                println!("{}\t{}\t{}\t{}", c.id, c.name, c.tenant_ids, state);
            }
        }
    }
    Ok(())
}
