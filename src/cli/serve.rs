//! `switchboard serve`: start the server and drain gracefully on SIGTERM/SIGINT.

use std::path::Path;
use std::time::Duration;

use std::io::Write as _;

use anyhow::Context;
use rand::RngCore;

use crate::app;
use crate::config::Config;
use crate::exposure;
use crate::store::files;

/// Loads the admin token from `path` (`server.admin_token_file`), creating it
/// (mode 0600 from the start, with its folder 0700) with a random value when
/// absent. An existing file its group or others can read is used, with a
/// warning. Used only when `SWITCHBOARD_SERVER__ADMIN_TOKEN` is unset.
pub fn admin_token_from_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let token = existing.trim().to_string();
        if !token.is_empty() {
            if files::readable_by_others(path) {
                log::warn!(
                    "{}: the admin token file is readable by its group or others; chmod 600 it",
                    path.display()
                );
            }
            return Ok(token);
        }
        // Present but empty: replaced by a new one.
        std::fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        files::create_private_dir_all(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file =
        files::create_private_new(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(token.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(token)
}

/// How many people can sign in, for the exposure audit. Read before
/// `app::start`, which runs the migrations once under its lock: a database
/// that cannot be opened yet, or has no `users` table yet, has no accounts
/// (`app::start` then reports what is wrong with it, naming its key).
fn count_accounts(config: &Config) -> i64 {
    let Ok((pool, link)) = crate::store::db::open(&config.database.url, 1) else {
        return 0;
    };
    let count = pool
        .get()
        .ok()
        .and_then(|mut conn| crate::store::users::count(&mut conn).ok())
        .unwrap_or(0);
    link.close(app::POOL_CLOSE_TIMEOUT);
    drop(pool);
    count
}

/// Runs the server until SIGTERM or SIGINT, then drains.
///
/// Errors: [`exposure::Refused`] (bare, without context, so `main` prints its
/// one line) when the start-up audit finds doors open that may not be; any
/// other start-up failure.
pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    if config
        .server
        .admin_token
        .as_deref()
        .is_none_or(str::is_empty)
    {
        let file = config.server.admin_token_file.clone();
        let token = admin_token_from_file(&file).context("server.admin_token_file")?;
        config.server.admin_token = Some(token);
        log::info!("admin token: generated, stored in {}", file.display());
    }
    if config.jambonz_closed() {
        log::warn!(
            "/jambonz is closed: a model key is configured and jambonz has no credentials \
             (set jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD to serve jambonz calls)"
        );
    }
    let accounts = if exposure::counts_accounts(&config) {
        count_accounts(&config)
    } else {
        0
    };
    if let Some(warning) = exposure::audit(&config, accounts).verdict()? {
        log::warn!("{warning}");
    }
    let drain = Duration::from_secs(config.server.drain_timeout_secs);
    let running = app::start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT: draining"),
        _ = term.recv() => log::info!("SIGTERM: draining"),
    }
    let link = running.link.clone();
    running.shutdown(drain).await;
    // Every connection is opened by now; none is opened after this (the
    // process exits next, and a pool thread inside libpq then would crash it).
    link.close(app::POOL_CLOSE_TIMEOUT);
    log::info!("stopped");
    Ok(())
}
