//! switchboard: an actor-model telephony supervisor for AI voice receptionists.
//!
//! # How a call moves through the tree
//!
//! A carrier reaches the [`http`] server. For Twilio Media Streams (`/media-stream`)
//! and the browser softphone (`/browser`) the [`carrier`] edge actor starts a
//! [`call::CallActor`], which asks the [`supervisor::Supervisor`] to admit it and
//! starts its own [`model::link::ModelLinkActor`] (the voice model socket) and one
//! [`tools::ToolActor`] per tool call. A jambonz call (`/jambonz`) is run by
//! [`carrier::jambonz`]'s own call actor (admitted by the Supervisor likewise),
//! with the model spoken to by jambonz's `llm` verb. The Supervisor is the call registry: admission, draining, and the
//! restart-or-end decision when a model link fails. Everything durable goes
//! through the [`store`] (Diesel: SQLite or PostgreSQL) by the write-behind
//! `Store` actor; live events go to operators through [`events`].
//!
//! # Module map (what each top-level module owns)
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | process assembly: `Services`, `start` (migrations, tenants, Supervisor, Store, HTTP server), shutdown |
//! | [`cli`] | the command line: `serve`, `migrate`, `call`, `client`, `sim-model`, `loadtest`, `floor-relay` |
//! | [`config`] | the `Config` tree from `config.toml` + `SWITCHBOARD_*` env, validated at start-up |
//! | [`http`] | the actix-web routes: carriers, text webhooks, the Node gateway, the dashboard, admin API, `/metrics`, `/health`, rate limits |
//! | [`carrier`] | one module per carrier wire: `twilio` (Media Streams edge, TwiML, signatures, REST, and the emulated Twilio caller used by `call`/`loadtest`/tests), `jambonz` (WebSocket API edge and call), `browser` (softphone socket and tokens) |
//! | [`call`] | `CallActor`: one call's state, transcript, playback and barge-in, between carrier, model link and tools |
//! | [`supervisor`] | the `Supervisor` actor: call registry, admission, draining, link-restart decisions |
//! | [`model`] | the voice-model side: OpenAI Realtime wire types, provider session shapes, `ModelLinkActor`, the built-in simulator |
//! | [`tools`] | the tool registry and JSON schemas, built-in tools, MCP tools, `ToolActor`, the chat-supervisor tool |
//! | [`chat`] | the OpenAI-compatible Chat Completions client and its tool loop |
//! | [`messaging`] | SMS and email: the router, the text agent, the `/supervisor` Node gateway and its protocol, SendGrid parsing, client tokens |
//! | [`messages`] | typed actor messages shared across the call tree (`AudioFrame`, `CarrierHangup`, `LinkDown`, `ToolCall`, `ToolResult`, …) |
//! | [`store`] | persistence: the Diesel schema and rows, one query module per table, the `Store` writer actor and its spool |
//! | [`tenant`] | tenants from `[[tenants]]` and how a call or message is routed to one |
//! | [`session_settings`] | operator edits to the model session (per tenant and per live call) |
//! | [`events`] | the live call-event feed behind `/logs` |
//! | [`metrics`] | the Prometheus registry behind `/metrics` |
//! | [`exposure`] | the start-up audit of what an outsider could reach |
//! | [`audio`] | codecs (µ-law, A-law, PCM16), resampling, WAV files, levels |
//! | [`loadtest`] | `switchboard loadtest`: concurrent emulated calls and per-frame latency figures |
//! | [`memory`] | returning freed heap to the OS when the node is idle |

pub mod app;
pub mod audio;
pub mod call;
pub mod caller;
pub mod carrier;
pub mod chat;
pub mod cli;
pub mod config;
pub mod events;
pub mod exposure;
pub mod http;
pub mod lifecycle;
pub mod loadtest;
pub mod memory;
pub mod messages;
pub mod messaging;
pub mod metrics;
pub mod model;
pub mod session_settings;
pub mod store;
pub mod supervisor;
pub mod tenant;
pub mod tools;
