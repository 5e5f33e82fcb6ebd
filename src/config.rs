//! Configuration: one `Config` tree loaded from `config.toml` (or `--config PATH`),
//! every key overridable by an environment variable `SWITCHBOARD_<SECTION>__<KEY>`
//! (e.g. `SWITCHBOARD_SERVER__BIND`), validated at start-up into clear messages.
//! Secrets (API keys, auth tokens) are accepted only from the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::model::api::ModelApi;
use crate::model::provider::Provider;
use crate::tenant::TenantConfig;
pub use crate::tenant::{RoutingConfig, UnknownNumber};

/// A configuration that could not be loaded or is invalid; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be parsed.
    #[error("configuration: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent; `key` is the dotted path.
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A configured model id is past its announced shutdown date.
    #[error("{0}")]
    Retired(crate::model::retirement::RetiredModel),
    /// A secret was written into the config file instead of the environment.
    #[error("{key}: secrets are read only from the environment ({env}), not from the config file")]
    SecretInFile {
        key: &'static str,
        env: &'static str,
    },
}

/// The whole configuration. Defaults are in code and documented in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub calls: CallsConfig,
    pub model: ModelConfig,
    pub simulator: SimulatorConfig,
    pub twilio: TwilioConfig,
    pub routing: RoutingConfig,
    pub tenants: Vec<TenantConfig>,
    pub text_model: TextModelConfig,
    pub mcp_servers: Vec<McpServerConfig>,
    pub jambonz: JambonzConfig,
    pub browser: BrowserConfig,
    pub messaging: MessagingConfig,
    pub sendgrid: SendGridConfig,
    pub limits: LimitsConfig,
    pub notify: NotifyConfig,
    pub cluster: ClusterConfig,
}

/// `[cluster]`: several nodes acting as one (see README "Running several
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

/// Characters `cluster.secret` needs at least.
pub const CLUSTER_SECRET_MIN_CHARS: usize = 32;

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

/// A `server.trusted_proxies` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a
/// single address (a /32 or /128).
pub fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
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
fn url_has_userinfo(url: &str) -> bool {
    redact_url(url) != url.split(',').map(str::trim).collect::<Vec<_>>().join(",")
}

/// `[notify]`: how owner notifications (`[tenants.notify]`) are delivered from
/// their stored outbox: polled every `poll_ms`, a failed attempt retried after
/// `retry_base_ms` doubling up to `retry_max_ms`, given up (`failed`) after
/// `max_attempts`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Milliseconds between looks at the outbox for due notifications.
    pub poll_ms: u64,
    /// Delay before the first retry, milliseconds; doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest delay between retries, milliseconds.
    pub retry_max_ms: u64,
    /// Attempts before a notification is marked failed.
    pub max_attempts: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            poll_ms: 1000,
            retry_base_ms: 5000,
            retry_max_ms: 3_600_000,
            max_attempts: 12,
        }
    }
}

/// `[limits]`: per-source-address rate limits (the key is the TCP peer address,
/// so behind a reverse proxy every caller shares the proxy's budget). Exceeding
/// one answers 429 with `Retry-After` (seconds). 0 turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Webhook requests (`/twiml`, `/twiml/whisper`, `/sms/inbound`, POST or GET;
    /// `/email/inbound`) per source address per minute, as a burst that refills evenly.
    pub webhook_per_minute: u32,
    /// Failed authentications (401/403: admin token, Node client token, browser
    /// token, Twilio signature, email secret) per source address per minute; past
    /// it the address gets 429 on every route but `/health` until the window refills.
    pub failed_auth_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            webhook_per_minute: 1200,
            failed_auth_per_minute: 120,
        }
    }
}

/// `[text_model]`: the OpenAI-compatible chat-completions model behind the
/// chat-supervisor tool and text replies (docs/openai-chat.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextModelConfig {
    /// API base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Model id (`gpt-4.1-mini`).
    pub model: String,
    /// Chat requests per tool loop before it stops with an error.
    pub max_iterations: u32,
    /// Seconds one chat request may take; also the supervisor tool's whole budget.
    pub timeout_secs: u64,
    /// Bearer key (env `SWITCHBOARD_TEXT_MODEL__API_KEY`).
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
}

/// `[[mcp_servers]]`: an MCP server whose tools are offered to the models as
/// `<name>__<tool>`. Exactly one of `url` (streamable HTTP) or `command` (stdio).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Prefix of its tools (`calendar` → `calendar__listEvents`); letters, digits, `-`, `_`.
    pub name: String,
    /// Streamable HTTP endpoint (`http://127.0.0.1:8000/mcp`).
    #[serde(default)]
    pub url: Option<String>,
    /// Program started with stdio transport.
    #[serde(default)]
    pub command: Option<String>,
    /// Arguments for `command`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// `[jambonz]`: the jambonz WebSocket application (`GET /jambonz`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JambonzConfig {
    /// Milliseconds between a tool's output and the redirect that carries out its
    /// action (hang-up, transfer), so the model's goodbye plays first.
    pub farewell_delay_ms: u64,
    /// Largest message jambonz accepts from the application, bytes: jambonz drops
    /// anything over `JAMBONES_WS_MAX_PAYLOAD` (24 KiB by default,
    /// jambonz-feature-server 0.9.8 `lib/utils/ws-requestor.js`). Every tenant's
    /// `session:new` ack is built at start-up and checked against it; 0 = no check.
    pub max_payload_bytes: usize,
    /// HTTP Basic user name jambonz must send on the `/jambonz` upgrade (the user
    /// of the application's WebSocket URL). Empty (with no password) = no check.
    pub username: String,
    /// HTTP Basic password (env `SWITCHBOARD_JAMBONZ__PASSWORD` only).
    #[serde(skip_serializing)]
    pub password: Option<String>,
}

impl Default for JambonzConfig {
    fn default() -> Self {
        JambonzConfig {
            farewell_delay_ms: 4000,
            max_payload_bytes: 24 * 1024,
            username: String::new(),
            password: None,
        }
    }
}

/// Model API keys read from the variables each vendor's own SDKs use
/// (`OPENAI_API_KEY`, `XAI_API_KEY`, `ULTRAVOX_API_KEY`), the fallback when
/// `SWITCHBOARD_MODEL__API_KEY` does not apply. Filled by [`Config::load`];
/// never serialized, and `Debug` shows only which keys are present.
#[derive(Clone, Default, PartialEq)]
pub struct VendorKeys {
    pub openai: Option<String>,
    pub xai: Option<String>,
    pub ultravox: Option<String>,
}

impl std::fmt::Debug for VendorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorKeys")
            .field("openai", &self.openai.is_some())
            .field("xai", &self.xai.is_some())
            .field("ultravox", &self.ultravox.is_some())
            .finish()
    }
}

