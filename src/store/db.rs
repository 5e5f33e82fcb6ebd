//! The database connection, pool and migrations. [`DbConnection`] is a Diesel
//! multi-connection over SQLite and PostgreSQL, so the one schema and one set
//! of models work on both; [`connect`] picks the backend from the URL
//! (`postgres://`/`postgresql://` or a SQLite path) and builds an r2d2 pool
//! whose SQLite connections are tuned for a concurrent, durable write-ahead
//! log; [`run_migrations`] applies the embedded migration set that matches.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, R2D2Connection};
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
/// default in SQLite), fsync at checkpoints only (durable across process
/// crashes in WAL mode), and overwrite deleted content with zeros
/// (`secure_delete`: an erased caller leaves nothing in free pages). The
/// write-ahead log itself is a property of the file,
/// set once by [`connect`] before the pool exists ([`SQLITE_WAL`]).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = NORMAL; \
     PRAGMA secure_delete = ON;";

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

/// Runs `f` with a pooled connection on the blocking pool (never on an
/// actor's thread).
///
/// Errors: `f`'s, a pool timeout, or [`StoreError::BatchFailed`] when the
/// blocking task itself failed.
pub async fn blocking<T, F>(pool: &Pool, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| StoreError::BatchFailed(format!("blocking task: {e}")))?
}

/// The shared connection pool.
pub type Pool = r2d2::Pool<Manager>;
/// A connection checked out of [`Pool`]; derefs to [`DbConnection`].
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// How many threads open the pool's connections (r2d2's default).
const POOL_THREADS: usize = 3;

/// Which backend a URL selects, and the connection string to give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
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

