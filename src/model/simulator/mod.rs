//! The built-in realtime model simulator: an OpenAI-Realtime-GA-compatible
//! WebSocket server at `GET /sim/v1/realtime` for offline runs, tests and load
//! tests. It runs an energy VAD over the caller's audio ([`vad`]), answers
//! each caller turn from a TOML [`script`] with real audio clips streamed
//! faster than real time, makes scripted function calls, and honours barge-in
//! and truncation like the real service. The conversation itself is a pure
//! state machine ([`engine`]); one thin actor per socket moves its frames and
//! pacing ticks ([`session`]).
//! Test hooks record client events, kill sessions abruptly and refuse new
//! connections. The default script and clips are built in ([`embedded`]).

pub mod embedded;
pub mod engine;
pub mod script;
pub mod session;
pub mod settings;
pub mod vad;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::audio::format::{encode_base64, encode_pcm, AudioFormat};
use crate::audio::wav::{read_wav, read_wav_bytes, Pcm};
use crate::audio::AudioError;
use crate::net::is_loopback;

pub use script::{Reply, Script, ScriptedCall, Turn};
use session::{Kill, SimSession};
pub use settings::SimulatorConfig;

/// URL path the simulator is mounted at.
pub const SIM_PATH: &str = "/sim/v1/realtime";

/// Length of each `response.output_audio.delta` chunk, in ms.
pub const CHUNK_MS: u32 = 100;

/// Largest client frame accepted, in bytes (OpenAI allows 15 MiB of base64
/// audio per append).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Errors building the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The script file could not be read.
    #[error("cannot read simulator script {path}: {source}")]
    Io {
        /// The script path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The script is not valid TOML or has the wrong shape.
    #[error("invalid simulator script: {0}")]
    Script(String),
    /// A clip the script names could not be loaded.
    #[error("cannot load simulator clip {path}: {source}")]
    Clip {
        /// The clip path.
        path: PathBuf,
        /// The audio error.
        #[source]
        source: AudioError,
    },
    /// A built-in clip did not decode (a build defect).
    #[error("cannot decode built-in simulator clip {name}: {source}")]
    EmbeddedClip {
        /// The clip's file name.
        name: String,
        /// The audio error.
        #[source]
        source: AudioError,
    },
    /// The script names a clip that is not built in and no `clips_dir` is set.
    #[error(
        "simulator clip {0} is not built in; set simulator.clips_dir to the folder holding it"
    )]
    NoEmbeddedClip(String),
    /// `pace` must be finite and ≥ 0.
    #[error("simulator pace must be a finite number >= 0, got {0}")]
    Pace(f32),
}

/// A clip encoded for one output format, cut into [`CHUNK_MS`] chunks.
#[derive(Debug)]
pub(crate) struct EncodedClip {
    /// Base64 of each chunk, in order.
    pub chunks: Vec<String>,
    /// Duration of each chunk in ms (all [`CHUNK_MS`] except maybe the last).
    pub chunk_ms: Vec<u32>,
}

/// What every session of one simulator reads: the script, the pace and the
/// decoded clips, with each clip encoded per output format on first use.
/// No actix, no I/O: the conversation engine ([`engine`]) sees only this.
pub(crate) struct Assets {
    pub script: Script,
    pub pace: f32,
    clips: HashMap<String, Pcm>,
    encoded: Mutex<HashMap<(String, AudioFormat), Arc<EncodedClip>>>,
}