impl VendorKeys {
    /// The environment variable holding `provider`'s key.
    pub fn env_name(provider: Provider) -> &'static str {
        match provider {
            Provider::OpenAi => "OPENAI_API_KEY",
            Provider::Xai => "XAI_API_KEY",
            Provider::Ultravox => "ULTRAVOX_API_KEY",
        }
    }

    /// Reads the three variables through `var` (empty values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> VendorKeys {
        let read = |p: Provider| var(Self::env_name(p)).filter(|k| !k.trim().is_empty());
        VendorKeys {
            openai: read(Provider::OpenAi),
            xai: read(Provider::Xai),
            ultravox: read(Provider::Ultravox),
        }
    }

    /// The key for `provider`, if its variable was set.
    pub fn get(&self, provider: Provider) -> Option<&str> {
        match provider {
            Provider::OpenAi => self.openai.as_deref(),
            Provider::Xai => self.xai.as_deref(),
            Provider::Ultravox => self.ultravox.as_deref(),
        }
    }
}

/// `[browser]`: the browser softphone (`POST /api/sessions`, `GET /browser`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// Origins (`https://app.example.com`) allowed to open `/browser`, besides the
    /// server's own origin (the dashboard). Empty = same origin only.
    pub allowed_origins: Vec<String>,
}

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
    /// Admin bearer token for `/logs`, `/api/*` (env `SWITCHBOARD_SERVER__ADMIN_TOKEN`).
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
}

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

/// `[calls]`: admission and per-call limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Calls carried at once by this node; the next is refused (WS close 1013).
    pub max_calls: usize,
    /// Calls carried at once per tenant — across the whole cluster when
    /// `[cluster]` is on. Unset: no per-tenant cap.
    pub max_calls_per_tenant: Option<usize>,
    /// Seconds without any carrier frame before the call is ended (Twilio can go
    /// silent without `stop`).
    pub carrier_idle_timeout_secs: u64,
    /// Milliseconds of assistant audio sent ahead of real time to the carrier.
    pub playout_lead_ms: u32,
    /// Milliseconds of assistant audio queued for pacing before the call sheds it.
    pub max_queued_audio_ms: u32,
    /// Milliseconds of audio sent to a Twilio stream whose marks have not come
    /// back; past it the carrier is not reading and the call ends
    /// (`carrier_slow_consumer`, close 1008). Bounds memory per stalled peer.
    pub max_unacked_audio_ms: u32,
    /// The receptionist speaks first when the call connects (a `response.create`
    /// right after the session is configured), as a caller expects.
    pub greet_caller: bool,
    /// Start a Twilio call's model link at the voice webhook (`POST /twiml`):
    /// connect, configure and ask for the greeting before the media stream
    /// opens, holding the greeting audio until it does.
    pub prewarm: bool,
    /// Seconds a pre-warmed call waits for its media stream before it closes
    /// its link, frees its slot and is stored as ended `no_stream`.
    pub prewarm_timeout_secs: u64,
}

/// `[model]`: the realtime voice model every call is linked to (per-tenant overrides
/// live in `[[tenants]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `openai`, `xai`, or `ultravox` (jambonz only: its `llm` verb runs Ultravox).
    pub provider: Provider,
    /// Which OpenAI voice protocol calls speak: `realtime` (Realtime GA, also
    /// xAI's) or `live` (GPT-Live, OpenAI only). Tenants may override.
    pub api: ModelApi,
    /// `[model.live]`: GPT-Live settings.
    pub live: LiveModelConfig,
    /// `ws://`/`wss://` URL of the realtime endpoint. Empty: the built-in simulator.
    pub url: String,
    /// Model id sent as `?model=` (and in the OpenAI session): `gpt-realtime`,
    /// `grok-voice-think-fast-1.0`. Empty: the provider's default
    /// ([`Provider::default_model`]).
    pub model: String,
    /// Default voice. Empty: the provider's default (`marin` for OpenAI, `eve`
    /// for xAI; [`Provider::default_voice`]).
    pub voice: String,
    /// Input transcription model (OpenAI GA `audio.input.transcription.model`).
    pub transcription_model: String,
    /// Server VAD threshold 0.0–1.0.
    pub vad_threshold: f32,
    /// Server VAD silence before end of turn, ms.
    pub vad_silence_ms: u32,
    /// Server VAD prefix padding, ms.
    pub vad_prefix_padding_ms: u32,
    /// Seconds allowed for the WebSocket connect.
    pub connect_timeout_secs: u64,
    /// Seconds between pings; a link silent for 3 intervals counts as dropped.
    pub heartbeat_secs: u64,
    /// Restarts of a dropped link per call before the caller hears the apology.
    pub restart_attempts: u32,
    /// First restart delay, ms; doubles per attempt.
    pub restart_backoff_ms: u64,
    /// Seconds a tool call may run before the model gets a timeout error.
    pub tool_timeout_secs: u64,
    /// Seconds after which a call rolls over to a fresh model session (conversation
    /// replayed) at the next quiet moment, before the provider's cap (OpenAI and
    /// xAI: about 60 min).
    pub session_max_secs: u64,
    /// Bearer key (env `SWITCHBOARD_MODEL__API_KEY`) for `provider`; when unset,
    /// [`Config::load`] takes the provider's own variable (`OPENAI_API_KEY`, …).
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// Keys by vendor variable name, for tenants whose `provider` differs from
    /// `model.provider` (see [`Config::model_key`]).
    #[serde(skip)]
    pub vendor_keys: VendorKeys,
}

/// `[model.live]`: calls on OpenAI's GPT-Live API (`model.api = "live"` or a
/// tenant's `api = "live"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveModelConfig {
    /// GPT-Live model id (`gpt-live-1.1`, `gpt-live-1`), sent in `session.start`.
    pub model: String,
    /// The Responses model GPT-Live delegates tool work to
    /// (`delegation.responses.model`; billed per token, apart from the voice).
    pub backend_model: String,
    /// `ws://`/`wss://` endpoint. Empty: `model.url` when `model.api = "live"`,
    /// else OpenAI's `wss://api.openai.com/v1/live/sessions`.
    pub url: String,
}

impl Default for LiveModelConfig {
    fn default() -> Self {
        LiveModelConfig {
            model: "gpt-live-1.1".into(),
            backend_model: "gpt-5.6-luna".into(),
            url: String::new(),
        }
    }
}

impl Config {
    /// The voice API `tenant`'s calls speak: its own `api`, else `model.api`.
    pub fn api_for(&self, tenant: &TenantConfig) -> ModelApi {
        tenant.api.unwrap_or(self.model.api)
    }

    /// The GPT-Live endpoint: `model.live.url`, else `model.url` when
    /// `model.api = "live"`, else OpenAI's (`wss://api.openai.com/v1/live/sessions`).
    pub fn live_url(&self) -> String {
        if !self.model.live.url.is_empty() {
            self.model.live.url.clone()
        } else if self.model.api == ModelApi::Live && !self.model.url.is_empty() {
            self.model.url.clone()
        } else {
            crate::model::api::LIVE_URL.to_string()
        }
    }

