//! [`Config::validate`]: ranges and consistency across sections, checked at
//! start-up into one error naming the offending key. The first failing check
//! wins, in the order below.

use std::net::SocketAddr;

use crate::model::api::ModelApi;
use crate::model::provider::Provider;
use crate::net::parse_cidr;
use crate::tenant::UnknownNumber;

use super::cluster::url_has_userinfo;
use super::{Config, ConfigError, CLUSTER_SECRET_MIN_CHARS};

/// Schemes of HTTP endpoints.
const WEB: &[&str] = &["http", "https"];
/// Schemes of WebSocket endpoints.
const SOCKET: &[&str] = &["ws", "wss"];

/// `text` as a URL whose scheme is one of `schemes`; `None` when it does not
/// parse or has another scheme.
fn url_with_scheme(text: &str, schemes: &[&str]) -> Option<url::Url> {
    url::Url::parse(text)
        .ok()
        .filter(|u| schemes.contains(&u.scheme()))
}

impl Config {
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
        if self.recording.dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "recording.dir",
                message: "must name a folder".into(),
            });
        }
        if !(64..=65536).contains(&self.recording.queue_chunks) {
            return Err(ConfigError::Invalid {
                key: "recording.queue_chunks",
                message: format!("{} is not 64–65536", self.recording.queue_chunks),
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
            let ok =
                url_with_scheme(&self.server.public_url, WEB).is_some_and(|u| u.host().is_some());
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "server.public_url",
                    message: "not an http:// or https:// URL".into(),
                });
            }
        }
        if !self.model.url.is_empty() {
            let ok = url_with_scheme(&self.model.url, SOCKET).is_some();
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "model.url",
                    message: "not a ws:// or wss:// URL".into(),
                });
            }
        }
        if !self.model.live.url.is_empty() {
            let ok = url_with_scheme(&self.model.live.url, SOCKET).is_some();
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
        if !(100..=10_000).contains(&self.calls.hold_after_ms) {
            return Err(ConfigError::Invalid {
                key: "calls.hold_after_ms",
                message: "must be within 100–10000 (ms of dead air before the hold clip)".into(),
            });
        }
        if !(5..=600).contains(&self.calls.voicemail_max_secs) {
            return Err(ConfigError::Invalid {
                key: "calls.voicemail_max_secs",
                message: "must be within 5–600".into(),
            });
        }
        if !(1000..=30_000).contains(&self.calls.voicemail_end_silence_ms) {
            return Err(ConfigError::Invalid {
                key: "calls.voicemail_end_silence_ms",
                message: "must be within 1000–30000".into(),
            });
        }
        if !(super::RING_SECS_MIN..=super::RING_SECS_MAX).contains(&self.transfer.ring_secs) {
            return Err(ConfigError::Invalid {
                key: "transfer.ring_secs",
                message: format!(
                    "must be within {}–{} seconds",
                    super::RING_SECS_MIN,
                    super::RING_SECS_MAX
                ),
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
            let ok = url_with_scheme(origin, WEB).is_some_and(|u| u.path() == "/")
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
        self.validate_openai()?;
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

    /// `[openai]`: an http(s) API base without a query, and bounded waits.
    fn validate_openai(&self) -> Result<(), ConfigError> {
        let o = &self.openai;
        let base_ok = url_with_scheme(&o.api_base, WEB)
            .is_some_and(|u| u.query().is_none() && u.fragment().is_none());
        if !base_ok {
            return Err(ConfigError::Invalid {
                key: "openai.api_base",
                message: format!("{:?} is not a URL like https://api.openai.com", o.api_base),
            });
        }
        if !(100..=60_000).contains(&o.farewell_max_ms) {
            return Err(ConfigError::Invalid {
                key: "openai.farewell_max_ms",
                message: format!("{} is not 100–60000", o.farewell_max_ms),
            });
        }
        if o.sideband_reattach_attempts > 20 {
            return Err(ConfigError::Invalid {
                key: "openai.sideband_reattach_attempts",
                message: format!("{} is more than 20", o.sideband_reattach_attempts),
            });
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
        let ok =
            url_with_scheme(&self.text_model.base_url, WEB).is_some_and(|u| u.host().is_some());
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
                    let ok = url_with_scheme(url, WEB).is_some();
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
        let ok = url_with_scheme(&self.sendgrid.api_base, WEB).is_some();
        if !ok {
            return Err(ConfigError::Invalid {
                key: "sendgrid.api_base",
                message: "not an http:// or https:// URL".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secrets::reject_secrets_in_file;
    use crate::config::{McpServerConfig, TextModelConfig};

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
        let err = reject_secrets_in_file("[text_model]\napi_key = \"sk\"\n").unwrap_err();
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
    fn transfer_ring_secs_is_bounded() {
        let mut config = Config::default();
        for ok in [5, 20, 120] {
            config.transfer.ring_secs = ok;
            assert!(config.validate().is_ok(), "{ok}");
        }
        for bad in [0, 4, 121] {
            config.transfer.ring_secs = bad;
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("transfer.ring_secs"), "{bad}: {err}");
        }
    }

    #[test]
    fn openai_api_base_must_be_an_http_url_and_waits_are_bounded() {
        let mut config = Config::default();
        assert!(config.validate().is_ok());
        config.openai.api_base = "ftp://api.openai.com".into();
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("openai.api_base"));
        config.openai.api_base = "http://127.0.0.1:9200".into();
        config.openai.farewell_max_ms = 0;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("openai.farewell_max_ms"));
    }

    #[test]
    fn jambonz_credentials_need_user_and_env_password_together() {
        let err = reject_secrets_in_file("[jambonz]\npassword = \"p\"\n").unwrap_err();
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