/// The shared simulator state: its [`Assets`] plus the registry of live
/// sessions and the test hooks.
pub(crate) struct Inner {
    pub assets: Arc<Assets>,
    recording: bool,
    recorded: Mutex<Vec<Vec<serde_json::Value>>>,
    live: Mutex<HashMap<u64, Addr<SimSession>>>,
    refuse: AtomicBool,
    connections: AtomicUsize,
    next_session: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Assets {
    /// The clip `name` in `format`, converted on first use and cached.
    pub(crate) fn clip(&self, name: &str, format: AudioFormat) -> Option<Arc<EncodedClip>> {
        let key = (name.to_owned(), format);
        if let Some(hit) = lock(&self.encoded).get(&key) {
            return Some(hit.clone());
        }
        let pcm = self.clips.get(name)?;
        let bytes = match encode_pcm(format, pcm) {
            Ok(b) => b,
            Err(e) => {
                log::error!("simulator: cannot encode clip {name} as {format:?}: {e}");
                return None;
            }
        };
        let chunk_bytes = (format.bytes_per_ms() * CHUNK_MS) as usize;
        let clip = Arc::new(EncodedClip {
            chunks: bytes.chunks(chunk_bytes).map(encode_base64).collect(),
            chunk_ms: bytes
                .chunks(chunk_bytes)
                .map(|c| format.duration_ms(c.len()))
                .collect(),
        });
        lock(&self.encoded).insert(key, clip.clone());
        Some(clip)
    }
}

impl Inner {
    pub(crate) fn record(&self, session: u64, event: serde_json::Value) {
        if !self.recording {
            return;
        }
        let mut rec = lock(&self.recorded);
        if let Some(events) = usize::try_from(session).ok().and_then(|i| rec.get_mut(i)) {
            events.push(event);
        }
    }

    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    pub(crate) fn register(&self, id: u64, addr: Addr<SimSession>) {
        lock(&self.live).insert(id, addr);
    }

    pub(crate) fn deregister(&self, id: u64) {
        lock(&self.live).remove(&id);
    }
}

/// The simulator: script, decoded clips and live sessions, shared by every
/// socket (cheap to clone).
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
    /// Answer non-loopback peers too (`simulator.public`).
    public: bool,
    /// Stand-in provider delays (`simulator.connect_delay_ms`, `first_audio_delay_ms`).
    delays: SimDelays,
}

/// Delays that make the simulator behave like a provider across a network:
/// the WebSocket upgrade is answered `connect` late, and each `response.create`
/// is acted on `first_audio` late. Zero (the default): none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimDelays {
    pub connect: Duration,
    pub first_audio: Duration,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("turns", &self.inner.assets.script.turns.len())
            .field("pace", &self.inner.assets.pace)
            .field("live_sessions", &self.session_count())
            .finish()
    }
}

/// Where the simulator's reply clips come from.
#[derive(Debug, Clone, Copy)]
pub enum ClipSource<'a> {
    /// The clips built into the binary ([`embedded::CLIPS`]).
    Embedded,
    /// WAV files in this folder, named as in the script.
    Dir(&'a Path),
}

impl<'a> ClipSource<'a> {
    /// `simulator.clips_dir` semantics: an empty path means the built-in clips.
    pub fn from_config(clips_dir: &'a Path) -> Self {
        if clips_dir.as_os_str().is_empty() {
            ClipSource::Embedded
        } else {
            ClipSource::Dir(clips_dir)
        }
    }

    fn read(self, name: &str) -> Result<Pcm, SimError> {
        match self {
            ClipSource::Embedded => {
                let bytes = embedded::clip(name)
                    .ok_or_else(|| SimError::NoEmbeddedClip(name.to_owned()))?;
                read_wav_bytes(bytes).map_err(|source| SimError::EmbeddedClip {
                    name: name.to_owned(),
                    source,
                })
            }
            ClipSource::Dir(dir) => {
                let path = dir.join(name);
                read_wav(&path).map_err(|source| SimError::Clip { path, source })
            }
        }
    }
}

impl Simulator {
    /// Builds a simulator, reading every clip the script names from
    /// `clips_dir` (24 kHz mono 16-bit WAVs; other rates are resampled on
    /// use). `pace` is the speed of audio streaming relative to real time
    /// (4.0 = four times faster; 0 = as fast as possible).
    ///
    /// # Errors
    /// [`SimError::Clip`] if a clip is missing or not a readable WAV,
    /// [`SimError::Pace`] for a negative or non-finite pace.
    pub fn new(script: Script, clips_dir: &Path, pace: f32) -> Result<Self, SimError> {
        Self::with_clips(script, ClipSource::Dir(clips_dir), pace)
    }

