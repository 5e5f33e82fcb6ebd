//! `[database]`: where rows are kept (SQLite or PostgreSQL) and the outage
//! spool, with the defaults beside the struct.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[database]`: SQLite file path / `sqlite://PATH`, or a `postgres://` URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://…`/`postgresql://…`, or an SQLite file as `PATH`,
    /// `sqlite:PATH` or `sqlite://PATH` (a relative `PATH` resolves against the
    /// config file's folder).
    pub url: String,
    /// r2d2 pool size.
    pub pool_size: u32,
    /// Append-only outage spool (JSON lines): batches the database cannot
    /// take are written here and replayed in order when it is back, and at
    /// start-up. Empty: no spool (failed batches wait in memory). Relative:
    /// against the config file's folder.
    pub spool_file: PathBuf,
    /// Seconds between attempts to replay a non-empty spool.
    pub spool_replay_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "data/switchboard.db".into(),
            pool_size: 8,
            spool_file: "data/spool.jsonl".into(),
            spool_replay_secs: 2,
        }
    }
}

impl DatabaseConfig {
    /// Whether `url` names a PostgreSQL server (`postgres://…`, `postgresql://…`).
    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.url)
    }
}

/// Whether a `database.url` names a PostgreSQL server rather than an SQLite file.
pub fn is_postgres_url(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` with a relative SQLite path made absolute against `dir`, keeping its
/// form (`PATH`, `sqlite:PATH`, `sqlite://PATH`); PostgreSQL and other URLs
/// unchanged (an unsupported scheme is reported when the database opens).
pub(super) fn resolve_sqlite_url(url: &str, dir: &Path) -> String {
    let trimmed = url.trim();
    let (prefix, path) = if let Some(rest) = trimmed.strip_prefix("sqlite://") {
        ("sqlite://", rest)
    } else if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        ("sqlite:", rest)
    } else {
        ("", trimmed)
    };
    if path.is_empty() || path.contains("://") || Path::new(path).is_absolute() {
        return url.to_string();
    }
    format!("{prefix}{}", dir.join(path).display())
}
