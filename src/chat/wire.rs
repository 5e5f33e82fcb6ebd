//! OpenAI Chat Completions wire format (pure serde types, no I/O): the request
//! with `messages` and function `tools` (nested under `function`, unlike the
//! Realtime shape), and the response's first choice with its `tool_calls`.
//! Facts: docs/openai-chat.md (openai/openai-openapi
//! `CreateChatCompletionRequest`, `ChatCompletionTool`,
//! `ChatCompletionMessageToolCall`, `CreateChatCompletionResponse`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of `messages`, tagged by `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum WireMessage {
    /// `{"role":"system","content":…}`.
    System { content: String },
    /// `{"role":"user","content":…}`.
    User { content: String },
    /// `{"role":"assistant","content":…|null,"tool_calls":[…]}`; `tool_calls` is
    /// omitted when empty.
    Assistant {
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall>,
    },
    /// `{"role":"tool","tool_call_id":…,"content":…}`: one tool's output (text).
    Tool {
        tool_call_id: String,
        content: String,
    },
}

/// A tool call the model asked for: `{"id","type":"function","function":{"name","arguments"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

/// The called function; `arguments` is JSON **text** and may be invalid JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

fn function_type() -> String {
    "function".into()
}

/// A tool offered to the model: `{"type":"function","function":{name, description, parameters}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireTool {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: WireFunction,
}

/// A function definition; `parameters` is a JSON Schema object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireFunction {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl WireTool {
    /// A `function` tool.
    pub fn function(name: String, description: String, parameters: Value) -> Self {
        WireTool {
            kind: "function",
            function: WireFunction {
                name,
                description,
                parameters,
            },
        }
    }
}

/// `POST {base_url}/chat/completions` body. `tools` and `tool_choice` are left
/// out when no tools are offered (`tool_choice` defaults to `auto` with tools).
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [WireMessage],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub tools: &'a [WireTool],
}

/// The parts of a chat completion we use.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<Choice>,
}

/// One choice; `finish_reason` is `stop`, `tool_calls`, `length`, `content_filter`.
#[derive(Debug, Clone, Deserialize)]
pub struct Choice {
    pub message: ResponseMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The assistant's message: text, tool calls, or both.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseMessage {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<WireToolCall>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_nests_tools_under_function_and_keeps_null_content() {
        let messages = vec![
            WireMessage::System {
                content: "sup".into(),
            },
            WireMessage::Assistant {
                content: None,
                tool_calls: vec![WireToolCall {
                    id: "call_1".into(),
                    kind: "function".into(),
                    function: WireFunctionCall {
                        name: "find_slots".into(),
                        arguments: "{\"day\":\"tuesday\"}".into(),
                    },
                }],
            },
            WireMessage::Tool {
                tool_call_id: "call_1".into(),
                content: "[\"09:30\"]".into(),
            },
        ];
        let tools = vec![WireTool::function(
            "find_slots".into(),
            "List free slots.".into(),
            json!({"type": "object"}),
        )];
        let body = serde_json::to_value(ChatRequest {
            model: "gpt-4.1-mini",
            messages: &messages,
            tools: &tools,
        })
        .unwrap();
        assert_eq!(body["tools"][0]["function"]["name"], "find_slots");
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["messages"][1]["role"], "assistant");
        assert!(body["messages"][1]["content"].is_null());
        assert_eq!(
            body["messages"][1]["tool_calls"][0]["function"]["arguments"],
            "{\"day\":\"tuesday\"}"
        );
        assert_eq!(body["messages"][2]["tool_call_id"], "call_1");
        let bare = serde_json::to_value(ChatRequest {
            model: "m",
            messages: &messages[..1],
            tools: &[],
        })
        .unwrap();
        assert!(bare.get("tools").is_none());
    }

    #[test]
    fn response_with_tool_calls_parses() {
        let text = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4.1-mini",
          "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
          "tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookupCustomer","arguments":"{\"phone\":\"+15550100001\"}"}}]}}]}"#;
        let r: ChatResponse = serde_json::from_str(text).unwrap();
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            r.choices[0].message.tool_calls[0].function.name,
            "lookupCustomer"
        );
        assert_eq!(r.choices[0].message.content, None);
    }
}
