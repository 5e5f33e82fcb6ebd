//! Retention: every hour each tenant's `retention_days` and
//! `retention_days_summary` are applied ([`crate::store::retention`] says
//! what goes). In a cluster every node tries and one does each tenant's
//! purge (a PostgreSQL advisory lock); `switchboard purge [--dry-run]` runs
//! or previews the same pass now.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{NaiveDateTime, Utc};

use crate::store::retention::{self, Outcome, Policy};
use crate::store::{blocking, files, DbConnection, Pool, StoreError};
use crate::tenant::TenantConfig;

/// How often the purge runs.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The tenant's policy.
pub fn policy(tenant: &TenantConfig) -> Policy {
    Policy {
        days: tenant.retention_days,
        summary_days: tenant.retention_days_summary,
    }
}

/// Whether any tenant has a policy (else the purge never needs to run).
pub fn any_policy(tenants: &[TenantConfig]) -> bool {
    tenants.iter().any(|t| policy(t) != Policy::default())
}

/// Applies every tenant's policy as of `now` on `conn`, tenants in order,
/// removing each tenant's expired recordings under `recordings` once its
/// transaction has committed; with `dry_run` only counts. Tenants without a
/// policy are left out.
///
/// Errors: the first tenant's purge that fails (earlier tenants stay purged).
pub fn purge_tenants(
    conn: &mut DbConnection,
    tenants: &[TenantConfig],
    recordings: &Path,
    now: NaiveDateTime,
    dry_run: bool,
) -> Result<Vec<(String, Outcome)>, StoreError> {
    let mut done = Vec::new();
    for tenant in tenants {
        let policy = policy(tenant);
        if policy == Policy::default() {
            continue;
        }
        let outcome = retention::purge(conn, &tenant.id, policy, now, dry_run)?;
        if let (Outcome::Done(purged), false) = (&outcome, dry_run) {
            files::remove_under(recordings, &purged.files);
        }
        done.push((tenant.id.clone(), outcome));
    }
    Ok(done)
}

/// Runs the purge once when started, then every [`PURGE_EVERY`].
pub struct Purger {
    pool: Pool,
    tenants: Arc<Vec<TenantConfig>>,
    /// `recording.dir`.
    recordings: Arc<PathBuf>,
    running: bool,
}

impl Purger {
    /// A purger of `tenants`' data in `pool` and their recordings under `recordings`.
    pub fn new(pool: Pool, tenants: Vec<TenantConfig>, recordings: PathBuf) -> Self {
        Purger {
            pool,
            tenants: Arc::new(tenants),
            recordings: Arc::new(recordings),
            running: false,
        }
    }

    fn kick(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let (pool, tenants) = (self.pool.clone(), self.tenants.clone());
        let recordings = self.recordings.clone();
        let pass = async move {
            let now = Utc::now().naive_utc();
            blocking(&pool, move |conn| {
                purge_tenants(conn, &tenants, &recordings, now, false)
            })
            .await
        };
        ctx.spawn(pass.into_actor(self).map(|result, act, _| {
            act.running = false;
            match result {
                Ok(done) => {
                    for (tenant, outcome) in done {
                        match outcome {
                            Outcome::Done(purged) if !purged.is_empty() => {
                                log::info!("tenant {tenant}: retention purged {}", purged.summary())
                            }
                            Outcome::Done(_) => {}
                            Outcome::Busy => log::debug!(
                                "tenant {tenant}: another node is running the retention purge"
                            ),
                        }
                    }
                }
                Err(e) => log::warn!("retention purge failed (tried again in an hour): {e}"),
            }
        }));
    }
}

impl Actor for Purger {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.kick(ctx);
        ctx.run_interval(PURGE_EVERY, |act, ctx| act.kick(ctx));
    }
}
