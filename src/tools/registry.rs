//! The tool registry: every tool's name, JSON schema (served at `GET /tools` and
//! sent to the model as a Realtime `function` tool), and implementation.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};

use crate::actor_messages::CallAction;
use crate::config::Config;
use crate::model::session::FunctionTool;
use crate::tenant::TenantConfig;
use crate::tools::env::ToolEnv;
use crate::tools::mcp::McpSession;
use crate::tools::ToolContext;

/// Why a tool call failed; the model receives `{"error": "<message>"}` and can relay it.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The model named a tool that does not exist or is not allowed for the tenant.
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    /// Arguments are missing, mistyped or out of range; the text says which.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran past the configured timeout (seconds).
    #[error("the tool did not answer within {0} s")]
    Timeout(u64),
    /// The tool panicked; the call goes on.
    #[error("the tool failed unexpectedly")]
    Panicked,
    /// A database error (details are logged, not sent to the model).
    #[error("the booking system is unavailable right now")]
    Store(String),
    /// A service the tool depends on (text model, carrier API, MCP server) failed;
    /// the text says which and why.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be done (slot taken, nothing found); said to the caller.
    #[error("{0}")]
    Refused(String),
}

impl ToolError {
    /// The `function_call_output` body for this error.
    pub fn to_output(&self) -> Value {
        json!({ "error": self.to_string() })
    }
}

/// A successful tool call: JSON for the model and an optional action for the call.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub output: Value,
    pub action: Option<CallAction>,
}

impl ToolOutcome {
    /// An outcome with no call action.
    pub fn output(output: Value) -> Self {
        ToolOutcome {
            output,
            action: None,
        }
    }
}

/// One tool.
pub trait Tool: Send + Sync {
    /// The name the model calls (`takeMessage`, `calendar__listEvents`).
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema of the arguments object.
    fn parameters(&self) -> Value;
    /// How long one run may take before the model gets a timeout error;
    /// `model.tool_timeout_secs` unless the tool needs its own budget.
    fn timeout(&self, config: &Config) -> Duration {
        Duration::from_secs(config.model.tool_timeout_secs)
    }
    /// Runs the tool. Runs on the call's arbiter: blocking work (database) must go
    /// through `spawn_blocking`.
    fn call(
        &self,
        ctx: ToolContext,
        args: Value,
        env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>>;
}

/// All tools, by name: the built-in ones, then those of the MCP servers.
pub struct ToolRegistry {
    tools: Vec<Arc<dyn Tool>>,
    /// Live MCP client sessions; their tools stop working when these are dropped.
    _mcp: Vec<McpSession>,
}

impl ToolRegistry {
    /// The built-in tools.
    pub fn builtin() -> Self {
        ToolRegistry {
            tools: crate::tools::builtin::all(),
            _mcp: Vec::new(),
        }
    }

    /// Adds the tools of connected MCP servers (names already prefixed) and keeps
    /// their sessions alive as long as the registry. A name that clashes with an
    /// existing tool is skipped with a warning.
    pub fn with_mcp(mut self, sessions: Vec<McpSession>) -> Self {
        for session in &sessions {
            for tool in session.tools() {
                if self.tools.iter().any(|t| t.name() == tool.name()) {
                    log::warn!(
                        "MCP tool {} clashes with an existing tool; skipped",
                        tool.name()
                    );
                    continue;
                }
                self.tools.push(tool);
            }
        }
        self._mcp = sessions;
        self
    }

    /// The schema of `name` as a function tool, if the tenant may use it.
    pub fn function(&self, name: &str, tenant: &TenantConfig) -> Option<FunctionTool> {
        self.get(name, tenant).map(|t| FunctionTool {
            name: t.name().to_string(),
            description: t.description().to_string(),
            parameters: t.parameters(),
        })
    }

    /// Names of every tool the tenant may use, in registry order.
    pub fn names_for(&self, tenant: &TenantConfig) -> Vec<String> {
        self.tools
            .iter()
            .filter(|t| allowed(tenant, t.name()))
            .map(|t| t.name().to_string())
            .collect()
    }

    /// A tool by name if the tenant may use it.
    pub fn get(&self, name: &str, tenant: &TenantConfig) -> Option<Arc<dyn Tool>> {
        self.tools
            .iter()
            .find(|t| t.name() == name)
            .filter(|t| allowed(tenant, t.name()))
            .cloned()
    }

    /// The registered name equal to `name` (a bounded metric label).
    pub fn static_name(&self, name: &str) -> Option<&str> {
        self.tools.iter().map(|t| t.name()).find(|n| *n == name)
    }

    /// Function tools for a tenant's model session.
    pub fn schemas_for(&self, tenant: &TenantConfig) -> Vec<FunctionTool> {
        self.tools
            .iter()
            .filter(|t| allowed(tenant, t.name()))
            .map(|t| FunctionTool {
                name: t.name().to_string(),
                description: t.description().to_string(),
                parameters: t.parameters(),
            })
            .collect()
    }

    /// Every tool's schema, as served at `GET /tools`.
    pub fn describe(&self) -> Value {
        Value::Array(
            self.tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "name": t.name(),
                        "description": t.description(),
                        "parameters": t.parameters(),
                    })
                })
                .collect(),
        )
    }
}

fn allowed(tenant: &TenantConfig, name: &str) -> bool {
    tenant.allowed_tools.is_empty() || tenant.allowed_tools.iter().any(|t| t == name)
}
