//! switchboard: an actor-model telephony supervisor for AI voice receptionists.
//!
//! Carriers (Twilio Media Streams) reach the [`http`] edge; each call gets a
//! [`call::CallActor`], a [`model::link::ModelLinkActor`] and a
//! [`tools::ToolActor`], owned by the [`supervisor::Supervisor`]. Everything is
//! persisted through the [`store`] (Diesel: SQLite or PostgreSQL).

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
