//! `[browser]`: the browser softphone. Defaults: no extra origins.

use serde::{Deserialize, Serialize};

/// `[browser]`: the browser softphone (`POST /api/sessions`, `GET /browser`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BrowserConfig {
    /// Origins (`https://app.example.com`) allowed to open `/browser`, besides the
    /// server's own origin (the dashboard). Empty = same origin only.
    pub allowed_origins: Vec<String>,
}
