//! Integration scenarios over real sockets on loopback, with real SQLite files and
//! the real PostgreSQL server. One test binary (link once); one module per area.

// Cargo.toml denies unwrap/expect outside tests; clippy.toml exempts #[test]
// functions, and this whole crate is test code (its helpers in support/ too):
// a failed unwrap here is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod accounts;
mod admission;
mod amd;
mod architecture;
mod bad_input;
mod barge_in;
mod browser;
mod calendar;
mod call_flow;
mod carrier_sockets;
mod chat_supervisor;
mod cluster;
mod cluster_bus;
mod cluster_spool;
mod crash_recovery;
mod docs;
mod erasure;
mod error_responses;
mod exposure;
mod faults;
mod garbage;
mod hold;
mod jambonz;
mod keypad;
mod limits;
mod link_restart;
mod live;
mod loadtest;
mod mcp;
mod messaging;
mod notify;
mod openai_sip;
mod operator;
mod prewarm;
mod provider_replay;
mod realtime_schema;
mod recording;
mod redaction;
mod retention;
mod scopes;
mod security;
mod shutdown;
mod simulator;
mod startup;
mod store;
mod tenants;
mod tools;
mod transfer;
mod transfer_way_back;
mod twiml;
mod voicemail;
mod wire_props;
