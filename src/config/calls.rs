//! `[calls]`: admission and per-call limits, with the defaults beside the struct.

use serde::{Deserialize, Serialize};

/// `[calls]`: admission and per-call limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallsConfig {
    /// Calls carried at once by this node; the next is refused (WS close 1013).
    pub max_calls: usize,
    /// Calls carried at once per tenant — across the whole cluster when
    /// `[cluster]` is on. Unset: no per-tenant cap.
    pub max_calls_per_tenant: Option<usize>,
    /// Seconds without any carrier frame before the call is ended (Twilio can go
    /// silent without `stop`).
    pub carrier_idle_timeout_secs: u64,
    /// Milliseconds of assistant audio sent ahead of real time to the carrier.
    pub playout_lead_ms: u32,
    /// Milliseconds of assistant audio queued for pacing before the call sheds it.
    pub max_queued_audio_ms: u32,
    /// Milliseconds of audio sent to a Twilio stream whose marks have not come
    /// back; past it the carrier is not reading and the call ends
    /// (`carrier_slow_consumer`, close 1008). Bounds memory per stalled peer.
    pub max_unacked_audio_ms: u32,
    /// The receptionist speaks first when the call connects (a `response.create`
    /// right after the session is configured), as a caller expects.
    pub greet_caller: bool,
    /// Start a Twilio call's model link at the voice webhook (`POST /twiml`):
    /// connect, configure and ask for the greeting before the media stream
    /// opens, holding the greeting audio until it does.
    pub prewarm: bool,
    /// Seconds a pre-warmed call waits for its media stream before it closes
    /// its link, frees its slot and is stored as ended `no_stream`.
    pub prewarm_timeout_secs: u64,
    /// Milliseconds of silence on the caller's side, while the call's model
    /// link is down, before the hold clip starts; it repeats until the model
    /// speaks again.
    pub hold_after_ms: u32,
    /// Longest voicemail a caller can leave when the model is gone, seconds.
    pub voicemail_max_secs: u32,
    /// Milliseconds of silence after the caller has spoken that end a
    /// voicemail recorded by switchboard.
    pub voicemail_end_silence_ms: u32,
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            max_calls: 1000,
            max_calls_per_tenant: None,
            carrier_idle_timeout_secs: 15,
            playout_lead_ms: 300,
            max_queued_audio_ms: 120_000,
            max_unacked_audio_ms: 10_000,
            greet_caller: true,
            prewarm: true,
            prewarm_timeout_secs: 10,
            hold_after_ms: 700,
            voicemail_max_secs: 120,
            voicemail_end_silence_ms: 4000,
        }
    }
}
