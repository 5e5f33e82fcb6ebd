//! `[cluster]`: several nodes acting as one over NATS, with the defaults
//! beside the struct, and how NATS URLs are shown without their credentials.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[cluster]`: several nodes acting as one (see docs/clustering.md "Running several
/// nodes"). With `nats_url` empty (the default) the node stands alone and needs
/// no NATS; otherwise every node shares one PostgreSQL database and one NATS
/// server with JetStream, which carries admission leases, the live-call
/// registry, live events, operator actions and Node-client notices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `nats://host:4222`. Empty: a single node.
    pub nats_url: String,
    /// This node's id in leases, the registry and call rows. Empty: the
    /// hostname and the process id (`host-1234`); letters, digits, `-` and `_`.
    pub node_id: String,
    /// Cluster name: the prefix of every NATS subject and JetStream bucket, so
    /// several clusters can share one NATS server.
    pub name: String,
    /// Seconds a node's, call's or lease's key lives without a heartbeat: a
    /// node silent this long is dead, its calls are closed `interrupted` and
    /// their admission slots freed.
    pub lease_secs: u64,
    /// Seconds between heartbeats (must be well under `lease_secs`).
    pub heartbeat_secs: u64,
    /// Milliseconds an operator action waits for the node holding the call,
    /// and an admission for NATS (then the node admits on its own count).
    pub request_timeout_ms: u64,
    /// A NATS `.creds` file (user JWT and nkey seed) to authenticate with.
    /// Empty: not used. Credentials in `nats_url` itself are refused.
    pub credentials_file: PathBuf,
    /// A file holding an nkey seed (`SU…`) to authenticate with. Empty: not used.
    pub nkey_seed_file: PathBuf,
    /// NATS user name; its password comes from env
    /// `SWITCHBOARD_CLUSTER__NATS_PASSWORD`. Empty: not used.
    pub nats_user: String,
    /// The password of `nats_user` (env `SWITCHBOARD_CLUSTER__NATS_PASSWORD` only).
    #[serde(skip_serializing)]
    pub nats_password: Option<String>,
    /// A NATS authorisation token (env `SWITCHBOARD_CLUSTER__NATS_TOKEN` only).
    #[serde(skip_serializing)]
    pub nats_token: Option<String>,
    /// PEM file of the CA(s) that signed the NATS server's certificate; set,
    /// the connection is TLS. Empty: the system roots, when TLS is used.
    pub tls_ca_file: PathBuf,
    /// PEM client certificate for NATS mutual TLS (with `tls_key_file`).
    pub tls_cert_file: PathBuf,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: PathBuf,
    /// Refuse to talk to NATS without TLS.
    pub require_tls: bool,
    /// The cluster's shared secret (env `SWITCHBOARD_CLUSTER__SECRET` only, at
    /// least 32 characters, the same on every node): every bus message and
    /// operator request is signed with HMAC-SHA256 under it, and a node drops
    /// what is not. Required whenever `nats_url` is set.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats_url: String::new(),
            node_id: String::new(),
            name: "switchboard".into(),
            lease_secs: 15,
            heartbeat_secs: 3,
            request_timeout_ms: 1000,
            credentials_file: PathBuf::new(),
            nkey_seed_file: PathBuf::new(),
            nats_user: String::new(),
            nats_password: None,
            nats_token: None,
            tls_ca_file: PathBuf::new(),
            tls_cert_file: PathBuf::new(),
            tls_key_file: PathBuf::new(),
            require_tls: false,
            secret: None,
        }
    }
}

/// Characters `cluster.secret` needs at least.
pub const CLUSTER_SECRET_MIN_CHARS: usize = 32;

impl ClusterConfig {
    /// Whether this node is part of a cluster (`nats_url` set).
    pub fn enabled(&self) -> bool {
        !self.nats_url.trim().is_empty()
    }

    /// Whether the node authenticates to NATS (any credential source set).
    pub fn has_credentials(&self) -> bool {
        !self.credentials_file.as_os_str().is_empty()
            || !self.nkey_seed_file.as_os_str().is_empty()
            || !self.nats_user.is_empty()
            || self.nats_token.as_deref().is_some_and(|t| !t.is_empty())
    }

    /// Whether the connection to NATS is TLS (`tls://` URL, a CA file or `require_tls`).
    pub fn uses_tls(&self) -> bool {
        self.require_tls
            || !self.tls_ca_file.as_os_str().is_empty()
            || self.nats_url.trim().starts_with("tls://")
    }
}

/// `url` without its userinfo (`nats://user:pass@host` → `nats://host`), for
/// logs and errors; each comma-separated server of a list is stripped.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let one = one.trim();
            let (scheme, rest) = match one.find("://") {
                Some(i) => (&one[..i + 3], &one[i + 3..]),
                None => ("", one),
            };
            let host_start = rest.find('/').unwrap_or(rest.len());
            match rest[..host_start].rfind('@') {
                Some(at) => format!("{scheme}{}", &rest[at + 1..]),
                None => one.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `url` carries userinfo (`user:pass@`).
pub(super) fn url_has_userinfo(url: &str) -> bool {
    redact_url(url) != url.split(',').map(str::trim).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_userinfo_in_logs() {
        assert_eq!(
            redact_url("nats://node:hunter2@nats.internal:4222"),
            "nats://nats.internal:4222"
        );
        assert_eq!(
            redact_url("nats://a:b@h1:4222, tls://h2:4222"),
            "nats://h1:4222,tls://h2:4222"
        );
        assert_eq!(redact_url("nats://h:4222/x@y"), "nats://h:4222/x@y");
        assert!(url_has_userinfo("nats://tok@h:4222"));
        assert!(!url_has_userinfo("nats://h:4222"));
    }
}
