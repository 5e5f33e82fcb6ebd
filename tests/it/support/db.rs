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

/// Create an empty schema `sb_<uuid>` on the test server and return a URL
/// whose connections use it alone (`options=-c search_path=sb_<uuid>`).
///
/// Panics with a clear message if PostgreSQL is unreachable or the schema
/// cannot be created.
pub fn fresh_pg_url() -> String {
    let base = base_pg_url();
    let schema = format!("sb_{}", uuid::Uuid::new_v4().simple());
    admin_connection(&base)
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap_or_else(|err| panic!("cannot create schema {schema} on {base}: {err}"));
    // libpq URI: percent-encoded `-c search_path=<schema>` (space %20, '=' %3D).
    let options = format!("options=-c%20search_path%3D{schema}");
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{options}")
}

/// Drop the schema a [`fresh_pg_url`] URL points at, with everything in it.
pub fn drop_pg_schema(url: &str) {
    let Some(schema) = url
        .rsplit("search_path%3D")
        .next()
        .filter(|s| s.starts_with("sb_"))
    else {
        panic!("not a fresh_pg_url URL: {url}");
    };
    let schema: String = schema
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    admin_connection(&base_pg_url())
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap_or_else(|err| panic!("cannot drop schema {schema}: {err}"));
}
