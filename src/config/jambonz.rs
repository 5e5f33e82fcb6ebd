//! `[jambonz]`: the jambonz WebSocket application, with the defaults beside
//! the struct, and the HTTP Basic credentials its upgrade requires.

use serde::{Deserialize, Serialize};

use super::Config;

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

impl Config {
    /// The HTTP Basic credentials `/jambonz` requires (`jambonz.username`,
    /// `SWITCHBOARD_JAMBONZ__PASSWORD`), or `None` when the route is open.
    pub fn jambonz_credentials(&self) -> Option<(&str, &str)> {
        match (
            self.jambonz.username.as_str(),
            self.jambonz.password.as_deref(),
        ) {
            ("", _) | (_, None) | (_, Some("")) => None,
            (user, Some(password)) => Some((user, password)),
        }
    }

    /// `/jambonz` is closed: no credentials, but a provider key it would give out.
    pub fn jambonz_closed(&self) -> bool {
        self.jambonz_credentials().is_none() && self.has_provider_key()
    }
}
