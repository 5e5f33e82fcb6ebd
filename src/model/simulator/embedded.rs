//! The simulator's default script and reply clips, built into the binary from
//! `assets/sim/` (`include_str!`/`include_bytes!`), so a server started from any
//! folder, with nothing beside it, has its offline model. `simulator.script` and
//! `simulator.clips_dir` replace them when set (see [`super::Simulator::from_config`]).
//! The clips are 24 kHz mono 16-bit WAVs built by `assets/generate.sh`.

/// The default script (`assets/sim/script.toml`).
pub const SCRIPT: &str = include_str!("../../../assets/sim/script.toml");

/// Every clip in `assets/sim/`, by file name (the names scripts use), ~0.9 MiB in all.
pub const CLIPS: &[(&str, &[u8])] = &[
    (
        "booking-confirmed.wav",
        include_bytes!("../../../assets/sim/booking-confirmed.wav"),
    ),
    (
        "booking.wav",
        include_bytes!("../../../assets/sim/booking.wav"),
    ),
    (
        "fallback.wav",
        include_bytes!("../../../assets/sim/fallback.wav"),
    ),
    (
        "goodbye.wav",
        include_bytes!("../../../assets/sim/goodbye.wav"),
    ),
    (
        "greeting.wav",
        include_bytes!("../../../assets/sim/greeting.wav"),
    ),
    (
        "message-taken.wav",
        include_bytes!("../../../assets/sim/message-taken.wav"),
    ),
];

/// The built-in clip called `name` (e.g. `greeting.wav`), as WAV bytes.
pub fn clip(name: &str) -> Option<&'static [u8]> {
    CLIPS
        .iter()
        .find(|(clip, _)| *clip == name)
        .map(|(_, bytes)| *bytes)
}
