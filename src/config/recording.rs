//! `[recording]`: where switchboard keeps the calls it records itself
//! (`[tenants.recording] mode = "all"`), with the defaults beside the struct.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[recording]`: the recordings' folder and the writer's queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Folder of the recordings, one file per call at
    /// `<dir>/<tenant>/<YYYY-MM-DD>/<call id>.wav` (UTC date). Relative paths
    /// resolve against the config file's folder. Default `data/recordings`.
    pub dir: PathBuf,
    /// Audio chunks a call's recorder holds while its disk is slow, per call;
    /// past it chunks are dropped (and counted in the call's recording note)
    /// rather than delay the call. 64–65536, default 2048 (about 20 s of a call).
    pub queue_chunks: usize,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dir: PathBuf::from("data/recordings"),
            queue_chunks: 2048,
        }
    }
}
