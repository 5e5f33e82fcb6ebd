//! [`ConfigError`] and the one-line descriptions of figment and TOML errors
//! it is built from.

/// A configuration that could not be loaded or is invalid; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable could not be parsed.
    #[error("configuration: {0}")]
    Parse(String),
    /// A value is out of range or inconsistent; `key` is the dotted path.
    #[error("{key}: {message}")]
    Invalid {
        /// The dotted key (`server.bind`) or section (`tenants`) at fault.
        key: &'static str,
        /// What is wrong, for the operator.
        message: String,
    },
    /// A configured model id is past its announced shutdown date.
    #[error("{0}")]
    Retired(crate::model::retirement::RetiredModel),
    /// A secret was written into the config file instead of the environment.
    #[error("{key}: secrets are read only from the environment ({env}), not from the config file")]
    SecretInFile {
        /// The dotted key found in the file (`model.api_key`).
        key: &'static str,
        /// The environment variable to use instead.
        env: &'static str,
    },
}

/// One line per figment error, naming the dotted key and, for a value from
/// the environment, the variable: `database.pool_size: invalid type: found
/// string "x", expected u32 (from SWITCHBOARD_DATABASE__POOL_SIZE)`.
pub(super) fn describe_figment(error: figment::Error) -> ConfigError {
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
pub(super) fn describe_toml(text: &str, error: &toml::de::Error) -> ConfigError {
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
