//! `[simulator]`: how the built-in scripted model is served and paced, with
//! its defaults beside the struct.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[simulator]`: the built-in OpenAI-Realtime-compatible scripted model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Serve `GET /sim/v1/realtime` even when `model.url` names another model
    /// (it is always served when `model.url` is empty: then it is the model).
    pub enabled: bool,
    /// Answer `/sim/v1/realtime` from any peer; by default only loopback peers
    /// (others get 403 before the upgrade).
    pub public: bool,
    /// Script TOML (turns, replies, function calls). Empty (the default): the
    /// script built into the binary (`assets/sim/script.toml`).
    pub script: PathBuf,
    /// Folder with the reply clips named in the script. Empty (the default):
    /// the clips built into the binary (`assets/sim/*.wav`).
    pub clips_dir: PathBuf,
    /// Audio streaming speed as a multiple of real time (0 = as fast as possible).
    pub pace: f32,
    /// Keep every received client event (tests only; memory grows per event).
    pub record_events: bool,
    /// Milliseconds the upgrade of `/sim/v1/realtime` is held before it is
    /// answered, to stand in for a real provider's TLS + WebSocket connect.
    pub connect_delay_ms: u64,
    /// Milliseconds between a `response.create` and the simulator acting on it
    /// (so before its first audio), like a real model's time to first audio.
    pub first_audio_delay_ms: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            enabled: false,
            public: false,
            script: PathBuf::new(),
            clips_dir: PathBuf::new(),
            pace: 2.0,
            record_events: false,
            connect_delay_ms: 0,
            first_audio_delay_ms: 0,
        }
    }
}