    /// Every OpenAI model id this configuration sends, with where it is set:
    /// the Realtime model (configured or default) when any call may use
    /// OpenAI Realtime, the transcription model, and the GPT-Live model when
    /// any call may use GPT-Live.
    pub fn openai_model_ids(&self) -> Vec<(String, &str)> {
        let providers = std::iter::once(self.model.provider)
            .chain(self.tenants.iter().filter_map(|t| t.provider))
            .collect::<Vec<_>>();
        let mut ids = Vec::new();
        if providers.contains(&Provider::OpenAi) {
            let key = if self.model.model.trim().is_empty() {
                "model.model (default)"
            } else {
                "model.model"
            };
            let realtime =
                if self.model.provider == Provider::OpenAi && !self.model.model.trim().is_empty() {
                    self.model.model.as_str()
                } else {
                    Provider::OpenAi.default_model()
                };
            ids.push((key.to_string(), realtime));
            ids.push((
                "model.transcription_model".to_string(),
                self.model.transcription_model.as_str(),
            ));
        }
        let live = std::iter::once(self.model.api)
            .chain(self.tenants.iter().filter_map(|t| t.api))
            .any(|a| a == ModelApi::Live);
        if live {
            ids.push((
                "model.live.model".to_string(),
                self.model.live.model.as_str(),
            ));
        }
        ids
    }

    /// The start-up check of [`Config::openai_model_ids`] against
    /// [`crate::model::retirement::RETIREMENTS`] on `today`: warnings for ids
    /// whose shutdown is ahead.
    ///
    /// # Errors
    /// [`ConfigError::Retired`] for an id already shut down.
    pub fn check_retirements(&self, today: chrono::NaiveDate) -> Result<Vec<String>, ConfigError> {
        crate::model::retirement::check(self.openai_model_ids(), today)
            .map_err(ConfigError::Retired)
    }
}

/// `[simulator]`: the built-in OpenAI-Realtime-compatible scripted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Serve `GET /sim/v1/realtime` even when `model.url` names another model
    /// (it is always served when `model.url` is empty: then it is the model).
    pub enabled: bool,
    /// Answer `/sim/v1/realtime` from any peer; by default only loopback peers
    /// (others get 403 before the upgrade).
    pub public: bool,
    /// Script TOML (turns, replies, function calls). Empty (the default): the
    /// script built into the binary (`assets/sim/script.toml`).
    pub script: PathBuf,
    /// Folder with the reply clips named in the script. Empty (the default):
    /// the clips built into the binary (`assets/sim/*.wav`).
    pub clips_dir: PathBuf,
    /// Audio streaming speed as a multiple of real time (0 = as fast as possible).
    pub pace: f32,
    /// Keep every received client event (tests only; memory grows per event).
    pub record_events: bool,
    /// Milliseconds the upgrade of `/sim/v1/realtime` is held before it is
    /// answered, to stand in for a real provider's TLS + WebSocket connect.
    pub connect_delay_ms: u64,
    /// Milliseconds between a `response.create` and the simulator acting on it
    /// (so before its first audio), like a real model's time to first audio.
    pub first_audio_delay_ms: u64,
}

/// `[twilio]`: account credentials for signature checks and the REST API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// REST API base URL (tests point it at a local server).
    pub api_base: String,
    /// Auth token (env `SWITCHBOARD_TWILIO__AUTH_TOKEN`); when set, every webhook and
    /// media-stream upgrade must carry a valid `X-Twilio-Signature`.
    #[serde(skip_serializing)]
    pub auth_token: Option<String>,
}

/// `[messaging]`: SMS/email webhooks, the Node client gateway (`/supervisor`) and
/// the text agent's fallback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    /// Sent when no text model key is set or the model fails (the message is still
    /// stored and acknowledged).
    pub auto_reply: String,
    /// Largest Node client WebSocket message, bytes; larger closes with 1009.
    pub max_message_bytes: usize,
    /// Seconds a Node client may take to send `{"type":"auth"}` after connecting
    /// without an `Authorization` header; then the socket closes with 1008.
    pub auth_timeout_secs: u64,
    /// Seconds of client silence after which the server sends a WebSocket ping.
    pub heartbeat_secs: u64,
    /// Seconds without any frame (pongs included) after which a client is dropped.
    pub client_timeout_secs: u64,
    /// Largest SendGrid Inbound Parse body accepted at `/email/inbound`, bytes
    /// (SendGrid's own limit is 30 MB); larger is refused with 413.
    pub email_max_bytes: usize,
    /// Seconds `/sms/inbound` waits for the text agent before answering with the
    /// auto-reply (Twilio gives up on a webhook after about 15 s).
    pub reply_timeout_secs: u64,
    /// Earlier messages and call transcript lines the text agent sees per customer.
    pub history_limit: i64,
    /// Milliseconds `/supervisor` waits for the text model's reply to a Node client
    /// message without `id` before answering `message_acknowledged` instead (the
    /// existing webhook clients give up on a request after 10 s). Below 10000.
    pub sync_reply_ms: u64,
    /// Seconds within which a Node client message without `id` that repeats an
    /// earlier one (same tenant, channel, from, to, subject and text) is taken as
    /// a resend: answered from the stored reply, not stored or answered again.
    /// 0 turns the check off; at most 86400.
    pub resend_window_secs: u64,
    /// Shared secret for `/email/inbound` (env `SWITCHBOARD_MESSAGING__EMAIL_SECRET`):
    /// when set, the request must carry `?secret=` or HTTP Basic auth with it as the
    /// password. Required when `SWITCHBOARD_SENDGRID__API_KEY` is set (replies
    /// leave by email): `serve` refuses to start without it.
    #[serde(skip_serializing)]
    pub email_secret: Option<String>,
}

/// `[sendgrid]`: outbound email replies through the SendGrid v3 mail-send API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendGridConfig {
    /// API base URL; replies go to `POST {api_base}/v3/mail/send` (tests point it at
    /// a local server).
    pub api_base: String,
    /// Sender address of replies; empty = the address the email was sent to.
    pub from_address: String,
    /// Bearer key (env `SWITCHBOARD_SENDGRID__API_KEY`); unset = replies are stored
    /// but not sent.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            auto_reply:
                "Thanks for your message! We have received it and will get back to you shortly."
                    .into(),
            max_message_bytes: 64 * 1024,
            auth_timeout_secs: 5,
            heartbeat_secs: 15,
            client_timeout_secs: 45,
            email_max_bytes: 30 * 1024 * 1024,
            reply_timeout_secs: 12,
            history_limit: 10,
            sync_reply_ms: 8000,
            resend_window_secs: 120,
            email_secret: None,
        }
    }
}

impl Default for SendGridConfig {
    fn default() -> Self {
        SendGridConfig {
            api_base: "https://api.sendgrid.com".into(),
            from_address: String::new(),
            api_key: None,
        }
    }
}

