//! `[[mcp_servers]]`: MCP servers whose tools the models may call. No
//! defaults: each entry names its own server.

use serde::{Deserialize, Serialize};

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
