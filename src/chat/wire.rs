//! OpenAI Chat Completions wire format (pure serde types, no I/O): the request
//! with `messages` and function `tools` (nested under `function`), and the first
//! choice of the response with its `tool_calls`. Facts: shared/reference/models.md
//! §6.1 (openai/openai-openapi `CreateChatCompletionRequest`,
//! `ChatCompletionMessageToolCall`, `CreateChatCompletionResponse`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One entry of `messages`, tagged by `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum WireMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    /// `content` is `null` when the model only called tools; `tool_calls` is
    /// omitted when empty.
    Assistant {
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall>,
    },
    /// One tool's output (text) for the call `tool_call_id`.
    Tool {
        tool_call_id: String,
        content: String,
    },
}

/// `{"id","type":"function","function":{"name","arguments"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

/// The called function; `arguments` is JSON text and may be invalid JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireFunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

fn function_type() -> String {
    "function".into()
}

/// `{"type":"function","function":{name, description, parameters}}`.
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

/// `POST /chat/completions` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool>,
    /// `"auto"` with tools, omitted without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<&'static str>,
}

/// The response; only `choices` is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatResponse {
    pub choices: Vec<Choice>,
}

/// One choice: the assistant message and why generation stopped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Choice {
    pub message: ResponseMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// `choices[i].message`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    fn request_and_response_match_the_documented_shapes() {
        let req = ChatRequest {
            model: "gpt-4.1-mini".into(),
            messages: vec![
                WireMessage::System { content: "s".into() },
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
                    content: "[]".into(),
                },
            ],
            tools: vec![],
            tool_choice: None,
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["messages"][1]["content"], serde_json::Value::Null);
        assert_eq!(v["messages"][1]["tool_calls"][0]["function"]["name"], "find_slots");
        assert_eq!(v["messages"][2], json!({"role":"tool","tool_call_id":"call_1","content":"[]"}));
        assert!(v.get("tools").is_none());
        let resp: ChatResponse = serde_json::from_value(json!({"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"x","arguments":"{}"}}]},"finish_reason":"tool_calls"}]})).unwrap();
        assert_eq!(resp.choices[0].message.tool_calls[0].function.name, "x");
    }
}
