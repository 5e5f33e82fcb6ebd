//! switchboard: an actor-model telephony supervisor for AI voice receptionists.
//!
//! # How a call moves through the tree
//!
//! A carrier reaches the [`http`] server. For Twilio Media Streams (`/media-stream`)
//! and the browser softphone (`/browser`) the [`carrier`] edge actor starts a
//! [`call::CallActor`]; a jambonz session (`/jambonz`) starts
//! [`carrier::jambonz`]'s call actor, whose model is spoken to by jambonz's `llm`
//! verb. Each per-call actor owns a [`call::ledger::CallLedger`] (admission by the
//! [`supervisor::Supervisor`], the call row, transcript and tool rows, events,
//! metrics, `CallFinished`). A `CallActor` starts its own
//! [`model::link::ModelLinkActor`] (the voice model socket) and one
//! [`tools::ToolActor`] per tool call; when the link fails, the Supervisor decides
//! whether it restarts or the call ends. Carrier-specific actions (transfer,
//! hang-up) are `CarrierCommand`s the call sends to its edge. Rows are written by
//! the write-behind `Store` actor of [`store`] (Diesel: SQLite or PostgreSQL);
//! live events reach operators through [`events`].
//!
//! # Module map (what each top-level module owns)
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | assembly: `Services`, `start` (database, tenants, Store, Supervisor, message router, HTTP server) returning a `RunningServer`; used by `main`/`cli` and tests |
//! | [`cli`] | the command line: `serve`, `migrate`, `call`, `client`, `sim-model`, `loadtest`, `floor-relay` |
//! | [`config`] | the `Config` tree from `config.toml` + `SWITCHBOARD_*` env, validated into one-line errors; relative paths resolve against the config file |
//! | [`exposure`] | the start-up audit of what an outsider could reach on a public address |
//! | [`http`] | the actix-web routes: carriers, text webhooks, the Node gateway, dashboard, admin API, `/metrics`, `/health`, rate limits |
//! | [`supervisor`] | the `Supervisor` actor: call registry, admission, draining, link-restart decisions |
//! | [`call`] | `CallActor` (Twilio and browser calls), `CallLedger`, conversation history, playback and barge-in, tenant routing; no carrier code |
//! | [`lifecycle`] | `Carrier`, `Refusal`, `EndReason`: the enums behind the stored and shown text |
//! | [`carrier`] | our server-side edges, one module per wire: `twilio` (Media Streams edge, TwiML, signatures, REST), `jambonz` (WebSocket API edge, `llm` verbs, the jambonz call), `browser` (softphone socket, tokens) |
//! | [`caller`] | the emulated far end (`TwilioCall`) and `LogFeed`, for `switchboard call`, `loadtest` and tests; not used by the server |
//! | [`model`] | the voice-model side: OpenAI Realtime / xAI wire types, session shapes, the event tracker, `ModelLinkActor`, the built-in simulator (pure engine + actor) |
//! | [`tools`] | the tool registry and schemas, built-in and MCP tools, `ToolActor`, `chat_supervisor` (the tool loop over a chat model) |
//! | [`chat`] | the OpenAI-compatible Chat Completions client |
//! | [`messaging`] | SMS and email: the router and outbox, the text agent, the `/supervisor` Node gateway and protocol, SendGrid parsing, client tokens |
//! | [`messages`] | typed actor messages of the call tree (`AudioFrame`, `CarrierHangup`, `CarrierCommand`, `LinkDown`, `ToolCall`, `ToolResult`, …) |
//! | [`store`] | persistence: Diesel schema and rows, one query module per table, the `Store` writer actor and its outage spool |
//! | [`tenant`] | tenants from `[[tenants]]` and their per-tenant settings |
//! | [`notify`] | owner notifications: events → stored `notifications` rows → the `Notifier` actor (Twilio SMS, SendGrid email, retries, quiet hours); it also writes call summaries |
//! | [`summary`] | call summaries (text model or composed from facts) and readable tool lines |
//! | [`session_settings`] | operator edits to the model session (per tenant and per live call) |
//! | [`events`] | the live call-event feed behind `/logs` |
//! | [`metrics`] | the Prometheus registry behind `/metrics` |
//! | [`audio`] | codecs (µ-law, A-law, PCM16), resampling, WAV files, levels |
//! | [`loadtest`] | `switchboard loadtest`: concurrent emulated calls and per-frame latency figures |
//! | [`memory`] | returning freed heap to the OS when the node is idle |
//!
//! docs/architecture.md gives the layering rules and what is still to change.

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
pub mod notify;
pub mod session_settings;
pub mod store;
pub mod summary;
pub mod supervisor;
pub mod tenant;
pub mod tools;