/// One line per figment error, naming the dotted key and, for a value from
/// the environment, the variable: `database.pool_size: invalid type: found
/// string "x", expected u32 (from SWITCHBOARD_DATABASE__POOL_SIZE)`.
fn describe_figment(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|md| md.name.contains("environment"));
            let from = if from_env && !e.path.is_empty() {
                format!(
                    " (from SWITCHBOARD_{})",
                    e.path
                        .iter()
                        .map(|k| k.to_ascii_uppercase())
                        .collect::<Vec<_>>()
                        .join("__")
                )
            } else {
                String::new()
            };
            if key.is_empty() {
                format!("{}{from}", e.kind)
            } else {
                format!("{key}: {}{from}", e.kind)
            }
        })
        .collect();
    ConfigError::Parse(lines.join("; "))
}

/// A TOML syntax error as one line: `line L, column C: message`.
fn describe_toml(text: &str, error: &toml::de::Error) -> ConfigError {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            ConfigError::Parse(format!(
                "TOML syntax, line {line}, column {column}: {message}"
            ))
        }
        None => ConfigError::Parse(format!("TOML syntax: {message}")),
    }
}

/// `url` with a relative SQLite path made absolute against `dir`, keeping its
/// form (`PATH`, `sqlite:PATH`, `sqlite://PATH`); PostgreSQL and other URLs
/// unchanged (an unsupported scheme is reported when the database opens).
fn resolve_sqlite_url(url: &str, dir: &Path) -> String {
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
        }
    }
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

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            max_calls: 1000,
            max_calls_per_tenant: None,
            carrier_idle_timeout_secs: 15,
            playout_lead_ms: 300,
            max_queued_audio_ms: 120_000,
            max_unacked_audio_ms: 10_000,
            greet_caller: true,
            prewarm: true,
            prewarm_timeout_secs: 10,
        }
    }
}

impl ModelConfig {
    /// The model id calls on `provider` use: `model` when `provider` is the
    /// configured `provider` and `model` is set, else the provider's default
    /// (an OpenAI model is never asked of xAI, nor the other way round).
    pub fn model_for(&self, provider: Provider) -> String {
        if provider == self.provider && !self.model.trim().is_empty() {
            self.model.clone()
        } else {
            provider.default_model().to_string()
        }
    }

    /// The voice calls on `provider` use unless their tenant names one: `voice`
    /// when `provider` is the configured `provider` and `voice` is set, else the
    /// provider's default.
    pub fn voice_for(&self, provider: Provider) -> String {
        if provider == self.provider && !self.voice.trim().is_empty() {
            self.voice.clone()
        } else {
            provider.default_voice().to_string()
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            provider: Provider::OpenAi,
            api: ModelApi::Realtime,
            live: LiveModelConfig::default(),
            url: String::new(),
            model: String::new(),
            voice: String::new(),
            transcription_model: "gpt-live-transcribe".into(),
            vad_threshold: 0.5,
            vad_silence_ms: 500,
            vad_prefix_padding_ms: 300,
            connect_timeout_secs: 5,
            heartbeat_secs: 10,
            restart_attempts: 3,
            restart_backoff_ms: 200,
            tool_timeout_secs: 10,
            session_max_secs: 3300,
            api_key: None,
            vendor_keys: VendorKeys::default(),
        }
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            enabled: false,
            public: false,
            script: PathBuf::new(),
            clips_dir: PathBuf::new(),
            pace: 2.0,
            record_events: false,
            connect_delay_ms: 0,
            first_audio_delay_ms: 0,
        }
    }
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            account_sid: String::new(),
            api_base: "https://api.twilio.com".into(),
            auth_token: None,
        }
    }
}

