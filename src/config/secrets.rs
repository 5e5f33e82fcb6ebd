//! Secrets (API keys, tokens, passwords) are read only from the environment:
//! a config file that names one is refused before anything else is read.

use super::error::describe_toml;
use super::ConfigError;

/// Secret keys: (section, key, dotted key, env var). Present in the file →
/// [`ConfigError::SecretInFile`].
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
        "openai",
        "webhook_secret",
        "openai.webhook_secret",
        "SWITCHBOARD_OPENAI__WEBHOOK_SECRET",
    ),
    (
        "cluster",
        "secret",
        "cluster.secret",
        "SWITCHBOARD_CLUSTER__SECRET",
    ),
];

/// `Ok` when `text` (a config file) names none of [`SECRETS`].
///
/// Errors: [`ConfigError::Parse`] for TOML that does not parse,
/// [`ConfigError::SecretInFile`] for the first secret found.
pub(super) fn reject_secrets_in_file(text: &str) -> Result<(), ConfigError> {
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