    /// The simulator `[simulator]` describes: `script` and `clips_dir` when set,
    /// the built-in script and clips ([`embedded`]) when empty; `pace`,
    /// `record_events` and `public` as given.
    ///
    /// # Errors
    /// As [`Script::load`] and [`Simulator::with_clips`].
    pub fn from_config(config: &SimulatorConfig) -> Result<Self, SimError> {
        let script = Script::load_or_embedded(&config.script)?;
        Ok(Self::with_clips(
            script,
            ClipSource::from_config(&config.clips_dir),
            config.pace,
        )?
        .with_recording(config.record_events)
        .with_public(config.public)
        .with_delays(SimDelays {
            connect: Duration::from_millis(config.connect_delay_ms),
            first_audio: Duration::from_millis(config.first_audio_delay_ms),
        }))
    }

    /// As [`Simulator::new`], with the clips from `source`.
    ///
    /// # Errors
    /// [`SimError::Clip`] (a file missing or unreadable),
    /// [`SimError::NoEmbeddedClip`] (a name not built in),
    /// [`SimError::EmbeddedClip`], [`SimError::Pace`].
    pub fn with_clips(script: Script, source: ClipSource<'_>, pace: f32) -> Result<Self, SimError> {
        if !pace.is_finite() || pace < 0.0 {
            return Err(SimError::Pace(pace));
        }
        let mut clips = HashMap::new();
        for name in script.clip_names() {
            clips.insert(name.to_owned(), source.read(name)?);
        }
        Ok(Simulator {
            inner: Arc::new(Inner {
                assets: Arc::new(Assets {
                    script,
                    pace,
                    clips,
                    encoded: Mutex::new(HashMap::new()),
                }),
                recording: false,
                recorded: Mutex::new(Vec::new()),
                live: Mutex::new(HashMap::new()),
                refuse: AtomicBool::new(false),
                connections: AtomicUsize::new(0),
                next_session: AtomicU64::new(0),
            }),
            public: false,
            delays: SimDelays::default(),
        })
    }

    /// Answers upgrades and `response.create`s with `delays` (see [`SimDelays`]).
    pub fn with_delays(mut self, delays: SimDelays) -> Self {
        self.delays = delays;
        self
    }

