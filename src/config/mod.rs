//! Configuration: one [`Config`] tree loaded from `config.toml` (or `--config PATH`),
//! every key overridable by an environment variable `SWITCHBOARD_<SECTION>__<KEY>`
//! (e.g. `SWITCHBOARD_SERVER__BIND`), validated at start-up into clear messages.
//! Secrets (API keys, auth tokens) are accepted only from the environment.
//!
//! One file per section, each struct with its defaults beside it: `server`,
//! `database`, `calls`, `cluster`, `notify`, `limits`, `jambonz`, `browser`,
//! `twilio`, `transfer`, `messaging` (with `[sendgrid]`), `text_model`, `mcp`,
//! `recording`, `openai`. Sections
//! owned by other modules are re-exported here: `[model]` and `[simulator]`
//! ([`crate::model::settings`], [`crate::model::simulator::settings`]),
//! `[routing]` and `[[tenants]]` ([`crate::tenant`]). Where `[model]` meets the
//! tenants is `model_choice.rs`; checks are `validate.rs`; secrets kept out of
//! the file `secrets.rs`. This file holds the root, loading and path resolution.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::tenant::TenantConfig;

mod browser;
mod calls;
mod cluster;
mod database;
mod error;
mod jambonz;
mod limits;
mod mcp;
mod messaging;
mod model_choice;
mod notify;
mod openai;
mod recording;
mod secrets;
mod server;
mod text_model;
mod transfer;
mod twilio;
mod validate;

pub use crate::model::settings::{LiveModelConfig, ModelConfig, VendorKeys};
pub use crate::model::simulator::SimulatorConfig;
pub use crate::net::parse_cidr;
pub use crate::tenant::{RoutingConfig, UnknownNumber};
pub use browser::BrowserConfig;
pub use calls::CallsConfig;
pub use cluster::{redact_url, ClusterConfig, CLUSTER_SECRET_MIN_CHARS};
pub use database::{is_postgres_url, DatabaseConfig};
pub use error::ConfigError;
pub use jambonz::JambonzConfig;
pub use limits::LimitsConfig;
pub use mcp::McpServerConfig;
pub use messaging::{MessagingConfig, SendGridConfig};
pub use notify::NotifyConfig;
pub use openai::OpenAiConfig;
pub use recording::RecordingConfig;
pub use server::ServerConfig;
pub use text_model::TextModelConfig;
pub use transfer::{TransferConfig, RING_SECS_MAX, RING_SECS_MIN};
pub use twilio::TwilioConfig;

use database::resolve_sqlite_url;
use error::describe_figment;

