//! The database connection, pool and migrations. [`DbConnection`] is a Diesel
//! multi-connection over SQLite and PostgreSQL, so the one schema and one set
//! of models work on both; [`connect`] picks the backend from the URL
//! (`postgres://`/`postgresql://` or a SQLite path) and builds an r2d2 pool
//! whose SQLite connections are tuned for a concurrent, durable write-ahead
//! log; [`run_migrations`] applies the embedded migration set that matches.

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;

/// Migrations for SQLite, from `migrations/sqlite`.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Migrations for PostgreSQL, from `migrations/postgres`; same tables and
/// columns as [`SQLITE_MIGRATIONS`].
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a pool checkout waits for a free or new connection.
const POOL_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-connection SQLite settings, applied to every pooled connection: wait
/// up to 5000 ms for a lock instead of failing at once with `SQLITE_BUSY`
/// (first, so the statements after it wait too), enforce foreign keys (off by
/// default in SQLite), and fsync at checkpoints only (durable across process
/// crashes in WAL mode). The write-ahead log itself is a property of the file,
/// set once by [`connect`] before the pool exists ([`SQLITE_WAL`]).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = NORMAL;";

/// Switches the file to write-ahead logging (readers do not block the
/// writer). The mode persists in the file, so it is set once on the first
/// connection; switching needs an exclusive lock, which the pool's connections,
/// opened in parallel, would otherwise fight over (`database is locked`).
const SQLITE_WAL: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;";

/// A connection to either backend. Queries written once against
/// [`super::schema`] run on both; match on the variant for backend-specific
/// SQL (upserts, which the multi-backend cannot express).
///
/// PostgreSQL is declared first: the derived `establish` tries variants in
/// order, and SQLite accepts almost any string as a file path.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// A PostgreSQL server.
    Pg(PgConnection),
    /// An SQLite file (bundled libsqlite3).
    Sqlite(SqliteConnection),
}

/// Run `$body` with `$c` bound to the inner connection of either backend;
/// for SQL the multi-backend cannot express (`ON CONFLICT` upserts). The body
/// is type-checked once per backend.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Pg($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// The shared connection pool.
pub type Pool = r2d2::Pool<ConnectionManager<DbConnection>>;
/// A connection checked out of [`Pool`]; derefs to [`DbConnection`].
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager<DbConnection>>;

/// Which backend a URL selects, and the connection string to give it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Postgres(String),
    /// An SQLite `file:` URI with an absolute path (see [`sqlite_target`]).
    Sqlite(String),
}

/// Classify a database URL: `postgres://…`/`postgresql://…` → PostgreSQL;
/// `sqlite://PATH`, `sqlite:PATH` or a plain path → an SQLite file.
fn parse_url(url: &str) -> Result<Target, StoreError> {
    let url = url.trim();
    if crate::config::is_postgres_url(url) {
        return Ok(Target::Postgres(url.to_owned()));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    } else {
        url
    };
    if path.is_empty() || path.contains('?') || path.contains('#') {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    Ok(Target::Sqlite(path.to_owned()))
}

/// Create the SQLite file's parent directory and return a `file:` URI for it.
///
/// The multi-connection's `establish` tries each backend in declaration
/// order; a `file:` URI is rejected by libpq at once (no network) and opened
/// by SQLite, so the pool always lands on the intended backend.
fn sqlite_target(path: &str) -> Result<String, StoreError> {
    let path = Path::new(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let absolute = std::path::absolute(path).map_err(|source| StoreError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = absolute.to_string_lossy();
    // Percent-encode the characters that carry meaning in an SQLite URI.
    let mut encoded = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '%' => encoded.push_str("%25"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    Ok(format!("file:{encoded}"))
}

/// Applies [`SQLITE_PRAGMAS`] to every new SQLite connection of the pool.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(conn) = conn {
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Open a pool of at most `max_size` connections to `url`.
///
/// `url`: `postgres://…` or `postgresql://…` for PostgreSQL; `sqlite://PATH`,
/// `sqlite:PATH` or a plain `PATH` for an SQLite file, whose parent
/// directories are created. One connection is opened before returning, so a
/// bad URL or unreachable server fails here; on SQLite it switches the file to
/// WAL before the pool opens its own connections.
///
/// Errors: [`StoreError::UnsupportedUrl`] for any other scheme,
/// [`StoreError::Io`] if the SQLite directory cannot be created,
/// [`StoreError::Connection`] if the first connection fails (the backend's
/// own message), [`StoreError::Pool`] if the pool cannot be built.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, StoreError> {
    let manager_url = match parse_url(url)? {
        Target::Postgres(url) => {
            // Surface PostgreSQL's own error: the multi-connection's
            // `establish` reports only a generic failure.
            PgConnection::establish(&url)?;
            url
        }
        Target::Sqlite(path) => {
            let uri = sqlite_target(&path)?;
            let mut first = SqliteConnection::establish(&uri)?;
            first.batch_execute(SQLITE_WAL)?;
            uri
        }
    };
    let pool = r2d2::Pool::builder()
        .max_size(max_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(POOL_CONNECTION_TIMEOUT)
        .connection_customizer(Box::new(SqlitePragmas))
        .build(ConnectionManager::<DbConnection>::new(manager_url))?;
    Ok(pool)
}

/// Apply the pending embedded migrations of the pool's backend, returning
/// the versions applied now (empty when the schema is already current).
///
/// Errors: [`StoreError::Pool`] if no connection is available,
/// [`StoreError::Migration`] if a migration fails (it is rolled back).
pub fn run_migrations(pool: &Pool) -> Result<Vec<String>, StoreError> {
    let mut conn = pool.get()?;
    let applied = match &mut *conn {
        DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConnection::Pg(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(|err| StoreError::Migration(err.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// `"sqlite"` or `"postgres"`, the backend the pool connects to; `"unknown"`
/// if no connection can be checked out.
pub fn backend_name(pool: &Pool) -> &'static str {
    match pool.get().as_deref() {
        Ok(DbConnection::Sqlite(_)) => "sqlite",
        Ok(DbConnection::Pg(_)) => "postgres",
        Err(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_schemes_select_postgres() {
        for url in [
            "postgres://u@h:5432/db",
            "postgresql://u@h/db?options=-c%20search_path%3Dx",
        ] {
            assert_eq!(parse_url(url).unwrap(), Target::Postgres(url.to_owned()));
        }
    }

    #[test]
    fn sqlite_forms_select_the_same_file() {
        for url in ["sqlite://data/sb.db", "sqlite:data/sb.db", "data/sb.db"] {
            assert_eq!(
                parse_url(url).unwrap(),
                Target::Sqlite("data/sb.db".to_owned())
            );
        }
        assert_eq!(
            parse_url("sqlite:///var/lib/sb.db").unwrap(),
            Target::Sqlite("/var/lib/sb.db".to_owned())
        );
    }

    #[test]
    fn other_schemes_are_unsupported() {
        for url in ["mysql://u@h/db", "sqlite://", "", "sqlite:x.db?mode=ro"] {
            assert!(
                matches!(parse_url(url), Err(StoreError::UnsupportedUrl(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn sqlite_connect_creates_parent_dirs_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/sb.db");
        let pool = connect(path.to_str().unwrap(), 2).unwrap();
        assert!(path.exists());
        assert_eq!(backend_name(&pool), "sqlite");
        let mut conn = pool.get().unwrap();
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        use diesel::RunQueryDsl;
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
    }
}
