//! MCP tool sources: a small MCP server (the official Rust SDK, serving
//! streamable HTTP on loopback) exposes one tool; switchboard lists it under the
//! server's prefix with its native schema, and the voice model calls it.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};
use switchboard::config::McpServerConfig;

use crate::support::scripted::{turn_with_tool, write_script};
use crate::support::{Db, TestApp};

/// An MCP server with one tool, `nextFreeDay(service)`.
#[derive(Clone)]
struct Calendar;

fn next_free_day_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"service": {"type": "string", "description": "What to book"}},
        "required": ["service"]
    })
}

impl ServerHandler for Calendar {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let Value::Object(schema) = next_free_day_schema() else {
            unreachable!()
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "nextFreeDay",
            "The next day with a free slot for a service",
            Arc::new(schema),
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let service = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("service"))
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "next free {service}: Thursday 10:00"
        ))])
        .into())
    }
}

/// Serves [`Calendar`] at `http://127.0.0.1:PORT/mcp`; returns the URL.
async fn serve_calendar() -> String {
    let service: StreamableHttpService<Calendar, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Calendar),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}/mcp")
}

#[actix_rt::test]
async fn voice_model_calls_a_prefixed_mcp_tool() {
    let url = serve_calendar().await;
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        &[("calendar__nextFreeDay", json!({"service": "cleaning"}))],
    );
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        c.mcp_servers = vec![McpServerConfig {
            name: "calendar".into(),
            url: Some(url),
            command: None,
            args: Vec::new(),
        }];
    })
    .await;

    // Listed with the server's own schema.
    let (_, tools) = app.get_json("/tools").await;
    let listed = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "calendar__nextFreeDay")
        .cloned()
        .expect("MCP tool listed");
    assert_eq!(listed["parameters"], next_free_day_schema());

    let (mut call, feed) = app.dial().await;
    let event = turn_with_tool(&mut call, &feed, "calendar__nextFreeDay").await;
    let switchboard::events::CallEvent::ToolCall { result, error, .. } = event else {
        unreachable!()
    };
    assert_eq!(error, None);
    assert_eq!(
        serde_json::from_str::<Value>(&result.unwrap()).unwrap(),
        json!({"result": "next free cleaning: Thursday 10:00"})
    );
    // The realtime session offered it, and the model got the output.
    let events = app.model_client_events();
    let update = events
        .iter()
        .find(|e| e["type"] == "session.update")
        .unwrap();
    assert!(update["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "calendar__nextFreeDay"));
    assert!(events
        .iter()
        .any(|e| e["item"]["type"] == "function_call_output"
            && e["item"]["output"]
                .as_str()
                .is_some_and(|o| o.contains("Thursday 10:00"))));
    call.stop().await.ok();
    app.stop().await;
}
