//! Several nodes acting as one (docs/clustering.md). With
//! `[cluster] nats_url` set, every node shares one PostgreSQL database and one
//! NATS server with JetStream, through which it shares:
//!
//! - which nodes are alive ([`node`]: a key per node in the `<name>_nodes`
//!   bucket, refreshed every heartbeat; a node silent for `lease_secs` is dead
//!   and a survivor closes its calls as `interrupted`),
//! - the per-tenant admission cap ([`leases`]: one key per slot in
//!   `<name>_leases`, taken with compare-and-set, so concurrent admissions on
//!   different nodes never exceed `calls.max_calls_per_tenant`),
//! - the live-call registry ([`registry`]: a key per call in `<name>_calls`),
//! - live call events ([`events`]: `<name>.events.<tenant>.<call_id>`, so
//!   `/logs` on any node shows every node's calls),
//! - Node-client delivery ([`clients`]: which node holds each tenant's newest
//!   Node client, and a notice per stored `outbox` row, so a response stored
//!   on one node reaches the client connected to another).
//!
//! - the outage spool ([`spool`]: a JetStream stream `<name>_spool` holding
//!   the writes PostgreSQL could not take, replayed by any live node).
//!
//! Every key lives `lease_secs` unless its holder refreshes it (bucket
//! `max_age`), so nothing a dead node held outlives it; events and notices are
//! plain NATS messages ([`bus`]), never stored. Without `nats_url` none of
//! this exists and nothing needs NATS.

pub mod bus;
pub mod clients;
pub mod events;
pub mod leases;
pub mod node;
pub mod ops;
pub mod registry;
pub mod settings;
pub mod sign;
pub mod spool;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::config::{redact_url, ClusterConfig};

pub use leases::Lease;
pub use registry::LiveCallEntry;

/// Why the cluster bus could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached at start-up (`url` without its
    /// userinfo).
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        source: async_nats::ConnectError,
    },
    /// A credential or TLS file named in `[cluster]` could not be read.
    #[error("cluster.{key}: cannot read {path}: {message}")]
    Credentials {
        key: &'static str,
        path: String,
        message: String,
    },
    /// The cluster secret is missing (config validation normally catches it).
    #[error("cluster.secret: SWITCHBOARD_CLUSTER__SECRET is not set")]
    NoSecret,
    /// A JetStream key-value bucket could not be created or opened (is the
    /// server started with JetStream, `nats-server -js`?).
    #[error("JetStream bucket {bucket}: {message}")]
    Bucket { bucket: String, message: String },
    /// A key-value operation failed (NATS down, timeout).
    #[error("NATS {op} {key}: {message}")]
    Kv {
        op: &'static str,
        key: String,
        message: String,
    },
    /// A plain NATS publish or subscribe failed (connection closed, subject
    /// refused).
    #[error("NATS {op} on {subject}: {message}")]
    Bus {
        op: &'static str,
        subject: String,
        message: String,
    },
    /// A stored value was not the JSON this version writes.
    #[error("NATS value of {key}: {source}")]
    Value {
        key: String,
        source: serde_json::Error,
    },
}

impl ClusterError {
    /// `op` on `key` got no answer in time.
    pub fn timed_out(op: &'static str, key: &str) -> Self {
        Self::kv(op, key, "timed out")
    }

    fn kv(op: &'static str, key: &str, err: impl std::fmt::Display) -> Self {
        ClusterError::Kv {
            op,
            key: key.to_string(),
            message: err.to_string(),
        }
    }

    fn bus(op: &'static str, subject: &str, err: impl std::fmt::Display) -> Self {
        ClusterError::Bus {
            op,
            subject: subject.to_string(),
            message: err.to_string(),
        }
    }
}

/// One node's handle on the cluster bus; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    node_id: String,
    name: String,
    lease: Duration,
    heartbeat: Duration,
    request_timeout: Duration,
    signer: sign::Signer,
    nodes: kv::Store,
    calls: kv::Store,
    leases: kv::Store,
    /// What this node holds and refreshes every heartbeat: its calls'
    /// registry entries and admission leases, by call id.
    held: Mutex<std::collections::HashMap<String, node::Held>>,
}

