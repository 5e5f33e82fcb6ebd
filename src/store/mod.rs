//! Persistence for switchboard: one Diesel schema ([`schema`]) and one set of
//! row types ([`models`]) serve SQLite (the embedded default, a file under
//! `data/`) and PostgreSQL (the scale-out backend) through the
//! [`DbConnection`] multi-connection, pooled with r2d2 ([`db::connect`]).
//! Query modules named after the domain ([`calls`], [`transcripts`],
//! [`tool_invocations`], [`tenants`], [`customers`], [`appointments`],
//! [`caller_messages`], [`text_messages`], [`node_clients`], [`outbox`],
//! [`notifications`], [`users`], [`api_tokens`], [`audit`], [`calendar`]) are plain functions over `&mut DbConnection`; actors
//! never call them on their own thread but send fire-and-forget messages to
//! the [`writer::Store`] actor, which batches them off the hot path.

pub mod api_tokens;
pub mod appointments;
pub mod audit;
pub mod batch;
pub mod calendar;
pub mod caller_messages;
pub mod calls;
pub mod customers;
pub mod db;
pub mod erasure;
pub mod files;
pub mod models;
pub mod node_clients;
pub mod notifications;
pub mod outbox;
pub mod retention;
pub mod schema;
pub mod spool;
pub mod tenants;
pub mod text_messages;
pub mod tool_invocations;
pub mod transcripts;
pub mod users;
pub mod voicemails;
pub mod webhook_receipts;
pub mod writer;

pub use db::{
    backend_name, blocking, connect, run_migrations, DbConnection, Pool, PooledConnection,
};
pub use models::*;
pub use writer::{
    Flush, RecordCallEnded, RecordCallRefused, RecordCallStarted, RecordToolInvocation,
    RecordTranscript, Stats, Store, StoreStats,
};

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening a database connection failed (server unreachable, bad
    /// credentials, unwritable SQLite file, …).
    #[error("database connection failed: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// The r2d2 pool could not hand out a connection within its timeout.
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A query failed for a reason other than a unique violation.
    #[error("database query failed: {0}")]
    Query(DieselError),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database URL names neither PostgreSQL nor SQLite, or is malformed.
    #[error("unsupported database url: {0}")]
    UnsupportedUrl(String),
    /// A unique constraint rejected the write (for example a second booking
    /// of an already booked slot); carries the database's message.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write-behind batch of the [`Store`] actor failed; its writes stay
    /// queued and are retried on the next tick. Carries the cause.
    #[error("write-behind batch failed: {0}")]
    BatchFailed(String),
    /// The outage spool file could not be read, written, synced or emptied.
    #[error("spool {path}: {source}")]
    Spool {
        /// The spool file.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Creating the directory for a SQLite file failed.
    #[error("cannot create database directory {path}: {source}")]
    Io {
        /// The directory that could not be created.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the error says only that the database cannot be reached now
    /// (no connection within the pool's timeout, a connection lost): the
    /// pool's [`db::Link`] logs such an outage once, so callers that retry
    /// on their own schedule log these at debug level.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Pool(_)
                | StoreError::Connection(_)
                | StoreError::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                    _
                ))
        )
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_owned())
            }
            other => StoreError::Query(other),
        }
    }
}