/// Create the SQLite file (0600) and its folder (0700) and return a `file:` URI for it.
///
/// The multi-connection's `establish` tries each backend in declaration
/// order; a `file:` URI is rejected by libpq at once (no network) and opened
/// by SQLite, so the pool always lands on the intended backend.
fn sqlite_target(path: &str) -> Result<String, StoreError> {
    let path = Path::new(path);
    // Created here, mode 0600 in a 0700 folder, before SQLite opens it:
    // SQLite gives its -wal and -shm files the database file's mode.
    if path != Path::new(":memory:") {
        super::files::ensure_private_file(path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
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

/// Open a pool of at most `max_size` connections to `url`; see [`open`],
/// whose [`Link`] this drops (use [`open`] where the pool must be closed
/// before the process exits).
pub fn connect(url: &str, max_size: u32) -> Result<Pool, StoreError> {
    open(url, max_size).map(|(pool, _link)| pool)
}

/// Open a pool of at most `max_size` connections to `url`, and the [`Link`]
/// that reports its reachability and closes it.
///
/// `url`: `postgres://…` or `postgresql://…` for PostgreSQL; `sqlite://PATH`,
/// `sqlite:PATH` or a plain `PATH` for an SQLite file, whose parent
/// directories are created. One connection is opened before returning, so a
/// bad URL or unreachable server fails here; on SQLite it switches the file to
/// WAL before the pool opens its own connections.
///
/// Every connection is opened with the backend's own `establish` (never the
/// multi-connection's, whose failure says only "invalid connection url"), so
/// an error names its real cause; r2d2's connection errors go to the link
/// (one WARN per outage, see [`Link`]) instead of one ERROR line each.
///
/// Errors: [`StoreError::UnsupportedUrl`] for any other scheme,
/// [`StoreError::Io`] if the SQLite directory cannot be created,
/// [`StoreError::Connection`] if the first connection fails (the backend's
/// own message), [`StoreError::Pool`] if the pool cannot be built.
pub fn open(url: &str, max_size: u32) -> Result<(Pool, Arc<Link>), StoreError> {
    let (target, name) = match parse_url(url)? {
        Target::Postgres(url) => {
            PgConnection::establish(&url)?;
            let name = format!("PostgreSQL at {}", pg_host_port(&url));
            (Target::Postgres(url), name)
        }
        Target::Sqlite(path) => {
            let uri = sqlite_target(&path)?;
            let mut first = SqliteConnection::establish(&uri)?;
            first.batch_execute(SQLITE_WAL)?;
            (Target::Sqlite(uri), format!("SQLite file {path}"))
        }
    };
    let threads = Arc::new(
        scheduled_thread_pool::ScheduledThreadPool::builder()
            .num_threads(POOL_THREADS)
            .thread_name_pattern("r2d2-worker-{}")
            .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
            .build(),
    );
    let link = Arc::new(Link {
        name,
        state: Mutex::new(LinkState::default()),
        threads: Mutex::new(Some(threads.clone())),
    });
    let pool = r2d2::Pool::builder()
        .max_size(max_size.max(1))
        .min_idle(Some(1))
        .connection_timeout(POOL_CONNECTION_TIMEOUT)
        // No reaper: a broken connection is found at checkout (`is_valid`)
        // and dropped there; so the pool's threads only ever open
        // connections, which [`Link::close`] can wait for.
        .idle_timeout(None)
        .max_lifetime(None)
        .thread_pool(threads)
        .error_handler(Box::new(OutageLog(link.clone())))
        .connection_customizer(Box::new(SqlitePragmas))
        .build(Manager {
            target,
            link: link.clone(),
        })?;
    Ok((pool, link))
}

/// The pool's connection manager: opens each connection with its backend's
/// own `establish` and tells the [`Link`] how it went.
#[derive(Debug)]
pub struct Manager {
    target: Target,
    link: Arc<Link>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let _opening = self.link.enter()?;
        let conn = match &self.target {
            Target::Postgres(url) => PgConnection::establish(url).map(DbConnection::Pg),
            Target::Sqlite(uri) => SqliteConnection::establish(uri).map(DbConnection::Sqlite),
        }
        .map_err(diesel::r2d2::Error::ConnectionError)?;
        self.link.connected();
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// r2d2's connection errors, to the [`Link`] (r2d2's own handler logs every
/// failed attempt, twice a second through an outage).
#[derive(Debug)]
struct OutageLog(Arc<Link>);

impl r2d2::HandleError<diesel::r2d2::Error> for OutageLog {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        self.0.unreachable(&error.to_string());
    }
}

/// What a [`Link`] knows.
/// Causes a stopping server gives before it refuses connections.
const TRANSITIONAL: [&str; 3] = [
    "terminating connection due to administrator command",
    "the database system is shutting down",
    "server closed the connection unexpectedly",
];

/// An outage under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// Only a stopping server's last words seen so far: not logged yet.
    Unnamed,
    /// Logged, with its cause.
    Named,
}

#[derive(Debug, Default)]
struct LinkState {
    /// The outage under way, from the first failed connection until the
    /// spooled writes are replayed.
    down: Option<Outage>,
    /// A connection opened again since the outage began.
    reconnected: bool,
    /// Spooled writes replayed since the outage began.
    replayed: u64,
    /// [`Link::close`] was called: no connection is opened any more.
    closed: bool,
    /// Connections being opened now.
    opening: usize,
}

/// The pool's view of its database: whether it is reachable, logged once per
/// change (one WARN naming the cause when it becomes unreachable —
/// `PostgreSQL at 127.0.0.1:5432 unreachable: connection refused; writes go to
/// the spool` — and one INFO when it is back and the spool is replayed, with
/// how many writes were), and the pool's shutdown ([`Link::close`]).
pub struct Link {
    /// `PostgreSQL at HOST:PORT` or `SQLite file PATH`.
    name: String,
    state: Mutex<LinkState>,
    /// The threads that open the pool's connections, until [`Link::close`].
    threads: Mutex<Option<Arc<scheduled_thread_pool::ScheduledThreadPool>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .field("state", &*self.state())
            .finish_non_exhaustive()
    }
}

/// A connection being opened; counted until dropped.
struct Opening<'a>(&'a Link);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.state().opening -= 1;
    }
}