impl Cluster {
    /// Connects to `config.nats_url` as `node_id` and opens (creating when
    /// absent) the three buckets with `max_age = lease_secs`.
    ///
    /// # Errors
    /// [`ClusterError::Connect`] when NATS cannot be reached;
    /// [`ClusterError::Bucket`] when JetStream is off or refuses a bucket.
    pub async fn connect(config: &ClusterConfig, node_id: &str) -> Result<Cluster, ClusterError> {
        let secret = config
            .secret
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(ClusterError::NoSecret)?;
        let options = connect_options(config)
            .await?
            .name(format!("switchboard {node_id}"))
            .connection_timeout(Duration::from_secs(5));
        let client = options
            .connect(config.nats_url.trim())
            .await
            .map_err(|source| ClusterError::Connect {
                url: redact_url(&config.nats_url),
                source,
            })?;
        let js = jetstream::new(client.clone());
        let lease = Duration::from_secs(config.lease_secs);
        let bucket = |suffix: &str| format!("{}_{suffix}", config.name);
        let nodes = open_bucket(&js, bucket("nodes"), lease).await?;
        let calls = open_bucket(&js, bucket("calls"), lease).await?;
        let leases = open_bucket(&js, bucket("leases"), lease).await?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                client,
                node_id: node_id.to_string(),
                name: config.name.clone(),
                lease,
                heartbeat: Duration::from_secs(config.heartbeat_secs),
                request_timeout: Duration::from_millis(config.request_timeout_ms),
                signer: sign::Signer::new(secret),
                nodes,
                calls,
                leases,
                held: Mutex::default(),
            }),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The NATS connection, for publishing and subscribing on [`Cluster::subject`]s.
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    /// `<name>.<parts…>`: every subject of this cluster (e.g.
    /// `subject(&["events", tenant, call_id])`).
    pub fn subject(&self, parts: &[&str]) -> String {
        let mut s = self.inner.name.clone();
        for part in parts {
            s.push('.');
            s.push_str(part);
        }
        s
    }

    /// How long a key lives without a heartbeat.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// Time between heartbeats.
    pub fn heartbeat(&self) -> Duration {
        self.inner.heartbeat
    }

    /// How long a request to another node waits for its answer.
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    fn held(&self) -> MutexGuard<'_, std::collections::HashMap<String, node::Held>> {
        self.inner.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// async-nats' options for `config`'s credential (at most one source:
/// `credentials_file`, `nkey_seed_file`, `nats_user` + password, token) and TLS.
///
/// # Errors
/// [`ClusterError::Credentials`] when a credentials or seed file cannot be read.
async fn connect_options(
    config: &ClusterConfig,
) -> Result<async_nats::ConnectOptions, ClusterError> {
    let unreadable =
        |key: &'static str, path: &std::path::Path, e: std::io::Error| ClusterError::Credentials {
            key,
            path: path.display().to_string(),
            message: e.to_string(),
        };
    let mut options = if !config.credentials_file.as_os_str().is_empty() {
        async_nats::ConnectOptions::with_credentials_file(&config.credentials_file)
            .await
            .map_err(|e| unreadable("credentials_file", &config.credentials_file, e))?
    } else if !config.nkey_seed_file.as_os_str().is_empty() {
        let seed = std::fs::read_to_string(&config.nkey_seed_file)
            .map_err(|e| unreadable("nkey_seed_file", &config.nkey_seed_file, e))?;
        async_nats::ConnectOptions::with_nkey(seed.trim().to_string())
    } else if !config.nats_user.is_empty() {
        async_nats::ConnectOptions::with_user_and_password(
            config.nats_user.clone(),
            config.nats_password.clone().unwrap_or_default(),
        )
    } else if let Some(token) = config.nats_token.as_deref().filter(|t| !t.is_empty()) {
        async_nats::ConnectOptions::with_token(token.to_string())
    } else {
        async_nats::ConnectOptions::new()
    };
    if !config.tls_ca_file.as_os_str().is_empty() {
        options = options.add_root_certificates(config.tls_ca_file.clone());
    }
    if !config.tls_cert_file.as_os_str().is_empty() {
        options = options
            .add_client_certificate(config.tls_cert_file.clone(), config.tls_key_file.clone());
    }
    if config.uses_tls() {
        options = options.require_tls(true);
    }
    Ok(options)
}

/// Opens bucket `name`, creating it when absent. An existing bucket made with
/// another `max_age` is used as it is (with a warning): its keys then live that
/// long instead.
async fn open_bucket(
    js: &jetstream::Context,
    name: String,
    max_age: Duration,
) -> Result<kv::Store, ClusterError> {
    let config = kv::Config {
        bucket: name.clone(),
        history: 1,
        max_age,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        Err(create) => match js.get_key_value(&name).await {
            Ok(store) => {
                log::warn!(
                    "cluster: bucket {name} exists with other settings ({create}); using it"
                );
                Ok(store)
            }
            Err(_) => Err(ClusterError::Bucket {
                bucket: name,
                message: create.to_string(),
            }),
        },
    }
}

/// The default node id: `<hostname>-<pid>`, reduced to letters, digits, `-`
/// and `_` (a NATS key token).
pub fn default_node_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "node".to_string()
    };
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_node_id_is_a_key_token_ending_in_the_pid() {
        let id = default_node_id();
        assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
