//! switchboard: an actor-model telephony supervisor for AI voice receptionists.
//!
//! # How a call moves through the tree
//!
//! A carrier reaches the [`http`] server. Its [`carrier`] edge actor (Twilio Media
//! Streams `/media-stream`, the browser softphone `/browser`, a jambonz session
//! `/jambonz`) routes the call to a tenant and asks the
//! [`call_tree::supervisor::Supervisor`] to start it (`StartCall`). The Supervisor
//! admits or refuses it and starts the per-call actor on the edge's arbiter: a
//! [`call_tree::call::CallActor`], or for jambonz [`carrier::jambonz`]'s call,
//! whose model jambonz's `llm` verb speaks to. Each per-call actor owns a
//! [`call_tree::call::ledger::CallLedger`] (the call row, transcript and tool rows,
//! events, metrics, `CallFinished`) and starts its children: a `CallActor` its
//! [`call_tree::link::ModelLinkActor`] (the voice model socket) and its
//! [`call_tree::tool::ToolActor`]. A failed link is reported to the Supervisor,
//! which sends back `RestartLink` (backoff) or `EndCall` (budget spent).
//! Carrier-specific actions (transfer, hang-up) are `CarrierCommand`s the call
//! sends to its edge. Rows are written by the write-behind `Store` actor of
//! [`store`] (Diesel: SQLite or PostgreSQL); live events reach operators through
//! [`events`].
//!
//! Each layer sees only its own context, defined at or below it:
//! [`tools::env::ToolEnv`] (tools, the text agent), [`call_tree::call::env::CallEnv`]
//! (per-call actors, handed out by the Supervisor), [`carrier::env::CarrierEnv`]
//! (carrier edges and webhooks), [`messaging::env::MessagingEnv`] (text channels),
//! [`http::state::AppState`] (HTTP handlers only). [`app`] builds them and is
//! imported by nothing but the commands.
//!
//! # Module map (what each top-level module owns)
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | assembly: `start` (database, tenants, each layer's context, Store, Supervisor, message router, HTTP server) returning a `RunningServer`; used by `cli` and tests |
//! | [`cli`] | the command line: `serve`, `migrate`, `call`, `client`, `sim-model`, `loadtest`, `floor-relay` |
//! | [`http`] | the actix-web routes (grouped by resource) and `AppState`: carriers, text webhooks, the Node gateway, dashboard, admin API, `/metrics`, `/health`; `ApiError`, every error answer; the limits' middleware |
//! | [`rate_limits`] | per-client-address rate limits (webhooks, failed authentications), shared by `http` and the Node gateway |
//! | [`carrier`] | `CarrierEnv` and our server-side edges, one module per wire: `twilio` (Media Streams edge, TwiML, signatures, stream grants), `jambonz` (WebSocket API edge, `llm` verbs, the jambonz call), `browser` (softphone socket, tokens) |
//! | [`call_tree`] | the actors of a live call: `supervisor` (admission, pre-warm hand-over, restarts, operator commands), `call` (`CallActor`, its pure `state` machine, ledger, playback and barge-in, conversation, routing), `link` (`ModelLinkActor` and its socket), `tool` (`ToolActor`); no carrier code |
//! | [`messaging`] | `MessagingEnv`; SMS and email: the router and outbox, the text agent, the `/supervisor` Node gateway and protocol, SendGrid parsing, client tokens |
//! | [`cluster`] | the cluster bus (in-process or NATS), admission slots, the live-call registry, the outage spool |
//! | [`tools`] | `ToolEnv`, the tool registry and schemas, built-in and MCP tools, the tool runner, `chat_loop` (the text model's tool loop), `chat_supervisor` |
//! | [`calendar`] | tenants' own CalDAV calendars: availability read from them (time-range `REPORT`, recurring events expanded by the server), bookings written as events (`PUT If-None-Match`), queued writes retried by `CalendarSync` until they land, the subscribable `.ics` feed |
//! | [`notify`] | owner notifications: events → stored `notifications` rows → the `Notifier` actor (Twilio SMS, SendGrid email, retries, quiet hours); it also writes call summaries |
//! | [`summary`] | call summaries (text model or composed from facts) and readable tool lines |
//! | [`actor_messages`] | the actor message catalogue of the call tree (`AudioFrame`, `CarrierHangup`, `CarrierCommand`, `LinkDown`, `ToolCall`, `ToolResult`, `CallFinished`, `LinkFailed`, `RestartLink`, `EndCall`, …) |
//! | [`session_settings`] | operator edits to the model session (per tenant and per live call) |
//! | [`rest`] | clients of the REST APIs switchboard calls out to: Twilio (calls, messages), SendGrid (mail send) |
//! | [`model`] | the voice-model side: providers, OpenAI Realtime / GPT-Live / xAI wire types, session shapes, the trackers and the `ModelEvent` / `LinkCommand` vocabulary, the built-in simulator (pure engine + actor) |
//! | [`chat`] | the OpenAI-compatible Chat Completions client (one request, one answer; knows no tools) |
//! | [`store`] | persistence: Diesel schema and rows, one query module per table, the `Store` writer actor and its outage spool |
//! | [`tenant`] | tenants from `[[tenants]]`, their per-tenant settings (owner notifications and quiet hours included), local time and `[routing]` |
//! | [`config`] | the `Config` tree from `config.toml` + `SWITCHBOARD_*` env (one file per section, defaults beside each struct), validated into one-line errors; relative paths resolve against the config file |
//! | [`exposure`] | the start-up audit of what an outsider could reach on a public address |
//! | [`lifecycle`] | `Carrier`, `Refusal`, `EndReason`: the enums behind the stored and shown text |
//! | [`events`] | the live call-event feed behind `/logs` |
//! | [`metrics`] | the Prometheus registry behind `/metrics` |
//! | [`audio`] | codecs (µ-law, A-law, PCM16), resampling, WAV files, levels, pre-encoded clips |
//! | [`memory`] | returning freed heap to the OS when the node is idle |
//! | [`net`] | IP address classes: loopback peers, `trusted_proxies` CIDRs |
//! | [`far_end`] | the emulated far end of a call (`TwilioCall`: Twilio and the phone) and `LogFeed`, for `switchboard call`, `loadtest` and tests; not used by the server |
//! | [`loadtest`] | `switchboard loadtest`: concurrent emulated calls and per-frame latency figures |
//!
//! docs/architecture.md draws the layers and gives the rule tests/it/architecture.rs
//! enforces: no import cycle between files, nor between top-level modules.

pub mod accounts;
pub mod actor_messages;
pub mod app;
pub mod audio;
pub mod calendar;
pub mod call_tree;
pub mod carrier;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod events;
pub mod exposure;
pub mod far_end;
pub mod http;
pub mod http_client;
pub mod lifecycle;
pub mod loadtest;
pub mod memory;
pub mod messaging;
pub mod metrics;
pub mod model;
pub mod net;
pub mod notify;
pub mod rate_limits;
pub mod rest;
pub mod retention;
pub mod session_settings;
pub mod store;
pub mod summary;
pub mod tenant;
pub mod tools;
