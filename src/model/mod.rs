//! The realtime voice model side: protocol types ([`realtime`], OpenAI Realtime GA),
//! provider session shapes ([`session`], OpenAI and xAI), the per-call
//! [`link::ModelLinkActor`], and the built-in [`simulator`].

pub mod link;
pub mod provider;
pub mod realtime;
pub mod session;
pub mod simulator;
pub mod socket;
pub mod tracker;