impl Link {
    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `PostgreSQL at HOST:PORT` or `SQLite file PATH`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether an outage is under way (from the first failed connection until
    /// the spooled writes are replayed).
    pub fn is_down(&self) -> bool {
        self.state().down.is_some()
    }

    fn enter(&self) -> Result<Opening<'_>, diesel::r2d2::Error> {
        let mut state = self.state();
        if state.closed {
            return Err(diesel::r2d2::Error::ConnectionError(
                diesel::ConnectionError::BadConnection("the pool is closed".to_owned()),
            ));
        }
        state.opening += 1;
        Ok(Opening(self))
    }

    fn connected(&self) {
        let mut state = self.state();
        if state.down.is_some() {
            state.reconnected = true;
        }
    }

    /// A connection could not be opened (`error`, the backend's message):
    /// the first failure of an outage is logged as one WARN, the rest at
    /// debug level.
    pub fn unreachable(&self, error: &str) {
        let mut state = self.state();
        if state.closed {
            return;
        }
        state.reconnected = false;
        let cause = short_cause(error);
        let transitional = TRANSITIONAL.iter().any(|t| cause.contains(t));
        match &state.down {
            // Named already; or still the server's last words (a stopping
            // server ends its sessions first, then refuses connections):
            // the WARN waits for the cause that lasts.
            Some(Outage::Named) => log::debug!("{}: {}", self.name, error.trim()),
            _ if transitional => {
                log::debug!("{}: {}", self.name, error.trim());
                if state.down.is_none() {
                    state.replayed = 0;
                }
                state.down = Some(Outage::Unnamed);
            }
            _ => {
                log::warn!("{} unreachable: {cause}; writes go to the spool", self.name);
                if state.down.is_none() {
                    state.replayed = 0;
                }
                state.down = Some(Outage::Named);
            }
        }
    }

    /// `writes` spooled writes were replayed into the database.
    pub fn replayed(&self, writes: u64) {
        self.state().replayed += writes;
    }

    /// Ends an outage once connections open again and nothing waits in the
    /// spool (`spool_empty`): one INFO line with the writes replayed. Called
    /// by the writer on its ticks.
    pub fn settle(&self, spool_empty: bool) {
        let mut state = self.state();
        if state.down.is_none() || !state.reconnected || !spool_empty {
            return;
        }
        state.down = None;
        state.reconnected = false;
        log::info!(
            "{} reachable again; {} spooled writes replayed",
            self.name,
            state.replayed
        );
    }

    /// Stop opening connections and wait (at most `timeout`) until none is
    /// being opened; after this no thread of the pool is inside the database
    /// client library, and dropping the last [`Pool`] handle closes every
    /// connection on the dropping thread. Call before the process exits with
    /// the pool's last handle still held; then drop it.
    pub fn close(&self, timeout: Duration) {
        self.state().closed = true;
        let threads = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(threads) = threads else {
            return;
        };
        // One job per thread, each holding its thread until all have started:
        // then every job the threads ran before (an `establish` in progress)
        // has returned.
        let barrier = Arc::new(std::sync::Barrier::new(POOL_THREADS));
        let (done, all_idle) = std::sync::mpsc::channel();
        for _ in 0..POOL_THREADS {
            let (barrier, done) = (barrier.clone(), done.clone());
            threads.execute(move || {
                barrier.wait();
                let _ = done.send(());
            });
        }
        let deadline = std::time::Instant::now() + timeout;
        for _ in 0..POOL_THREADS {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if all_idle.recv_timeout(left).is_err() {
                log::warn!(
                    "{}: a connection still opening after {} ms; exiting anyway",
                    self.name,
                    timeout.as_millis()
                );
                break;
            }
        }
        if self.state().opening > 0 {
            log::debug!("{}: connections still opening at close", self.name);
        }
    }
}

