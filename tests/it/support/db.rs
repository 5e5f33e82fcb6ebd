//! Fresh databases for integration tests: a new SQLite file in a temporary
//! directory, or a new PostgreSQL schema per test on the server named by
//! `SWITCHBOARD_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! PostgreSQL tests never skip: an unreachable server is a test failure.

#![allow(dead_code)]

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// Environment variable naming the PostgreSQL server used by tests.
pub const PG_URL_ENV: &str = "SWITCHBOARD_TEST_PG_URL";
/// Server used when [`PG_URL_ENV`] is unset.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A `sqlite://` URL for a new, not yet existing database file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    let file = dir.join(format!("switchboard-{}.db", uuid::Uuid::new_v4().simple()));
    format!("sqlite://{}", file.display())
}

fn base_pg_url() -> String {
    std::env::var(PG_URL_ENV).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

fn admin_connection(base: &str) -> PgConnection {
    PgConnection::establish(base).unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is required for these tests and is unreachable at {base}: {err}. \
             Start it, or point {PG_URL_ENV} at a server where this user may CREATE SCHEMA."
        )
    })
}

/// A fresh PostgreSQL schema `sb_<uuid>` on the test server, dropped with
/// everything in it when this value is dropped — after a passing test and after
/// a panicking one alike (like crates.io's `TestDatabase`).
///
/// Connections made with [`PgSchema::url`] see this schema alone
/// (`options=-c search_path=sb_<uuid>`).
pub struct PgSchema {
    name: String,
    url: String,
}

impl PgSchema {
    /// Creates the schema.
    ///
    /// Panics with a clear message if PostgreSQL is unreachable or the schema
    /// cannot be created.
    pub fn new() -> PgSchema {
        let base = base_pg_url();
        let name = format!("sb_{}", uuid::Uuid::new_v4().simple());
        admin_connection(&base)
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap_or_else(|err| panic!("cannot create schema {name} on {base}: {err}"));
        // libpq URI: percent-encoded `-c search_path=<schema>` (space %20, '=' %3D).
        let options = format!("options=-c%20search_path%3D{name}");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}{options}");
        PgSchema { name, url }
    }

    /// The schema's name, `sb_<uuid>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL whose connections use this schema alone.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgSchema {
    /// Drops the schema. Never panics (a panic while a failed test unwinds would
    /// abort the run): a failure is printed. The lock timeout keeps a connection
    /// still inside a transaction from holding the test up forever.
    fn drop(&mut self) {
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        let dropped = match PgConnection::establish(&base_pg_url()) {
            Ok(mut conn) => conn.batch_execute(&sql).map_err(|err| err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        if let Err(err) = dropped {
            eprintln!("warning: cannot drop test schema {}: {err}", self.name);
        }
    }
}

/// Whether a schema named `name` exists on the test server.
pub fn pg_schema_exists(name: &str) -> bool {
    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let count: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = $1",
    )
    .bind::<Text, _>(name)
    .get_result(&mut admin_connection(&base_pg_url()))
    .unwrap_or_else(|err| panic!("cannot list schemas: {err}"));
    count.n == 1
}
