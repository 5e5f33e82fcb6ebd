//! MCP tool sources: at start-up switchboard connects, as an MCP client (the
//! official Rust SDK, `rmcp`), to each `[[mcp_servers]]` entry — streamable HTTP
//! (`url`) or a child process over stdio (`command` + `args`) — lists its tools,
//! and registers each as `<server>__<tool>` with the server's own input schema.
//! The voice model and the chat supervisor call them like built-in tools; a call
//! becomes an MCP `tools/call`, and its text (or structured) content is the output.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

use crate::config::McpServerConfig;
use crate::tools::env::ToolEnv;
use crate::tools::{Tool, ToolContext, ToolError, ToolOutcome};

/// Time allowed to connect, initialise and list tools, per server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Separator between the server prefix and the tool's own name.
pub const PREFIX_SEPARATOR: &str = "__";

/// Why an MCP server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The child process could not be started.
    #[error("mcp server {server}: cannot start {command:?}: {source}")]
    Spawn {
        server: String,
        command: String,
        source: std::io::Error,
    },
    /// The MCP `initialize` handshake failed.
    #[error("mcp server {server}: initialize failed: {message}")]
    Initialize { server: String, message: String },
    /// `tools/list` failed.
    #[error("mcp server {server}: tools/list failed: {message}")]
    ListTools { server: String, message: String },
    /// Connecting took longer than [`CONNECT_TIMEOUT`].
    #[error("mcp server {server}: no answer within {secs} s")]
    Timeout { server: String, secs: u64 },
}

type Client = RunningService<RoleClient, ()>;

/// One connected MCP server and its tools; dropping it closes the session.
pub struct McpSession {
    name: String,
    _client: Arc<Client>,
    tools: Vec<Arc<dyn Tool>>,
}

impl McpSession {
    /// The server's configured name (its tools' prefix).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its tools, named `<server>__<tool>`.
    pub fn tools(&self) -> Vec<Arc<dyn Tool>> {
        self.tools.clone()
    }
}

/// Connects to one server, runs `initialize` and `tools/list`.
///
/// Errors: [`McpError`] naming the server and the failing step.
pub async fn connect(config: &McpServerConfig) -> Result<McpSession, McpError> {
    let server = config.name.clone();
    let fut = async {
        let client: Client = match (&config.url, &config.command) {
            (Some(url), _) => {
                ().serve(StreamableHttpClientTransport::from_uri(url.as_str()))
                    .await
                    .map_err(|e| McpError::Initialize {
                        server: server.clone(),
                        message: e.to_string(),
                    })?
            }
            (None, Some(command)) => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(&config.args);
                let transport = TokioChildProcess::new(cmd).map_err(|source| McpError::Spawn {
                    server: server.clone(),
                    command: command.clone(),
                    source,
                })?;
                ().serve(transport)
                    .await
                    .map_err(|e| McpError::Initialize {
                        server: server.clone(),
                        message: e.to_string(),
                    })?
            }
            (None, None) => {
                return Err(McpError::Initialize {
                    server: server.clone(),
                    message: "neither url nor command is set".into(),
                })
            }
        };
        let listed = client
            .list_all_tools()
            .await
            .map_err(|e| McpError::ListTools {
                server: server.clone(),
                message: e.to_string(),
            })?;
        Ok((client, listed))
    };
    let (client, listed) = tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| McpError::Timeout {
            server: server.clone(),
            secs: CONNECT_TIMEOUT.as_secs(),
        })??;
    let client = Arc::new(client);
    let tools = listed
        .into_iter()
        .map(|t| {
            Arc::new(McpTool {
                name: format!("{server}{PREFIX_SEPARATOR}{}", t.name),
                remote_name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()).unwrap_or_default(),
                parameters: Value::Object(t.input_schema.as_ref().clone()),
                client: client.clone(),
            }) as Arc<dyn Tool>
        })
        .collect();
    Ok(McpSession {
        name: server,
        _client: client,
        tools,
    })
}

/// Connects to every configured server; one that fails is logged and skipped, so
/// calls are answered even when an MCP server is down.
pub async fn connect_all(configs: &[McpServerConfig]) -> Vec<McpSession> {
    let mut sessions = Vec::with_capacity(configs.len());
    for config in configs {
        match connect(config).await {
            Ok(session) => {
                log::info!(
                    "mcp server {}: {} tools",
                    session.name(),
                    session.tools.len()
                );
                sessions.push(session);
            }
            Err(e) => log::error!("{e}; its tools are not offered"),
        }
    }
    sessions
}

/// One remote tool.
struct McpTool {
    name: String,
    remote_name: String,
    description: String,
    parameters: Value,
    client: Arc<Client>,
}

impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> Value {
        self.parameters.clone()
    }

    fn call(
        &self,
        _ctx: ToolContext,
        args: Value,
        _env: Arc<ToolEnv>,
    ) -> LocalBoxFuture<'static, Result<ToolOutcome, ToolError>> {
        let client = self.client.clone();
        let remote = self.remote_name.clone();
        let name = self.name.clone();
        Box::pin(async move {
            let arguments = match args {
                Value::Object(map) => map,
                Value::Null => serde_json::Map::new(),
                other => {
                    return Err(ToolError::InvalidArguments(format!(
                        "arguments must be a JSON object, not {other}"
                    )))
                }
            };
            let result = client
                .call_tool(CallToolRequestParams::new(remote).with_arguments(arguments))
                .await
                .map_err(|e| ToolError::Unavailable(format!("{name}: {e}")))?;
            output_of(result)
        })
    }
}

/// The model's view of a `tools/call` result: `{"result": structured content, or
/// the text blocks joined by newlines}`; `isError` results become tool errors.
fn output_of(result: CallToolResult) -> Result<ToolOutcome, ToolError> {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = text.join("\n");
    if result.is_error == Some(true) {
        return Err(ToolError::Refused(if text.is_empty() {
            "the tool reported an error".into()
        } else {
            text
        }));
    }
    Ok(ToolOutcome::output(match result.structured_content {
        Some(structured) => json!({ "result": structured }),
        None => json!({ "result": text }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    #[test]
    fn text_content_becomes_result_and_errors_are_refusals() {
        let ok = output_of(CallToolResult::success(vec![ContentBlock::text(
            "3 events",
        )]))
        .unwrap();
        assert_eq!(ok.output, json!({"result": "3 events"}));
        let err = output_of(CallToolResult::error(vec![ContentBlock::text(
            "no calendar",
        )]))
        .unwrap_err();
        assert_eq!(err.to_string(), "no calendar");
    }
}
