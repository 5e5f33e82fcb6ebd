//! Integration scenarios over real sockets on loopback, with real SQLite files and
//! the real PostgreSQL server. One test binary (link once); one module per area.

mod support;

mod admission;
mod bad_input;
mod barge_in;
mod call_flow;
mod link_restart;
mod loadtest;
mod realtime_schema;
mod simulator;
mod store;
mod twiml;
