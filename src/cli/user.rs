//! `switchboard user add|list|remove|set-password`: the people who sign in to
//! the dashboard. A password is read from an environment variable, never
//! from the command line (it would land in the shell history and `ps`), and
//! stored as Argon2id. Each change is written to the audit log as done by the
//! command line.

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};

use crate::accounts::audit::{self, Change, Who};
use crate::accounts::{users, Role};
use crate::config::Config;
use crate::store::users as stored;

/// `switchboard user …`.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
}

/// What to do with users.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a person: owner or staff of one tenant, or admin of the whole server.
    Add {
        #[arg(long)]
        email: String,
        /// The tenant (owner and staff); none for an admin.
        #[arg(long)]
        tenant: Option<String>,
        /// owner, staff or admin.
        #[arg(long)]
        role: Role,
        /// The environment variable holding the password (at least 10 characters).
        #[arg(long, value_name = "VAR")]
        password_from_env: String,
    },
    /// List people (never passwords).
    List,
    /// Remove a person; their sessions end at once.
    Remove {
        #[arg(long)]
        email: String,
    },
    /// Replace a person's password; their sessions end at once.
    SetPassword {
        #[arg(long)]
        email: String,
        /// The environment variable holding the new password.
        #[arg(long, value_name = "VAR")]
        password_from_env: String,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &[Role::Owner, Role::Staff, Role::Admin]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// The password in environment variable `var`.
fn password_from(var: &str) -> anyhow::Result<String> {
    std::env::var(var)
        .ok()
        .filter(|p| !p.is_empty())
        .with_context(|| format!("{var} is not set (or empty) in the environment"))
}

/// Runs a `user` subcommand against the configured database.
pub fn run(config: &Config, args: UserArgs) -> anyhow::Result<()> {
    super::with_database(config, |conn| {
        let who = Who::command_line();
        match args.command {
            UserCommand::Add {
                email,
                tenant,
                role,
                password_from_env,
            } => {
                let password = password_from(&password_from_env)?;
                let known: Vec<String> = config.tenants.iter().map(|t| t.id.clone()).collect();
                let now = Utc::now().naive_utc();
                let user = users::add(
                    conn,
                    &email,
                    tenant.as_deref(),
                    role,
                    &password,
                    &known,
                    now,
                )?;
                let change =
                    Change::new("user.added", user.tenant_id.as_deref(), Some(&user.email))
                        .detail(role.as_str());
                audit::record(conn, &who, change)?;
                println!("added {} ({})", user.email, role.as_str());
            }
            UserCommand::List => {
                for u in stored::all(conn)? {
                    let tenant = u.tenant_id.as_deref().unwrap_or("*");
                    println!("{}\t{}\t{}\t{}", u.email, u.role, tenant, u.created_at);
                }
            }
            UserCommand::Remove { email } => {
                let email = users::normalise_email(&email)?;
                let Some(user) = stored::remove(conn, &email)? else {
                    anyhow::bail!("no account has the email {email}");
                };
                let change = Change::new("user.removed", user.tenant_id.as_deref(), Some(&email));
                audit::record(conn, &who, change)?;
                println!("removed {email}");
            }
            UserCommand::SetPassword {
                email,
                password_from_env,
            } => {
                let password = password_from(&password_from_env)?;
                let user = users::set_password(conn, &email, &password)?;
                let change = Change::new(
                    "user.password_set",
                    user.tenant_id.as_deref(),
                    Some(&user.email),
                );
                audit::record(conn, &who, change)?;
                println!("password set for {}; their sessions have ended", user.email);
            }
        }
        Ok(())
    })
}
