//! `[server]`: the HTTP/WebSocket listener, with its defaults beside the struct.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[server]`: the HTTP/WebSocket listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Listen address, `host:port`; port 0 picks a free port (tests).
    pub bind: String,
    /// Public base URL carriers reach us at (`https://…`); the TwiML stream URL is
    /// derived from it (`wss://host/media-stream`). Empty: derived from the request's Host.
    pub public_url: String,
    /// actix-web worker threads; 0 = one per core.
    pub workers: usize,
    /// Seconds calls may keep running after SIGTERM/SIGINT before they are ended.
    pub drain_timeout_secs: u64,
    /// Admin bearer token for `/logs`, `/api/*`: every tenant, every action
    /// (env `SWITCHBOARD_SERVER__ADMIN_TOKEN`).
    #[serde(skip_serializing)]
    pub admin_token: Option<String>,
    /// Where `serve` keeps the admin token it generates when
    /// `SWITCHBOARD_SERVER__ADMIN_TOKEN` is unset (created mode 0600 with its
    /// folder), and where `switchboard call` reads it. Relative: against the
    /// config file's folder.
    pub admin_token_file: PathBuf,
    /// Start on a public address (a `bind` or `public_url` that is not loopback)
    /// even with doors open that the start-up audit names (see
    /// [`crate::exposure`]); they are then logged as one WARN line.
    pub insecure_public: bool,
    /// Bearer token `GET /metrics` requires (env
    /// `SWITCHBOARD_SERVER__METRICS_TOKEN`; the admin token is accepted too, for
    /// the dashboard); unset = `/metrics` is open.
    #[serde(skip_serializing)]
    pub metrics_token: Option<String>,
    /// Reverse proxies (CIDRs, `10.0.0.0/8`, or single addresses) whose
    /// `X-Forwarded-For`/`Forwarded` headers are believed: a request from one
    /// is counted by the rate limits against the right-most address in them
    /// that is not itself a trusted proxy. Empty: the TCP peer address.
    pub trusted_proxies: Vec<String>,
    /// Milliseconds a request body may take to arrive, from the end of its
    /// head; slower: 408 and the connection closed.
    pub body_timeout_ms: u64,
    /// Connections open at once from one address (the TCP peer; IPv6 by
    /// /64); more are closed at once. 0: no cap.
    pub max_connections_per_address: usize,
    /// Connections open at once per worker (actix-web `max_connections`);
    /// more wait in the listen backlog.
    pub max_connections: usize,
    /// Hours a dashboard sign-in lasts (`POST /api/login`); the session then
    /// expires server-side and the person signs in again.
    pub session_hours: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            workers: 0,
            drain_timeout_secs: 30,
            admin_token: None,
            admin_token_file: "data/admin-token".into(),
            insecure_public: false,
            metrics_token: None,
            trusted_proxies: Vec::new(),
            body_timeout_ms: 10_000,
            max_connections_per_address: 256,
            max_connections: 25_000,
            session_hours: 12,
        }
    }
}
