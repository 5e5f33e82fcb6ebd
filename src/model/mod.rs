//! The realtime voice model side: protocol types ([`realtime`], OpenAI Realtime GA;
//! [`live`], OpenAI GPT-Live, tracked by [`live_tracker`]), which API a call speaks
//! ([`api`]), model ids with announced shutdowns ([`retirement`]),
//! provider session shapes ([`session`], OpenAI and xAI), the `[model]`
//! settings ([`settings`]), the per-call [`link::ModelLinkActor`], and the
//! built-in [`simulator`] (its `[simulator]` settings included). Imports
//! neither `config` nor `exposure`: `config` builds on this module.

pub mod api;
pub mod command;
pub mod event;
pub mod live;
pub mod live_tracker;
pub mod provider;
pub mod realtime;
pub mod retirement;
pub mod session;
pub mod settings;
pub mod simulator;
pub mod tracker;