impl Default for TextModelConfig {
    fn default() -> Self {
        TextModelConfig {
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4.1-mini".into(),
            max_iterations: 10,
            timeout_secs: 20,
            api_key: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            calls: CallsConfig::default(),
            model: ModelConfig::default(),
            simulator: SimulatorConfig::default(),
            twilio: TwilioConfig::default(),
            routing: RoutingConfig::default(),
            tenants: vec![TenantConfig::example()],
            text_model: TextModelConfig::default(),
            mcp_servers: Vec::new(),
            jambonz: JambonzConfig::default(),
            browser: BrowserConfig::default(),
            messaging: MessagingConfig::default(),
            sendgrid: SendGridConfig::default(),
            limits: LimitsConfig::default(),
            notify: NotifyConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Secret keys: (dotted key, env var). Present in the file → [`ConfigError::SecretInFile`].
const SECRETS: &[(&str, &str, &str, &str)] = &[
    (
        "server",
        "admin_token",
        "server.admin_token",
        "SWITCHBOARD_SERVER__ADMIN_TOKEN",
    ),
    (
        "model",
        "api_key",
        "model.api_key",
        "SWITCHBOARD_MODEL__API_KEY",
    ),
    (
        "twilio",
        "auth_token",
        "twilio.auth_token",
        "SWITCHBOARD_TWILIO__AUTH_TOKEN",
    ),
    (
        "server",
        "metrics_token",
        "server.metrics_token",
        "SWITCHBOARD_SERVER__METRICS_TOKEN",
    ),
    (
        "jambonz",
        "password",
        "jambonz.password",
        "SWITCHBOARD_JAMBONZ__PASSWORD",
    ),
    (
        "messaging",
        "email_secret",
        "messaging.email_secret",
        "SWITCHBOARD_MESSAGING__EMAIL_SECRET",
    ),
    (
        "sendgrid",
        "api_key",
        "sendgrid.api_key",
        "SWITCHBOARD_SENDGRID__API_KEY",
    ),
    (
        "text_model",
        "api_key",
        "text_model.api_key",
        "SWITCHBOARD_TEXT_MODEL__API_KEY",
    ),
    (
        "jambonz",
        "password",
        "jambonz.password",
        "SWITCHBOARD_JAMBONZ__PASSWORD",
    ),
    (
        "cluster",
        "nats_password",
        "cluster.nats_password",
        "SWITCHBOARD_CLUSTER__NATS_PASSWORD",
    ),
    (
        "cluster",
        "nats_token",
        "cluster.nats_token",
        "SWITCHBOARD_CLUSTER__NATS_TOKEN",
    ),
    (
        "cluster",
        "secret",
        "cluster.secret",
        "SWITCHBOARD_CLUSTER__SECRET",
    ),
];

impl Config {
    /// Whether the built-in simulator is served at `/sim/v1/realtime`: it is the
    /// configured model (`model.url` empty) or `simulator.enabled`.
    pub fn serves_simulator(&self) -> bool {
        self.model.url.is_empty() || self.simulator.enabled
    }

    /// Loads `path` (missing file = defaults only), then env overrides, then validates.
    ///
    /// Errors: unparsable TOML or env value, unknown key, a secret in the file, or an
    /// invalid value (see [`Config::validate`]).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Parse(format!("cannot read {}: {e}", path.display())))?;
            Self::reject_secrets_in_file(&text)?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(
            Env::prefixed("SWITCHBOARD_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let mut config: Config = figment.extract().map_err(describe_figment)?;
        config.take_vendor_keys(VendorKeys::from_vars(|name| std::env::var(name).ok()));
        if let Some(path) = path {
            let dir = std::path::absolute(path)
                .map_err(|e| ConfigError::Parse(format!("cannot resolve {}: {e}", path.display())))?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            config.resolve_paths(&dir);
        }
        config.validate()?;
        for warning in config.check_retirements(chrono::Utc::now().date_naive())? {
            log::warn!("{warning}");
        }
        Ok(config)
    }

    /// Makes every relative file path absolute against `dir` (the config file's
    /// folder), whether it came from the file, the environment or a default:
    /// the SQLite file of `database.url`, `database.spool_file` and
    /// `server.admin_token_file`. Absolute paths, PostgreSQL URLs and an empty
    /// `spool_file` (no spool) are left alone. Without a config file nothing is
    /// resolved: relative paths then mean the working directory.
    pub fn resolve_paths(&mut self, dir: &Path) {
        let join = |p: &Path| -> PathBuf {
            if p.as_os_str().is_empty() || p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            }
        };
        self.database.url = resolve_sqlite_url(&self.database.url, dir);
        self.database.spool_file = join(&self.database.spool_file);
        self.server.admin_token_file = join(&self.server.admin_token_file);
        self.cluster.credentials_file = join(&self.cluster.credentials_file);
        self.cluster.nkey_seed_file = join(&self.cluster.nkey_seed_file);
        self.cluster.tls_ca_file = join(&self.cluster.tls_ca_file);
        self.cluster.tls_cert_file = join(&self.cluster.tls_cert_file);
        self.cluster.tls_key_file = join(&self.cluster.tls_key_file);
    }

    /// Installs the vendor-named keys; `model.api_key` falls back to the one for
    /// `model.provider` when `SWITCHBOARD_MODEL__API_KEY` is unset or empty.
    pub fn take_vendor_keys(&mut self, keys: VendorKeys) {
        if self
            .model
            .api_key
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
        {
            self.model.api_key = keys.get(self.model.provider).map(str::to_string);
        }
        self.model.vendor_keys = keys;
    }

    /// The API key for a model of `provider`: `SWITCHBOARD_MODEL__API_KEY` when
    /// `provider` is `model.provider`, else (or when that is unset) the vendor's
    /// own variable (`OPENAI_API_KEY`, `XAI_API_KEY`, `ULTRAVOX_API_KEY`).
    pub fn model_key(&self, provider: Provider) -> Option<&str> {
        let own = (provider == self.model.provider)
            .then_some(self.model.api_key.as_deref())
            .flatten()
            .filter(|k| !k.trim().is_empty());
        own.or_else(|| self.model.vendor_keys.get(provider))
    }

    /// What to set for `provider`'s key, for start-up reports: the vendor
    /// variable, plus `SWITCHBOARD_MODEL__API_KEY` when `provider` is `model.provider`.
    pub fn model_key_hint(&self, provider: Provider) -> String {
        let env = VendorKeys::env_name(provider);
        if provider == self.model.provider {
            format!("{env} (or SWITCHBOARD_MODEL__API_KEY)")
        } else {
            env.to_string()
        }
    }

    /// Tenants whose provider has no API key, each with its provider and a line
    /// naming the variable to set (start-up report).
    pub fn missing_model_keys(&self) -> Vec<(Provider, String)> {
        self.tenants
            .iter()
            .filter_map(|t| {
                let provider = t.provider.unwrap_or(self.model.provider);
                self.model_key(provider).is_none().then(|| {
                    let line = format!(
                        "tenant {}: provider {} has no API key; set {}",
                        t.id,
                        provider.as_str(),
                        self.model_key_hint(provider)
                    );
                    (provider, line)
                })
            })
            .collect()
    }

    /// The HTTP Basic credentials `/jambonz` requires (`jambonz.username`,
    /// `SWITCHBOARD_JAMBONZ__PASSWORD`), or `None` when the route is open.
    /// Whether any model provider key is configured (`model.api_key` or a
    /// vendor's variable): what an open `/jambonz` would hand out in its
    /// `llm` verb.
    pub fn has_provider_key(&self) -> bool {
        let set = |k: &Option<String>| k.as_deref().is_some_and(|k| !k.is_empty());
        set(&self.model.api_key)
            || set(&self.model.vendor_keys.openai)
            || set(&self.model.vendor_keys.xai)
            || set(&self.model.vendor_keys.ultravox)
    }

    /// `/jambonz` is closed: no credentials, but a provider key it would give out.
    pub fn jambonz_closed(&self) -> bool {
        self.jambonz_credentials().is_none() && self.has_provider_key()
    }

    pub fn jambonz_credentials(&self) -> Option<(&str, &str)> {
        match (
            self.jambonz.username.as_str(),
            self.jambonz.password.as_deref(),
        ) {
            ("", _) | (_, None) | (_, Some("")) => None,
            (user, Some(password)) => Some((user, password)),
        }
    }

    fn reject_secrets_in_file(text: &str) -> Result<(), ConfigError> {
        let value: toml::Value = text
            .parse()
            .map_err(|e: toml::de::Error| describe_toml(text, &e))?;
        for (section, key, dotted, env) in SECRETS {
            if value.get(section).and_then(|s| s.get(key)).is_some() {
                return Err(ConfigError::SecretInFile { key: dotted, env });
            }
        }
        Ok(())
    }

    /// Checks ranges and consistency; the error names the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.notify.poll_ms == 0
            || self.notify.retry_base_ms == 0
            || self.notify.max_attempts == 0
        {
            return Err(ConfigError::Invalid {
                key: "notify",
                message: "poll_ms, retry_base_ms and max_attempts must be above 0".into(),
            });
        }
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::Invalid {
                key: "server.bind",
                message: format!("not a host:port address: {:?}", self.server.bind),
            });
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|p| parse_cidr(p).is_none())
        {
            return Err(ConfigError::Invalid {
                key: "server.trusted_proxies",
                message: format!("not an address or CIDR: {bad:?}"),
            });
        }
        if self.server.body_timeout_ms == 0 || self.server.max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "server.body_timeout_ms",
                message: "server.body_timeout_ms and server.max_connections must be above 0".into(),
            });
        }
        if !self.server.public_url.is_empty() {
            let ok = url::Url::parse(&self.server.public_url)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "server.public_url",
                    message: "not an http:// or https:// URL".into(),
                });
            }
        }
        if !self.model.url.is_empty() {
            let ok = url::Url::parse(&self.model.url)
                .map(|u| matches!(u.scheme(), "ws" | "wss"))
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "model.url",
                    message: "not a ws:// or wss:// URL".into(),
                });
            }
        }
        if !self.model.live.url.is_empty() {
            let ok = url::Url::parse(&self.model.live.url)
                .map(|u| matches!(u.scheme(), "ws" | "wss"))
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "model.live.url",
                    message: "not a ws:// or wss:// URL".into(),
                });
            }
        }
        if self.model.api == ModelApi::Live && self.model.provider != Provider::OpenAi {
            return Err(ConfigError::Invalid {
                key: "model.api",
                message: format!(
                    "\"live\" is OpenAI's GPT-Live; provider {:?} speaks \"realtime\"",
                    self.model.provider.as_str()
                ),
            });
        }
        if self.model.live.model.trim().is_empty()
            || self.model.live.backend_model.trim().is_empty()
        {
            return Err(ConfigError::Invalid {
                key: "model.live",
                message: "model and backend_model must be set".into(),
            });
        }
        if self.calls.max_unacked_audio_ms < 1000 {
            return Err(ConfigError::Invalid {
                key: "calls.max_unacked_audio_ms",
                message:
                    "must be at least 1000 (a healthy carrier echoes marks within the playout lead)"
                        .into(),
            });
        }
        if self.calls.max_calls == 0 {
            return Err(ConfigError::Invalid {
                key: "calls.max_calls",
                message: "must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.model.vad_threshold) {
            return Err(ConfigError::Invalid {
                key: "model.vad_threshold",
                message: "must be within 0.0–1.0".into(),
            });
        }
        if self.database.spool_replay_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "database.spool_replay_secs",
                message: "must be at least 1".into(),
            });
        }
        if self.database.url.trim().is_empty() {
            return Err(ConfigError::Invalid {
                key: "database.url",
                message: "empty".into(),
            });
        }
        for origin in &self.browser.allowed_origins {
            let ok = url::Url::parse(origin)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                .unwrap_or(false)
                && !origin.ends_with('/');
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "browser.allowed_origins",
                    message: format!("{origin:?} is not an origin like https://app.example.com"),
                });
            }
        }
        self.validate_messaging()?;
        self.validate_jambonz()?;
        let mut seen = std::collections::HashSet::new();
        for tenant in &self.tenants {
            tenant.validate().map_err(|message| ConfigError::Invalid {
                key: "tenants",
                message,
            })?;
            let provider = tenant.provider.unwrap_or(self.model.provider);
            if self.api_for(tenant) == ModelApi::Live && provider != Provider::OpenAi {
                return Err(ConfigError::Invalid {
                    key: "tenants",
                    message: format!(
                        "tenant {}: api \"live\" is OpenAI's GPT-Live, but its provider is {:?}",
                        tenant.id,
                        provider.as_str()
                    ),
                });
            }
            if !seen.insert(tenant.id.as_str()) {
                return Err(ConfigError::Invalid {
                    key: "tenants",
                    message: format!("duplicate tenant id {:?}", tenant.id),
                });
            }
        }
        if self.routing.unknown_number == UnknownNumber::Default
            && !self.routing.default_tenant.is_empty()
            && !self
                .tenants
                .iter()
                .any(|t| t.id == self.routing.default_tenant)
        {
            return Err(ConfigError::Invalid {
                key: "routing.default_tenant",
                message: format!("no tenant with id {:?}", self.routing.default_tenant),
            });
        }
        self.validate_model_choices()?;
        self.validate_text_model()?;
        self.validate_mcp_servers()?;
        self.validate_cluster()?;
        Ok(())
    }

    /// A cluster shares one PostgreSQL database; its names are NATS tokens.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        if self.calls.max_calls_per_tenant == Some(0) {
            return Err(ConfigError::Invalid {
                key: "calls.max_calls_per_tenant",
                message: "must be at least 1 (leave it out for no cap)".into(),
            });
        }
        let cluster = &self.cluster;
        if !cluster.enabled() {
            return Ok(());
        }
        if !self.database.is_postgres() {
            return Err(ConfigError::Invalid {
                key: "cluster.nats_url",
                message: "a cluster needs a shared PostgreSQL database.url (postgres://…); \
                          SQLite is one node's file"
                    .into(),
            });
        }
        let token = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !token(&cluster.name) {
            return Err(ConfigError::Invalid {
                key: "cluster.name",
                message: "letters, digits, - and _ only".into(),
            });
        }
        if !cluster.node_id.is_empty() && !token(&cluster.node_id) {
            return Err(ConfigError::Invalid {
                key: "cluster.node_id",
                message: "letters, digits, - and _ only".into(),
            });
        }
        if cluster.heartbeat_secs == 0 || cluster.lease_secs < 2 * cluster.heartbeat_secs {
            return Err(ConfigError::Invalid {
                key: "cluster.lease_secs",
                message: "must be at least twice cluster.heartbeat_secs (itself at least 1)".into(),
            });
        }
        if cluster.request_timeout_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "cluster.request_timeout_ms",
                message: "must be at least 1".into(),
            });
        }
        if url_has_userinfo(&cluster.nats_url) {
            return Err(ConfigError::Invalid {
                key: "cluster.nats_url",
                message: "credentials in the URL are not used; set cluster.nats_user with \
                          SWITCHBOARD_CLUSTER__NATS_PASSWORD, SWITCHBOARD_CLUSTER__NATS_TOKEN, \
                          cluster.nkey_seed_file or cluster.credentials_file"
                    .into(),
            });
        }
        if !cluster.nats_user.is_empty()
            && cluster.nats_password.as_deref().is_none_or(str::is_empty)
        {
            return Err(ConfigError::Invalid {
                key: "cluster.nats_user",
                message: "needs its password in SWITCHBOARD_CLUSTER__NATS_PASSWORD".into(),
            });
        }
        let sources = [
            !cluster.credentials_file.as_os_str().is_empty(),
            !cluster.nkey_seed_file.as_os_str().is_empty(),
            !cluster.nats_user.is_empty(),
            cluster.nats_token.as_deref().is_some_and(|t| !t.is_empty()),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::Invalid {
                key: "cluster.credentials_file",
                message: "use one NATS credential: credentials_file, nkey_seed_file, \
                          nats_user or SWITCHBOARD_CLUSTER__NATS_TOKEN"
                    .into(),
            });
        }
        if cluster.tls_cert_file.as_os_str().is_empty()
            != cluster.tls_key_file.as_os_str().is_empty()
        {
            return Err(ConfigError::Invalid {
                key: "cluster.tls_cert_file",
                message: "tls_cert_file and tls_key_file go together".into(),
            });
        }
        if cluster
            .secret
            .as_deref()
            .is_none_or(|s| s.chars().count() < CLUSTER_SECRET_MIN_CHARS)
        {
            return Err(ConfigError::Invalid {
                key: "cluster.secret",
                message: format!(
                    "a cluster needs SWITCHBOARD_CLUSTER__SECRET, the same on every node, \
                     at least {CLUSTER_SECRET_MIN_CHARS} characters (e.g. openssl rand -hex 32)"
                ),
            });
        }
        Ok(())
    }

    /// Each provider in use gets a model and voice of its own: an OpenAI voice
    /// or model is refused for xAI and the other way round.
    fn validate_model_choices(&self) -> Result<(), ConfigError> {
        let model_family = |provider: Provider, model: &str| -> Result<(), String> {
            let lower = model.to_ascii_lowercase();
            let foreign = match provider {
                Provider::OpenAi => lower.starts_with("grok"),
                Provider::Xai => lower.starts_with("gpt"),
                // Reached through jambonz only, which names its own model.
                Provider::Ultravox => false,
            };
            if foreign {
                return Err(format!(
                    "model {model:?} does not run on {} (leave model.model empty for {:?})",
                    provider.as_str(),
                    provider.default_model()
                ));
            }
            Ok(())
        };
        let provider = self.model.provider;
        if !self.model.model.trim().is_empty() {
            model_family(provider, &self.model.model).map_err(|message| ConfigError::Invalid {
                key: "model.model",
                message,
            })?;
        }
        if !self.model.voice.trim().is_empty() {
            provider
                .check_voice(&self.model.voice)
                .and_then(|()| self.model.api.check_voice(&self.model.voice))
                .map_err(|message| ConfigError::Invalid {
                    key: "model.voice",
                    message,
                })?;
        }
        for tenant in &self.tenants {
            let provider = tenant.provider.unwrap_or(self.model.provider);
            if let Some(voice) = &tenant.voice {
                provider
                    .check_voice(voice)
                    .and_then(|()| self.api_for(tenant).check_voice(voice))
                    .map_err(|message| ConfigError::Invalid {
                        key: "tenants",
                        message: format!("tenant {} ({}): {message}", tenant.id, provider.as_str()),
                    })?;
            }
        }
        Ok(())
    }

    fn validate_jambonz(&self) -> Result<(), ConfigError> {
        let j = &self.jambonz;
        let password_set = j.password.as_deref().is_some_and(|p| !p.is_empty());
        if j.username.is_empty() == password_set {
            return Err(ConfigError::Invalid {
                key: "jambonz.username",
                message: "set jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD together \
                          (the user and password of the jambonz application's WebSocket URL)"
                    .into(),
            });
        }
        if j.username.contains(':') {
            return Err(ConfigError::Invalid {
                key: "jambonz.username",
                message: "must not contain ':' (HTTP Basic)".into(),
            });
        }
        if j.max_payload_bytes != 0 && j.max_payload_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "jambonz.max_payload_bytes",
                message: "must be 0 (no check) or at least 1024".into(),
            });
        }
        Ok(())
    }

    fn validate_text_model(&self) -> Result<(), ConfigError> {
        let ok = url::Url::parse(&self.text_model.base_url)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .unwrap_or(false);
        if !ok {
            return Err(ConfigError::Invalid {
                key: "text_model.base_url",
                message: "not an http:// or https:// URL".into(),
            });
        }
        if self.text_model.max_iterations == 0 {
            return Err(ConfigError::Invalid {
                key: "text_model.max_iterations",
                message: "must be at least 1".into(),
            });
        }
        if self.text_model.timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "text_model.timeout_secs",
                message: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    fn validate_mcp_servers(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for server in &self.mcp_servers {
            let invalid = |message: String| ConfigError::Invalid {
                key: "mcp_servers",
                message,
            };
            if server.name.is_empty()
                || !server
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(format!(
                    "name {:?}: use letters, digits, '-' or '_'",
                    server.name
                )));
            }
            if !seen.insert(server.name.as_str()) {
                return Err(invalid(format!("duplicate name {:?}", server.name)));
            }
            match (&server.url, &server.command) {
                (Some(url), None) => {
                    let ok = url::Url::parse(url)
                        .map(|u| matches!(u.scheme(), "http" | "https"))
                        .unwrap_or(false);
                    if !ok {
                        return Err(invalid(format!(
                            "{}: url {url:?} is not an http:// or https:// URL",
                            server.name
                        )));
                    }
                }
                (None, Some(command)) if !command.trim().is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "{}: set exactly one of url (streamable HTTP) or command (stdio)",
                        server.name
                    )))
                }
            }
        }
        Ok(())
    }

    fn validate_messaging(&self) -> Result<(), ConfigError> {
        let m = &self.messaging;
        let checks: [(&'static str, bool, &str); 8] = [
            (
                "messaging.max_message_bytes",
                m.max_message_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "messaging.auth_timeout_secs",
                m.auth_timeout_secs >= 1,
                "must be at least 1",
            ),
            (
                "messaging.heartbeat_secs",
                m.heartbeat_secs >= 1,
                "must be at least 1",
            ),
            (
                "messaging.client_timeout_secs",
                m.client_timeout_secs > m.heartbeat_secs,
                "must be greater than messaging.heartbeat_secs",
            ),
            (
                "messaging.email_max_bytes",
                m.email_max_bytes >= 1024,
                "must be at least 1024",
            ),
            (
                "messaging.auto_reply",
                !m.auto_reply.trim().is_empty(),
                "empty",
            ),
            (
                "messaging.sync_reply_ms",
                m.sync_reply_ms < 10_000,
                "must be below 10000 (Node webhook clients give up on a request after 10 s)",
            ),
            (
                "messaging.resend_window_secs",
                m.resend_window_secs <= 86_400,
                "must be at most 86400 (one day)",
            ),
        ];
        for (key, ok, message) in checks {
            if !ok {
                return Err(ConfigError::Invalid {
                    key,
                    message: message.into(),
                });
            }
        }
        let ok = url::Url::parse(&self.sendgrid.api_base)
            .map(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or(false);
        if !ok {
            return Err(ConfigError::Invalid {
                key: "sendgrid.api_base",
                message: "not an http:// or https:// URL".into(),
            });
        }
        Ok(())
    }

    /// The realtime endpoint calls connect to: `model.url`, or the built-in simulator
    /// on our own listener (`ws://127.0.0.1:PORT/sim/v1/realtime`).
    pub fn model_url(&self, local: SocketAddr) -> String {
        if self.model.api == ModelApi::Live {
            // `model.url` is the GPT-Live endpoint then; Realtime tenants go to OpenAI's.
            "wss://api.openai.com/v1/realtime".to_string()
        } else if self.model.url.is_empty() {
            format!("ws://127.0.0.1:{}/sim/v1/realtime", local.port())
        } else {
            self.model.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_names_no_model_id_with_an_announced_shutdown() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let mut config = Config::load(Some(&path)).unwrap();
        // Every id it could send, on both APIs.
        config.model.api = ModelApi::Live;
        let ids = config.openai_model_ids();
        assert_eq!(ids.len(), 3, "{ids:?}");
        for (key, id) in ids {
            assert!(
                crate::model::retirement::lookup(id).is_none(),
                "{key} = {id} has an announced shutdown"
            );
        }
        let far = chrono::NaiveDate::from_ymd_opt(2099, 1, 1).unwrap();
        assert!(config.check_retirements(far).unwrap().is_empty());
    }

    #[test]
    fn mcp_servers_need_exactly_one_transport_and_unique_names() {
        let server = |url: Option<&str>, command: Option<&str>| McpServerConfig {
            name: "calendar".into(),
            url: url.map(str::to_string),
            command: command.map(str::to_string),
            args: Vec::new(),
        };
        let mut config = Config {
            mcp_servers: vec![server(Some("http://127.0.0.1:8000/mcp"), None)],
            ..Config::default()
        };
        assert!(config.validate().is_ok());
        config.mcp_servers = vec![server(Some("http://x/mcp"), Some("npx"))];
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("exactly one of url"));
        config.mcp_servers = vec![server(None, Some("npx")), server(None, Some("npx"))];
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
    }

    #[test]
    fn text_model_key_only_from_env_and_limits_checked() {
        let err = Config::reject_secrets_in_file("[text_model]\napi_key = \"sk\"\n").unwrap_err();
        assert!(err.to_string().contains("SWITCHBOARD_TEXT_MODEL__API_KEY"));
        let config = Config {
            text_model: TextModelConfig {
                max_iterations: 0,
                ..TextModelConfig::default()
            },
            ..Config::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("text_model.max_iterations"));
    }

    #[test]
    fn vendor_named_keys_back_up_the_model_key_per_provider() {
        let keys = VendorKeys::from_vars(|name| match name {
            "OPENAI_API_KEY" => Some("sk-openai".into()),
            "XAI_API_KEY" => Some("  ".into()),
            "ULTRAVOX_API_KEY" => Some("uv-key".into()),
            _ => None,
        });
        assert_eq!(keys.xai, None, "an empty variable counts as unset");
        assert!(
            !format!("{keys:?}").contains("sk-openai"),
            "Debug hides keys"
        );
        let mut config = Config::default();
        config.take_vendor_keys(keys.clone());
        assert_eq!(config.model.api_key.as_deref(), Some("sk-openai"));
        assert_eq!(config.model_key(Provider::Ultravox), Some("uv-key"));
        assert_eq!(config.model_key(Provider::Xai), None);
        // SWITCHBOARD_MODEL__API_KEY wins for model.provider only.
        let mut config = Config::default();
        config.model.api_key = Some("sk-switchboard".into());
        config.take_vendor_keys(keys);
        assert_eq!(config.model_key(Provider::OpenAi), Some("sk-switchboard"));
        assert_eq!(config.model_key(Provider::Ultravox), Some("uv-key"));
        let mut tenant = TenantConfig::example();
        tenant.provider = Some(Provider::Xai);
        config.tenants = vec![tenant];
        let missing = config.missing_model_keys();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, Provider::Xai);
        assert!(missing[0].1.contains("acme-dental") && missing[0].1.contains("XAI_API_KEY"));
    }

    #[test]
    fn jambonz_credentials_need_user_and_env_password_together() {
        let err = Config::reject_secrets_in_file("[jambonz]\npassword = \"p\"\n").unwrap_err();
        assert!(err.to_string().contains("SWITCHBOARD_JAMBONZ__PASSWORD"));
        let mut config = Config::default();
        assert_eq!(config.jambonz_credentials(), None);
        config.jambonz.username = "jambonz".into();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("jambonz.username"));
        config.jambonz.password = Some("s3cret".into());
        assert!(config.validate().is_ok());
        assert_eq!(config.jambonz_credentials(), Some(("jambonz", "s3cret")));
        config.jambonz.username = String::new();
        assert!(config.validate().is_err(), "a password without a user");
    }

    #[test]
    fn sync_reply_stays_below_the_webhook_clients_timeout() {
        let mut config = Config::default();
        assert_eq!(config.messaging.sync_reply_ms, 8000);
        config.validate().unwrap();
        config.messaging.sync_reply_ms = 10_000;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("messaging.sync_reply_ms"));
        config.messaging.sync_reply_ms = 8000;
        config.messaging.resend_window_secs = 86_401;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("messaging.resend_window_secs"));
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[database]\nurl = \"sqlite:db/sb.db\"\nspool_file = \"spool/s.jsonl\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let dir = std::path::absolute(dir.path()).unwrap();
        assert_eq!(
            config.database.url,
            format!("sqlite:{}", dir.join("db/sb.db").display())
        );
        assert_eq!(config.database.spool_file, dir.join("spool/s.jsonl"));
        assert_eq!(config.server.admin_token_file, dir.join("data/admin-token"));
    }

    #[test]
    fn absolute_paths_and_postgres_urls_stay() {
        let dir = Path::new("/etc/switchboard");
        for url in [
            "postgres://u@h/db",
            "/var/lib/sb.db",
            "sqlite:///var/lib/sb.db",
            "sqlite:/var/lib/sb.db",
            "mysql://h/db",
        ] {
            assert_eq!(resolve_sqlite_url(url, dir), url);
        }
        assert_eq!(
            resolve_sqlite_url("data/sb.db", dir),
            "/etc/switchboard/data/sb.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite://data/sb.db", dir),
            "sqlite:///etc/switchboard/data/sb.db"
        );
        let mut config = Config::default();
        config.database.spool_file = PathBuf::new();
        config.resolve_paths(dir);
        assert_eq!(config.database.spool_file, PathBuf::new());
    }

    #[test]
    fn parse_errors_are_one_line_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[database]\npool_size = \"four\"\n").unwrap();
        let text = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("database.pool_size: invalid type"), "{text}");
        std::fs::write(&path, "[database]\npool_size = = 3\n").unwrap();
        let text = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("line 2, column"), "{text}");
    }

    #[test]
    fn shipped_config_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.tenants[0].slot_minutes("cleaning"), Some(60));
        assert_eq!(config.text_model.max_iterations, 10);
    }

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

    #[test]
    fn a_cluster_needs_postgresql_and_sane_names_and_intervals() {
        let clustered = |tweak: fn(&mut Config)| {
            let mut c = Config::default();
            c.database.url = "postgres://u@h/db".into();
            c.cluster.nats_url = "nats://127.0.0.1:4222".into();
            c.cluster.secret = Some("s".repeat(CLUSTER_SECRET_MIN_CHARS));
            tweak(&mut c);
            c.validate()
        };
        assert!(clustered(|_| {}).is_ok());
        let key = |r: Result<(), ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        };
        assert_eq!(
            key(clustered(|c| c.database.url = "data/switchboard.db".into())),
            "cluster.nats_url"
        );
        assert_eq!(
            key(clustered(|c| c.cluster.name = "a.b".into())),
            "cluster.name"
        );
        assert_eq!(
            key(clustered(|c| c.cluster.node_id = "node 1".into())),
            "cluster.node_id"
        );
        assert_eq!(
            key(clustered(
                |c| c.cluster.lease_secs = c.cluster.heartbeat_secs
            )),
            "cluster.lease_secs"
        );
        assert_eq!(
            key(clustered(|c| c.calls.max_calls_per_tenant = Some(0))),
            "calls.max_calls_per_tenant"
        );
        assert_eq!(
            key(clustered(|c| c.cluster.secret = None)),
            "cluster.secret"
        );
        assert_eq!(
            key(clustered(|c| c.cluster.secret = Some("short".into()))),
            "cluster.secret"
        );
        assert_eq!(
            key(clustered(
                |c| c.cluster.nats_url = "nats://u:hunter2@10.0.0.5:4222".into()
            )),
            "cluster.nats_url"
        );
        assert_eq!(
            key(clustered(|c| c.cluster.nats_user = "node".into())),
            "cluster.nats_user"
        );
        // A single node needs none of it, SQLite included.
        let mut single = Config::default();
        single.database.url = "data/switchboard.db".into();
        assert!(single.validate().is_ok());
    }
}