/// The whole configuration. Defaults are in code (each section's file) and
/// written out in `config.toml`; a test keeps the two equal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: the listener.
    pub server: ServerConfig,
    /// `[database]`: SQLite or PostgreSQL, and the outage spool.
    pub database: DatabaseConfig,
    /// `[calls]`: admission and per-call limits.
    pub calls: CallsConfig,
    /// `[model]`: the realtime voice model calls are linked to.
    pub model: ModelConfig,
    /// `[simulator]`: the built-in scripted model.
    pub simulator: SimulatorConfig,
    /// `[twilio]`: the Twilio account.
    pub twilio: TwilioConfig,
    /// `[transfer]`: transfers to the on-call person.
    pub transfer: TransferConfig,
    /// `[routing]`: calls to numbers no tenant owns.
    pub routing: RoutingConfig,
    /// `[[tenants]]`: the businesses answered for, in order (the first is the
    /// default for unknown numbers unless `routing.default_tenant` says otherwise).
    pub tenants: Vec<TenantConfig>,
    /// `[text_model]`: the chat-completions model for text replies.
    pub text_model: TextModelConfig,
    /// `[[mcp_servers]]`: MCP tool servers.
    pub mcp_servers: Vec<McpServerConfig>,
    /// `[jambonz]`: the jambonz WebSocket application.
    pub jambonz: JambonzConfig,
    /// `[browser]`: the browser softphone.
    pub browser: BrowserConfig,
    /// `[messaging]`: SMS, email and the Node client gateway.
    pub messaging: MessagingConfig,
    /// `[sendgrid]`: outbound email.
    pub sendgrid: SendGridConfig,
    /// `[limits]`: per-address rate limits.
    pub limits: LimitsConfig,
    /// `[notify]`: owner-notification delivery.
    pub notify: NotifyConfig,
    /// `[cluster]`: several nodes acting as one.
    pub cluster: ClusterConfig,
    /// `[recording]`: where recorded calls are kept.
    pub recording: RecordingConfig,
    /// `[openai]`: calls OpenAI answers over SIP.
    pub openai: OpenAiConfig,
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
            transfer: TransferConfig::default(),
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
            recording: RecordingConfig::default(),
            openai: OpenAiConfig::default(),
        }
    }
}

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
            secrets::reject_secrets_in_file(&text)?;
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(
            Env::prefixed("SWITCHBOARD_")
                .filter(|key| key.as_str().contains("__"))
                .split("__"),
        );
        let mut config: Config = figment.extract().map_err(describe_figment)?;
        config.take_vendor_keys(VendorKeys::from_vars(|name| std::env::var(name).ok()));
        config.take_openai_webhook_secret(std::env::var("OPENAI_WEBHOOK_SECRET").ok());
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
    /// the SQLite file of `database.url`, `database.spool_file`,
    /// `server.admin_token_file`, the cluster's files and `recording.dir`. Absolute paths, PostgreSQL URLs and an empty
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
        self.recording.dir = join(&self.recording.dir);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::model::api::ModelApi;

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
        assert_eq!(config.recording.dir, dir.join("data/recordings"));
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

    /// Keys `config.toml` deliberately sets to something other than the
    /// code's default, each with why (dotted paths; array items by index).
    const SHIPPED_DIFFERENCES: &[(&str, &str)] = &[
        (
            "tenants.0.business_hours",
            "the file shows how weekly hours are written; the code's example \
             tenant is always open, so a run without a config file (and every \
             test built on Config::default) behaves the same at any hour",
        ),
        (
            "tenants.0.closures",
            "an example holiday, for the same reason: the code's example tenant \
             closes on no date",
        ),
    ];

    /// Keys the defaults have that `config.toml` does not write, each with why.
    /// Unset options (`null`) need no entry: TOML cannot write "unset", and
    /// the file shows them as comments.
    const UNWRITTEN: &[(&str, &str)] = &[
        (
            "mcp_servers",
            "none by default; the file shows both transports as comments",
        ),
        (
            "tenants.0.after_hours_instructions",
            "a long default sentence; docs/tenants-and-tools.md's [[tenants]] table names the key",
        ),
        (
            "tenants.0.allowed_tools",
            "empty = every tool; docs/tenants-and-tools.md's [[tenants]] table names the key",
        ),
    ];

    /// Leaf values by dotted path (`server.bind`, `tenants.0.id`): tables are
    /// walked, arrays of tables walked by index, anything else (scalars,
    /// arrays of scalars, empty tables and arrays) is a leaf.
    fn leaves(
        value: &serde_json::Value,
        path: &str,
        out: &mut BTreeMap<String, serde_json::Value>,
    ) {
        let child = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    leaves(item, &child(key), out);
                }
            }
            serde_json::Value::Array(items)
                if !items.is_empty() && items.iter().all(serde_json::Value::is_object) =>
            {
                for (i, item) in items.iter().enumerate() {
                    leaves(item, &child(&i.to_string()), out);
                }
            }
            other => {
                out.insert(path.to_string(), other.clone());
            }
        }
    }

    fn leaves_of(config: &Config) -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        leaves(&serde_json::to_value(config).unwrap(), "", &mut out);
        out
    }

    /// Whether dotted `key` is `prefix` or lies under it.
    fn is_under(key: &str, prefix: &str) -> bool {
        key == prefix || key.starts_with(&format!("{prefix}."))
    }

    /// Dotted keys whose values differ between `a` and `b` (or that only one has).
    fn differing_keys(a: &Config, b: &Config) -> BTreeSet<String> {
        let (a, b) = (leaves_of(a), leaves_of(b));
        a.keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect()
    }

    /// The keys of `differing_keys(code, file)` no [`SHIPPED_DIFFERENCES`] entry explains.
    fn unexplained(code: &Config, file: &Config) -> BTreeSet<String> {
        differing_keys(code, file)
            .into_iter()
            .filter(|k| !SHIPPED_DIFFERENCES.iter().any(|(p, _)| is_under(k, p)))
            .collect()
    }

    #[test]
    fn shipped_config_toml_writes_the_code_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(path).unwrap();
        // Parsed without `Config::load`: no environment overrides, no path
        // resolution, no validation; just what the file says.
        let shipped: Config = toml::from_str(&text).unwrap();
        let defaults = Config::default();
        assert_eq!(
            unexplained(&defaults, &shipped),
            BTreeSet::new(),
            "config.toml and the code's defaults disagree: change both, or list \
             a deliberate difference in SHIPPED_DIFFERENCES"
        );
        let differing = differing_keys(&defaults, &shipped);
        for (key, _) in SHIPPED_DIFFERENCES {
            assert!(
                differing.iter().any(|k| is_under(k, key)),
                "{key} is listed in SHIPPED_DIFFERENCES but config.toml writes the default"
            );
        }

        // Every default is written out, so none can change unseen.
        let mut written = BTreeMap::new();
        leaves(
            &toml::from_str::<serde_json::Value>(&text).unwrap(),
            "",
            &mut written,
        );
        let unwritten: Vec<String> = leaves_of(&defaults)
            .into_iter()
            .filter(|(key, value)| {
                !value.is_null()
                    && !UNWRITTEN.iter().any(|(k, _)| k == key)
                    && !written.keys().any(|w| is_under(w, key))
            })
            .map(|(key, _)| key)
            .collect();
        assert!(
            unwritten.is_empty(),
            "config.toml does not write {unwritten:?}: write it, or list it in UNWRITTEN"
        );

        // The comparison sees a default changed in code only.
        let mut changed = Config::default();
        changed.calls.playout_lead_ms += 1;
        changed.model.live.backend_model.push('x');
        assert_eq!(
            unexplained(&changed, &shipped),
            BTreeSet::from([
                "calls.playout_lead_ms".to_string(),
                "model.live.backend_model".to_string(),
            ])
        );
    }
}
