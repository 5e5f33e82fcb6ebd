//! `[notify]`: how owner notifications are delivered from their outbox, with
//! the defaults beside the struct. Who is notified of what is per tenant
//! (`[tenants.notify]`, [`crate::tenant::OwnerNotify`]).

use serde::{Deserialize, Serialize};

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