/// The cause in a connection error, short: `connection refused`,
/// `password authentication failed`, …, else its first line.
fn short_cause(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    for known in [
        "connection refused",
        "terminating connection due to administrator command",
        "server closed the connection unexpectedly",
        "no route to host",
        "network is unreachable",
        "timeout expired",
        "the database system is shutting down",
        "the database system is starting up",
        "password authentication failed",
        "does not exist",
        "too many clients",
        "could not translate host name",
    ] {
        if lower.contains(known) {
            return known.to_owned();
        }
    }
    error.lines().next().unwrap_or("").trim().to_owned()
}

/// `HOST:PORT` of a PostgreSQL URL (`postgres://user:pw@HOST:PORT/db?…`),
/// without the credentials; port 5432 when absent.
fn pg_host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return "localhost:5432".to_owned();
    }
    let has_port = match host.rfind(']') {
        Some(close) => host[close..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// The PostgreSQL advisory lock key every node takes around its migrations
/// (`pg_advisory_lock`, session level): "SWITCHBD" in ASCII. One fixed key
/// for every database and schema of a server, so nodes started together
/// migrate one after another instead of racing on the catalogue.
pub const MIGRATION_LOCK_KEY: i64 = 0x5357_4954_4348_4244;

/// Apply the pending embedded migrations of the pool's backend, returning
/// the versions applied now (empty when the schema is already current).
///
/// On PostgreSQL the migrations run under the advisory lock
/// [`MIGRATION_LOCK_KEY`]: a node that finds it held logs that it waits and
/// waits, then finds the schema current; so any number of nodes may start
/// together on an empty or older database. SQLite serialises writers with its
/// file lock (and `busy_timeout`).
///
/// Errors: [`StoreError::Pool`] if no connection is available,
/// [`StoreError::Migration`] if a migration fails (it is rolled back) or the
/// lock cannot be taken.
pub fn run_migrations(pool: &Pool) -> Result<Vec<String>, StoreError> {
    let mut conn = pool.get()?;
    let applied = match &mut *conn {
        DbConnection::Sqlite(conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|err| StoreError::Migration(err.to_string())),
        DbConnection::Pg(conn) => migrate_postgres_locked(conn),
    }?;
    Ok(applied)
}

/// [`POSTGRES_MIGRATIONS`] under the advisory lock; the lock is released
/// whatever the outcome (and by the server, should the connection drop).
fn migrate_postgres_locked(conn: &mut PgConnection) -> Result<Vec<String>, StoreError> {
    use diesel::sql_types::{BigInt, Bool};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Taken {
        #[diesel(sql_type = Bool)]
        taken: bool,
    }
    let lock_error = |err: diesel::result::Error| {
        StoreError::Migration(format!("advisory lock {MIGRATION_LOCK_KEY}: {err}"))
    };
    let first: Taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .get_result(conn)
        .map_err(lock_error)?;
    if !first.taken {
        log::info!("database: another node is migrating; waiting for its migration lock");
        let started = std::time::Instant::now();
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .execute(conn)
            .map_err(lock_error)?;
        log::info!(
            "database: migration lock taken after {} ms",
            started.elapsed().as_millis()
        );
    }
    let applied = conn
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|err| StoreError::Migration(err.to_string()));
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn);
    let applied = applied?;
    unlocked.map_err(lock_error)?;
    Ok(applied)
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
    fn host_and_port_are_named_without_credentials() {
        assert_eq!(
            pg_host_port("postgres://u:secret@db.example:6543/x"),
            "db.example:6543"
        );
        assert_eq!(
            pg_host_port("postgresql://u@10.0.0.1/db?sslmode=require"),
            "10.0.0.1:5432"
        );
        assert_eq!(pg_host_port("postgres://[::1]:5433/db"), "[::1]:5433");
        assert_eq!(pg_host_port("postgres:///db"), "localhost:5432");
    }

    #[test]
    fn the_cause_of_a_refused_connection_is_named() {
        let libpq = "connection to server at \"127.0.0.1\", port 5433 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n";
        assert_eq!(short_cause(libpq), "connection refused");
        assert_eq!(short_cause("something odd\nmore"), "something odd");
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
