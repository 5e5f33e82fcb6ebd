//! Integration scenarios over real sockets on loopback, with real SQLite files and
//! the real PostgreSQL server. One test binary (link once); one module per area.

mod support;

mod bad_input;
mod barge_in;
mod call_flow;
mod crash_recovery;
mod faults;
mod link_restart;
mod realtime_schema;
mod security;
mod shutdown;
mod simulator;
mod store;
mod twiml;
mod wire_props;