    /// Whether peers that are not loopback may connect (`simulator.public`;
    /// off by default: they get 403 before the upgrade, so a server on a
    /// public address does not lend its model to strangers).
    pub fn with_public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// Turns recording of client events on or off (off by default). Call
    /// before the simulator is cloned or mounted; on a shared simulator this
    /// returns a fresh one with the same script and clips and no sessions.
    pub fn with_recording(self, on: bool) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.recording = on;
                inner
            }
            Err(shared) => Inner {
                assets: shared.assets.clone(),
                recording: on,
                recorded: Mutex::new(Vec::new()),
                live: Mutex::new(HashMap::new()),
                refuse: AtomicBool::new(shared.refuse.load(Ordering::SeqCst)),
                connections: AtomicUsize::new(0),
                next_session: AtomicU64::new(0),
            },
        };
        Simulator {
            inner: Arc::new(inner),
            public: self.public,
            delays: self.delays,
        }
    }

    /// Mounts `GET /sim/v1/realtime` (WebSocket upgrade; any `model` query
    /// and `Authorization` header are accepted and ignored). Peers that are
    /// not loopback get 403 before the upgrade unless [`Simulator::with_public`].
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let sim = self.clone();
        cfg.route(
            SIM_PATH,
            web::get().to(move |req: HttpRequest, stream: web::Payload| {
                let sim = sim.clone();
                async move {
                    if !sim.delays.connect.is_zero() {
                        actix_rt::time::sleep(sim.delays.connect).await;
                    }
                    sim.upgrade(&req, stream)
                }
            }),
        );
    }

    fn upgrade(&self, req: &HttpRequest, stream: web::Payload) -> HttpResponse {
        let peer = req.peer_addr().map(|a| a.ip());
        if !self.public && !peer.is_some_and(is_loopback) {
            log::warn!(
                "{SIM_PATH}: refused peer {} (not loopback; simulator.public = false)",
                peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
            );
            return HttpResponse::Forbidden()
                .body("the built-in simulator answers loopback peers only");
        }
        if self.inner.refuse.load(Ordering::SeqCst) {
            return HttpResponse::ServiceUnavailable().body("simulator refusing connections");
        }
        let id = self.inner.next_session.fetch_add(1, Ordering::SeqCst);
        if self.inner.recording {
            let mut rec = lock(&self.inner.recorded);
            let idx = usize::try_from(id).unwrap_or(usize::MAX);
            if rec.len() <= idx {
                rec.resize_with(idx + 1, Vec::new);
            }
        }
        let actor = SimSession::new(self.inner.clone(), id, self.delays.first_audio);
        match ws::WsResponseBuilder::new(actor, req, stream)
            .frame_size(MAX_FRAME_BYTES)
            .start()
        {
            Ok(resp) => {
                self.inner.connections.fetch_add(1, Ordering::SeqCst);
                resp
            }
            Err(e) => HttpResponse::from_error(e),
        }
    }

    /// Every client event received, per session (in connection order), each
    /// as the JSON value received — malformed frames as a JSON string. Empty
    /// unless built `with_recording(true)`.
    pub fn recorded_sessions(&self) -> Vec<Vec<serde_json::Value>> {
        lock(&self.inner.recorded).clone()
    }

    /// Drops every live session's socket abruptly, without a close frame, so
    /// clients observe an abnormal close (as on a provider outage).
    pub fn kill_sessions(&self) {
        let live: Vec<Addr<SimSession>> = lock(&self.inner.live).values().cloned().collect();
        for addr in live {
            addr.do_send(Kill);
        }
    }

    /// While `true`, WebSocket upgrades are answered `503 Service
    /// Unavailable`.
    pub fn set_refuse_connections(&self, refuse: bool) {
        self.inner.refuse.store(refuse, Ordering::SeqCst);
    }

    /// Sessions currently connected.
    pub fn session_count(&self) -> usize {
        lock(&self.inner.live).len()
    }

    /// Upgrades accepted since start.
    pub fn connections_total(&self) -> usize {
        self.inner.connections.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds_from_the_built_in_script_and_clips() {
        let config = SimulatorConfig::default();
        assert!(config.script.as_os_str().is_empty());
        assert!(config.clips_dir.as_os_str().is_empty());
        let sim = Simulator::from_config(&config).expect("built-in simulator");
        let shipped =
            Script::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sim/script.toml"))
                .expect("shipped script");
        assert_eq!(sim.inner.assets.script.turns.len(), shipped.turns.len());
        for name in shipped.clip_names() {
            let pcm = sim.inner.assets.clips.get(name).expect("clip loaded");
            assert!(
                pcm.samples.len() > 24_000,
                "{name}: {} samples",
                pcm.samples.len()
            );
        }
    }

    #[test]
    fn every_built_in_clip_decodes() {
        for (name, bytes) in embedded::CLIPS {
            let pcm = read_wav_bytes(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pcm.sample_rate, 24_000, "{name}");
        }
    }

    #[test]
    fn a_set_clips_dir_overrides_the_built_in_clips() {
        let config = SimulatorConfig {
            clips_dir: "/nonexistent/switchboard-clips".into(),
            ..SimulatorConfig::default()
        };
        match Simulator::from_config(&config) {
            Err(SimError::Clip { path, .. }) => {
                assert!(
                    path.starts_with("/nonexistent/switchboard-clips"),
                    "{path:?}"
                )
            }
            other => panic!("expected a clip error from the set folder, got {other:?}"),
        }
    }

    #[test]
    fn a_set_script_overrides_the_built_in_script() {
        let config = SimulatorConfig {
            script: "/nonexistent/script.toml".into(),
            ..SimulatorConfig::default()
        };
        assert!(matches!(
            Simulator::from_config(&config),
            Err(SimError::Io { .. })
        ));
    }

    #[test]
    fn a_clip_that_is_not_built_in_is_named() {
        let script =
            Script::from_toml_str("[fallback]\nclip = \"custom.wav\"\ntext = \"Sorry?\"\n")
                .expect("script");
        match Simulator::with_clips(script, ClipSource::Embedded, 1.0) {
            Err(SimError::NoEmbeddedClip(name)) => assert_eq!(name, "custom.wav"),
            other => panic!("expected NoEmbeddedClip, got {other:?}"),
        }
    }
}
