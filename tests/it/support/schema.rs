//! Strict validation of client events against OpenAI's published Realtime GA
//! schema (tests/fixtures/openai-realtime.schema.json, extracted from
//! openai/openai-openapi `openapi.yaml` @ f85dbe2; see tests/fixtures/README.md). The schema as published
//! accepts undeclared properties, so beta-era fields (`modalities`,
//! `input_audio_format`, …) would pass; here every object schema that declares
//! `properties` is closed (`additionalProperties: false`, or
//! `unevaluatedProperties: false` where the object also composes
//! `allOf`/`anyOf`/`oneOf` branches, so properties declared in a branch still
//! count). Two patches are applied first (docs/openai-realtime.md §Validating
//! against the OpenAPI schema, and below): the
//! `response.create` `conversation` `oneOf [string, enum]` overlap becomes a
//! plain string, and `RealtimeFunctionTool` regains its `description`
//! property, which the extraction dropped together with the documentation
//! strings (openai-python `realtime_function_tool.py` declares it).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// Env var overriding the schema location.
pub const SCHEMA_ENV: &str = "SWITCHBOARD_REALTIME_SCHEMA";

struct ClientValidators {
    /// Against `RealtimeClientEvent` (the whole union).
    union: jsonschema::Validator,
    /// Per wire `type`, against that event's own schema (sharper messages).
    by_type: HashMap<String, jsonschema::Validator>,
}

fn schema_path() -> PathBuf {
    match std::env::var_os(SCHEMA_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/openai-realtime.schema.json"),
    }
}

fn load_document() -> Value {
    let path = schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the OpenAI Realtime schema at {} ({e}); set {SCHEMA_ENV} to its path",
            path.display()
        )
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn patch(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let conv = &mut schemas["RealtimeResponseCreateParams"]["properties"]["conversation"];
    assert!(
        conv.is_object(),
        "schema drift: RealtimeResponseCreateParams.conversation is missing"
    );
    *conv = json!({"type": "string"});
    let tool_props = &mut schemas["RealtimeFunctionTool"]["properties"];
    let Some(tool_props) = tool_props.as_object_mut() else {
        panic!("schema drift: RealtimeFunctionTool.properties is missing")
    };
    tool_props
        .entry("description")
        .or_insert_with(|| json!({"type": "string"}));
}

const COMPOSITION: [&str; 3] = ["allOf", "anyOf", "oneOf"];

/// Closes every object schema that declares `properties`. `closed_by_parent`
/// marks branches of a composing object that is itself closed with
/// `unevaluatedProperties`; closing those too would reject the parent's
/// properties.
fn make_strict(node: &mut Value, closed_by_parent: bool) {
    match node {
        Value::Object(map) => {
            let has_props = map.get("properties").is_some_and(Value::is_object);
            let composes = COMPOSITION.iter().any(|k| map.contains_key(*k));
            let open = !map.contains_key("additionalProperties")
                && !map.contains_key("unevaluatedProperties");
            let mut closes_branches = false;
            if has_props && open && !closed_by_parent {
                if composes {
                    map.insert("unevaluatedProperties".into(), Value::Bool(false));
                    closes_branches = true;
                } else {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
            }
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "allOf" | "anyOf" | "oneOf" => {
                        if let Value::Array(branches) = child {
                            for b in branches {
                                make_strict(b, closes_branches);
                            }
                        }
                    }
                    // Values under `properties` are schemas keyed by name.
                    "properties" => {
                        if let Value::Object(props) = child {
                            for p in props.values_mut() {
                                make_strict(p, false);
                            }
                        }
                    }
                    // Literal data, not schemas.
                    "enum" | "const" | "default" | "required" | "example" | "examples" => {}
                    _ => make_strict(child, false),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                make_strict(item, false);
            }
        }
        _ => {}
    }
}

fn validator_for_ref(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut root: Map<String, Value> = doc.as_object().cloned().unwrap_or_default();
    root.insert(
        "$ref".into(),
        Value::String(format!("#/components/schemas/{name}")),
    );
    jsonschema::draft202012::new(&Value::Object(root))
        .unwrap_or_else(|e| panic!("schema {name} does not compile: {e}"))
}

fn validators() -> &'static ClientValidators {
    static CELL: OnceLock<ClientValidators> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut doc = load_document();
        patch(&mut doc);
        make_strict(&mut doc["components"], false);
        let union = validator_for_ref(&doc, "RealtimeClientEvent");
        let mut by_type = HashMap::new();
        let branches = doc["components"]["schemas"]["RealtimeClientEvent"]["anyOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for b in branches {
            let Some(name) = b["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            else {
                continue;
            };
            let schema = &doc["components"]["schemas"][name];
            if let Some(wire) = schema["properties"]["type"]["enum"][0].as_str() {
                by_type.insert(wire.to_owned(), validator_for_ref(&doc, name));
            }
        }
        assert!(
            by_type.contains_key("session.update"),
            "schema drift: no session.update in RealtimeClientEvent"
        );
        ClientValidators { union, by_type }
    })
}

/// All strict-validation errors of `v` as a client event (empty = valid).
/// Errors come from the event's own schema when its `type` is known (precise
/// messages), else from the `RealtimeClientEvent` union.
pub fn client_event_errors(v: &Value) -> Vec<String> {
    let vals = validators();
    let specific = v["type"].as_str().and_then(|t| vals.by_type.get(t));
    let validator = specific.unwrap_or(&vals.union);
    let mut errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("at '{}': {}", e.instance_path, e))
        .collect();
    // The union is the contract; the specific schema only sharpens messages.
    if errors.is_empty() && !vals.union.is_valid(v) {
        errors.push("not valid under RealtimeClientEvent".into());
    }
    errors
}

/// Panics, listing every error and the event, unless `v` is a strictly valid
/// GA client event.
pub fn assert_client_event(v: &Value) {
    let errors = client_event_errors(v);
    assert!(
        errors.is_empty(),
        "client event fails the strict OpenAI Realtime GA schema:\n  {}\nevent: {}",
        errors.join("\n  "),
        serde_json::to_string_pretty(v).unwrap_or_default()
    );
}
