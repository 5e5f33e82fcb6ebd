//! Local call recording (`[tenants.recording] mode = "all"`): one
//! two-channel 16-bit PCM WAV per call, left the caller, right the
//! receptionist as the caller heard it, both on the call's clock (ms since the
//! recorder started, with the call's row).
//!
//! The call actor hands each frame to its [`Recorder`]: the frame's base64
//! payload is copied and its time noted in a small batch (holding the frame
//! itself would pin its socket's read buffer), and
//! every [`BATCH_CHUNKS`] chunks or [`BATCH_MS`] the batch goes, without
//! waiting, to the process's one [`RecordingWriter`] thread. That thread wakes
//! every [`DRAIN_EVERY`], decodes, places and writes every recording's
//! audio, so a slow or failing disk never delays a frame: a recording with
//! more than its queue of chunks waiting drops the newest (counted), a write
//! error ends that recording (logged, noted on the call) and never the call.
//! One thread for all recordings, not one per call: per-call threads woke
//! 1,500 times a second at 300 calls and cost more than the writing
//! (docs/recording.md#cost). The placement is [`Mix`] (pure): caller audio
//! follows on from the previous frame, moved up to its arrival when it is
//! [`GAP_MS`] late or consistently late over [`DRIFT_WINDOW_MS`] (the gap is
//! silence); receptionist audio sits where the carrier plays it (sent time
//! plus what was queued before it) and a `clear` cuts what was not played
//! yet. Audio is written [`HOLD_BACK_MS`] behind the newest time seen, so a
//! `clear` can still cut it.

use std::collections::HashMap;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::NaiveDate;

use crate::audio::format::AudioFormat;
use crate::audio::stereo_wav::{self, StereoWav};
use crate::audio::{alaw, mulaw, pcm};
use crate::store::db::Pool;
use crate::store::{calls, files, StoreError};

/// Caller audio arriving this much later than where it would follow on is
/// placed at its arrival time at once, the gap left silent (a muted
/// microphone, a stream that paused). Milliseconds.
pub const GAP_MS: u32 = 1000;

/// Over each [`DRIFT_WINDOW_MS`] of caller audio, if even the least late
/// frame arrived more than this after where it followed on, the caller's
/// track has fallen behind the clock (the far end skipped audio) and moves up
/// by that much, as silence. A frame late on its own (network jitter, a
/// burst) moves nothing. Milliseconds.
pub const DRIFT_MS: u32 = 20;

/// See [`DRIFT_MS`]. Milliseconds.
pub const DRIFT_WINDOW_MS: u32 = 1000;

/// Audio is written this far behind the newest time seen, so a `clear` (which
/// cuts only audio not yet played, at most `calls.playout_lead_ms` ahead) finds
/// it still in memory. Milliseconds.
pub const HOLD_BACK_MS: u32 = 2000;

/// How often each WAV header is brought up to date, so a file cut short by a
/// crash is still readable up to then.
const HEADER_EVERY: Duration = Duration::from_secs(2);

/// Chunks a call collects before handing them to the writer.
pub const BATCH_CHUNKS: usize = 16;

/// Room for a batch's payloads, bytes (16 Twilio frames of 160 µ-law bytes
/// are 16 × 216 base64 bytes; larger model chunks grow it).
const PAYLOADS_BYTES: usize = 4096;

/// Longest a chunk waits in its call's batch, ms (checked as frames come;
/// a carrier streams about 50 frames a second, silence included).
pub const BATCH_MS: u32 = 100;

/// How long the writer sleeps between drains of its queue. Calls hand
/// batches over without waking it (docs/recording.md#cost).
const DRAIN_EVERY: Duration = Duration::from_millis(200);

/// Why a recording ended early.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot write the recording: {0}")]
    Io(#[from] io::Error),
    #[error("the recording thread did not start: {0}")]
    Thread(io::Error),
}

/// What the writer tells the call's row when a recording is closed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingOutcome {
    /// The file, relative to `recording.dir`.
    pub file: String,
    /// Why the recording is incomplete; `None` when it is whole.
    pub note: Option<String>,
}

/// One chunk for the writer; times are ms on the call's clock. A chunk
/// with audio names how many bytes of its batch's `payloads` are its base64
/// payload, in order.
#[derive(Debug)]
enum Chunk {
    Caller { at_ms: u32, len: u32 },
    Receptionist { at_ms: u32, start_ms: u32, len: u32 },
    Clear { at_ms: u32 },
    End { at_ms: u32 },
}

/// A seekable file (or test stand-in) a recording is written to.
pub trait RecordingFile: Write + Seek + Send {}

impl<T: Write + Seek + Send> RecordingFile for T {}

/// Opens a recording's file, on the writer thread.
type Opener = Box<dyn FnOnce() -> io::Result<Box<dyn RecordingFile>> + Send>;

/// Told the outcome once the file is closed (on a thread of its own: it may
/// wait for the database).
type Done = Box<dyn FnOnce(RecordingOutcome) + Send>;

/// What calls send the writer.
enum Command {
    Open {
        id: u64,
        call_id: String,
        format: AudioFormat,
        relative: String,
        open: Opener,
        done: Done,
        queued: Arc<AtomicUsize>,
        dropped: Arc<AtomicU32>,
    },
    /// Close what has ended now and answer (a shutdown waits for it).
    Flush {
        done: tokio::sync::oneshot::Sender<()>,
    },
    Chunks {
        id: u64,
        chunks: Vec<Chunk>,
        /// The chunks' base64 payloads, one after the other: copied out of
        /// the frames (holding the frames themselves would pin the sockets'
        /// read buffers until the writer drains).
        payloads: Vec<u8>,
    },
}

/// Where a recording goes, relative to `recording.dir`:
/// `<tenant>/<YYYY-MM-DD>/<call id>.wav`.
pub fn relative_path(tenant: &str, date: NaiveDate, call_id: &str) -> String {
    format!("{tenant}/{}/{call_id}.wav", date.format("%Y-%m-%d"))
}

/// Writes `outcome` into the call's row (off the call's thread): tried again
/// for a few seconds while the row is not written yet (a recording that fails
/// at once can beat the write-behind insert).
pub fn store_outcome(pool: &Pool, call_id: &str, outcome: &RecordingOutcome) {
    for _ in 0..STORE_ATTEMPTS {
        let stored = pool.get().map_err(StoreError::from).and_then(|mut conn| {
            calls::set_recording(&mut conn, call_id, &outcome.file, outcome.note.as_deref())
        });
        match stored {
            Ok(true) => {
                log::info!("call {call_id}: recording closed ({})", outcome.file);
                return;
            }
            Ok(false) => std::thread::sleep(Duration::from_secs(1)),
            Err(e) => {
                log::error!("call {call_id}: recording not noted on the call: {e}");
                return;
            }
        }
    }
    log::error!("call {call_id}: recording not noted: no call row");
}

/// Tries of [`store_outcome`], a second apart.
const STORE_ATTEMPTS: u32 = 10;

/// The process's recording writer: one thread, shared by every recorded
/// call, started with the first recording (a server that records nothing
/// runs no writer). Cloning gives another handle on the same thread; the
/// thread ends (closing every open file) when the last handle and recorder
/// are gone.
#[derive(Clone, Default)]
pub struct RecordingWriter {
    tx: Arc<std::sync::OnceLock<Option<Sender<Command>>>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

impl RecordingWriter {
    /// A writer whose thread starts with its first recording.
    pub fn new() -> RecordingWriter {
        RecordingWriter::default()
    }

    /// A writer whose thread is running now.
    ///
    /// # Errors
    /// [`RecordingError::Thread`] when no thread can be started.
    pub fn start() -> Result<RecordingWriter, RecordingError> {
        let writer = RecordingWriter::new();
        let tx = Self::spawn()?;
        let _ = writer.tx.set(Some(tx));
        Ok(writer)
    }

    fn spawn() -> Result<Sender<Command>, RecordingError> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("recordings".into())
            .spawn(move || Writer::default().run(&rx))
            .map_err(RecordingError::Thread)?;
        Ok(tx)
    }

    /// The running thread's queue, starting it if needed; `None` when it
    /// could not start (logged once).
    fn sender(&self) -> Option<&Sender<Command>> {
        self.tx
            .get_or_init(|| match Self::spawn() {
                Ok(tx) => Some(tx),
                Err(e) => {
                    log::error!("calls are not recorded: {e}");
                    None
                }
            })
            .as_ref()
    }

    /// Closes every recording whose call has ended — its file finished and
    /// noted on its call before this returns — so a server shutting down
    /// cuts no file short. False when the writer did not answer within
    /// `timeout`.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let Some(Some(tx)) = self.tx.get() else {
            // Nothing was ever recorded.
            return true;
        };
        let (done, answered) = tokio::sync::oneshot::channel();
        if tx.send(Command::Flush { done }).is_err() {
            return true;
        }
        matches!(tokio::time::timeout(timeout, answered).await, Ok(Ok(())))
    }

    /// Starts recording `format` audio into `dir/relative` (a new file, mode
    /// 0600, in folders created 0700 as needed, by the writer) with at most
    /// `queue` chunks waiting; `done` gets the outcome once the file is closed.
    pub fn record(
        &self,
        call_id: &str,
        format: AudioFormat,
        dir: &Path,
        relative: String,
        queue: usize,
        done: impl FnOnce(RecordingOutcome) + Send + 'static,
    ) -> Recorder {
        let path = dir.join(&relative);
        let open = move || -> io::Result<BufWriter<std::fs::File>> {
            if let Some(parent) = path.parent() {
                files::create_private_dir_all(parent)?;
            }
            Ok(BufWriter::with_capacity(
                64 * 1024,
                files::create_private_new(&path)?,
            ))
        };
        self.record_to(call_id, format, relative, queue, open, done)
    }

    /// [`RecordingWriter::record`] writing to what `open` gives (opened on
    /// the writer's thread): the seam a test uses to slow the disk down.
    pub fn record_to<W, O>(
        &self,
        call_id: &str,
        format: AudioFormat,
        relative: String,
        queue: usize,
        open: O,
        done: impl FnOnce(RecordingOutcome) + Send + 'static,
    ) -> Recorder
    where
        W: RecordingFile + 'static,
        O: FnOnce() -> io::Result<W> + Send + 'static,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU32::new(0));
        let open: Opener = Box::new(move || open().map(|w| Box::new(w) as Box<dyn RecordingFile>));
        let tx = self.sender().cloned();
        let sent = tx.as_ref().map(|tx| {
            tx.send(Command::Open {
                id,
                call_id: call_id.to_string(),
                format,
                relative,
                open,
                done: Box::new(done),
                queued: queued.clone(),
                dropped: dropped.clone(),
            })
        });
        let sent = matches!(sent, Some(Ok(())));
        if !sent {
            log::error!("call {call_id}: not recorded: the recording writer is not running");
        }
        Recorder {
            id,
            tx: tx.filter(|_| sent),
            started: Instant::now(),
            batch: Vec::with_capacity(BATCH_CHUNKS),
            payloads: Vec::with_capacity(PAYLOADS_BYTES),
            batch_from_ms: 0,
            queued,
            queue,
            dropped,
        }
    }
}

/// The call actor's handle on its recording. Every method returns at once.
pub struct Recorder {
    id: u64,
    /// `None` once the writer is gone or the recording ended.
    tx: Option<Sender<Command>>,
    started: Instant,
    batch: Vec<Chunk>,
    /// The batch's payloads (see [`Command::Chunks`]).
    payloads: Vec<u8>,
    /// When the batch's first chunk came, ms on the call's clock.
    batch_from_ms: u32,
    /// Chunks handed over and not yet taken by the writer.
    queued: Arc<AtomicUsize>,
    queue: usize,
    dropped: Arc<AtomicU32>,
}

impl Recorder {
    fn now_ms(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX)
    }

    fn push(&mut self, now_ms: u32, chunk: Chunk) {
        if self.tx.is_none() {
            return;
        }
        if self.batch.is_empty() {
            self.batch_from_ms = now_ms;
        }
        self.batch.push(chunk);
        if self.batch.len() >= BATCH_CHUNKS || now_ms.saturating_sub(self.batch_from_ms) >= BATCH_MS
        {
            self.hand_over(false);
        }
    }

    /// Sends the batch; over the queue, it is dropped (counted) unless `always`.
    fn hand_over(&mut self, always: bool) {
        let Some(tx) = &self.tx else {
            return;
        };
        let n = self.batch.len();
        if n == 0 {
            return;
        }
        if !always && self.queued.load(Ordering::Relaxed) + n > self.queue {
            self.dropped.fetch_add(n as u32, Ordering::Relaxed);
            self.batch.clear();
            self.payloads.clear();
            return;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        let chunks = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_CHUNKS));
        let payloads = std::mem::replace(&mut self.payloads, Vec::with_capacity(PAYLOADS_BYTES));
        let sent = tx.send(Command::Chunks {
            id: self.id,
            chunks,
            payloads,
        });
        if sent.is_err() {
            self.tx = None;
        }
    }

    /// A caller frame (base64 in the call's format) that arrived now.
    pub fn caller(&mut self, payload: &str) {
        let at_ms = self.now_ms();
        let len = self.copy(payload);
        self.push(at_ms, Chunk::Caller { at_ms, len });
    }

    /// Copies `payload` into the batch; its length in bytes.
    fn copy(&mut self, payload: &str) -> u32 {
        if self.tx.is_none() {
            return 0;
        }
        self.payloads.extend_from_slice(payload.as_bytes());
        payload.len() as u32
    }

    /// Receptionist audio sent to the carrier now, which plays it `starts_in`
    /// from now.
    pub fn receptionist(&mut self, payload: &str, starts_in: Duration) {
        let at_ms = self.now_ms();
        let start_ms = at_ms.saturating_add(starts_in.as_millis().min(60_000) as u32);
        let len = self.copy(payload);
        self.push(
            at_ms,
            Chunk::Receptionist {
                at_ms,
                start_ms,
                len,
            },
        );
    }

    /// The carrier was told to `clear`: receptionist audio not played by now
    /// was never heard.
    pub fn clear(&mut self) {
        let at_ms = self.now_ms();
        self.push(at_ms, Chunk::Clear { at_ms });
    }

    /// The call ended now: the file ends here.
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let at_ms = self.now_ms();
        if self.tx.is_some() {
            self.batch.push(Chunk::End { at_ms });
            self.hand_over(true);
        }
        self.tx = None;
    }
}

impl Drop for Recorder {
    /// A call gone without [`Recorder::end`] still closes its file.
    fn drop(&mut self) {
        self.finish();
    }
}

/// One open recording on the writer thread.
struct Recording {
    call_id: String,
    format: AudioFormat,
    relative: String,
    wav: StereoWav<Box<dyn RecordingFile>>,
    mix: Mix,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU32>,
    done: Done,
    bad_frames: u32,
    /// The write error that ended it early.
    failed: Option<RecordingError>,
    /// The call's end, once it came.
    end_ms: Option<u32>,
}

impl Recording {
    /// One chunk whose payload is `payload`.
    fn take(&mut self, chunk: Chunk, payload: &[u8], bytes: &mut Vec<u8>, samples: &mut Vec<i16>) {
        match chunk {
            Chunk::Caller { at_ms, .. } => {
                if decode(self.format, payload, bytes, samples) {
                    self.mix.caller(at_ms, samples);
                } else {
                    self.bad_frames += 1;
                }
            }
            Chunk::Receptionist {
                at_ms, start_ms, ..
            } => {
                if decode(self.format, payload, bytes, samples) {
                    self.mix.receptionist(at_ms, start_ms, samples);
                } else {
                    self.bad_frames += 1;
                }
            }
            Chunk::Clear { at_ms } => self.mix.clear(at_ms),
            Chunk::End { at_ms } => self.end_ms = Some(at_ms),
        }
    }

    /// Writes what is ready (all of it once the call ended); a write error
    /// ends the recording.
    fn write(&mut self, header_due: bool) {
        if self.failed.is_some() {
            return;
        }
        let written = match self.end_ms {
            Some(end_ms) => self.mix.finish(end_ms, &mut self.wav),
            None => self.mix.write_ready(&mut self.wav),
        }
        .and_then(|()| {
            if header_due || self.end_ms.is_some() {
                self.wav.update_header()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            log::error!("call {}: recording stopped: {e}", self.call_id);
            self.failed = Some(RecordingError::Io(e));
        }
    }

    /// The note for the call's row; `None` when the recording is whole.
    fn note(&self) -> Option<String> {
        let mut notes = Vec::new();
        if let Some(e) = &self.failed {
            notes.push(format!("recording stopped early: {e}"));
        }
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            log::warn!(
                "call {}: {dropped} audio chunks left out of the recording (disk too slow)",
                self.call_id
            );
            notes.push(format!(
                "{dropped} audio chunks left out (the disk was too slow)"
            ));
        }
        if self.bad_frames > 0 {
            log::warn!(
                "call {}: {} frames did not decode for the recording",
                self.call_id,
                self.bad_frames
            );
            notes.push(format!("{} frames did not decode", self.bad_frames));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    /// Tells the call how it went: on a thread of its own, or here when a
    /// shutdown waits for it (`inline`).
    fn close(self, inline: bool) {
        let outcome = RecordingOutcome {
            file: self.relative.clone(),
            note: self.note(),
        };
        let done = self.done;
        if inline {
            done(outcome);
            return;
        }
        let call_id = self.call_id;
        let spawned = std::thread::Builder::new()
            .name("rec-outcome".into())
            .spawn(move || done(outcome));
        if let Err(e) = spawned {
            log::error!("call {call_id}: recording outcome not noted: {e}");
        }
    }
}

/// The writer thread's state: every open recording.
#[derive(Default)]
struct Writer {
    recordings: HashMap<u64, Recording>,
    /// Chunks of recordings whose file did not open: dropped on arrival.
    refused: std::collections::HashSet<u64>,
    bytes: Vec<u8>,
    samples: Vec<i16>,
    /// Shutdowns waiting for this pass.
    flushes: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl Writer {
    fn run(mut self, rx: &Receiver<Command>) {
        let mut header_at = Instant::now();
        loop {
            std::thread::sleep(DRAIN_EVERY);
            let gone = loop {
                match rx.try_recv() {
                    Ok(command) => self.take(command),
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
            };
            let header_due = header_at.elapsed() >= HEADER_EVERY;
            if header_due {
                header_at = Instant::now();
            }
            let mut ended = Vec::new();
            for (id, recording) in &mut self.recordings {
                recording.write(header_due);
                if recording.end_ms.is_some() || recording.failed.is_some() || gone {
                    ended.push(*id);
                }
            }
            for id in ended {
                if let Some(mut recording) = self.recordings.remove(&id) {
                    if recording.failed.is_some() && recording.end_ms.is_none() {
                        // Its call goes on: what it still sends is dropped here.
                        self.refused.insert(id);
                    } else if recording.end_ms.is_none() {
                        // Every handle is gone: the process is ending.
                        let at = recording.mix.latest_ms();
                        recording.end_ms = Some(at);
                        recording.write(true);
                    }
                    recording.close(!self.flushes.is_empty());
                }
            }
            for done in self.flushes.drain(..) {
                let _ = done.send(());
            }
            if gone {
                return;
            }
        }
    }

    fn take(&mut self, command: Command) {
        match command {
            Command::Open {
                id,
                call_id,
                format,
                relative,
                open,
                done,
                queued,
                dropped,
            } => {
                let opened = open().and_then(|file| StereoWav::new(file, format.sample_rate()));
                match opened {
                    Ok(wav) => {
                        self.recordings.insert(
                            id,
                            Recording {
                                call_id,
                                format,
                                relative,
                                wav,
                                mix: Mix::new(format.sample_rate()),
                                queued,
                                dropped,
                                done,
                                bad_frames: 0,
                                failed: None,
                                end_ms: None,
                            },
                        );
                    }
                    Err(e) => {
                        log::error!("call {call_id}: not recorded: {e}");
                        self.refused.insert(id);
                        let outcome = RecordingOutcome {
                            file: relative,
                            note: Some(format!(
                                "recording stopped early: cannot write the recording: {e}"
                            )),
                        };
                        let _ = std::thread::Builder::new()
                            .name("rec-outcome".into())
                            .spawn(move || done(outcome));
                    }
                }
            }
            Command::Flush { done } => self.flushes.push(done),
            Command::Chunks {
                id,
                chunks,
                payloads,
            } => {
                let Some(recording) = self.recordings.get_mut(&id) else {
                    if chunks.iter().any(|c| matches!(c, Chunk::End { .. })) {
                        self.refused.remove(&id);
                    }
                    return;
                };
                recording.queued.fetch_sub(chunks.len(), Ordering::Relaxed);
                let mut from = 0usize;
                for chunk in chunks {
                    let len = match chunk {
                        Chunk::Caller { len, .. } | Chunk::Receptionist { len, .. } => len as usize,
                        Chunk::Clear { .. } | Chunk::End { .. } => 0,
                    };
                    let payload = payloads.get(from..from + len).unwrap_or_default();
                    from += len;
                    recording.take(chunk, payload, &mut self.bytes, &mut self.samples);
                }
            }
        }
    }
}

/// Decodes one base64 chunk of `format` audio into `samples`; false when it
/// does not decode.
fn decode(
    format: AudioFormat,
    payload: &[u8],
    bytes: &mut Vec<u8>,
    samples: &mut Vec<i16>,
) -> bool {
    bytes.clear();
    samples.clear();
    if base64::engine::general_purpose::STANDARD
        .decode_vec(payload, bytes)
        .is_err()
    {
        return false;
    }
    match format {
        AudioFormat::Pcmu => mulaw::decode_into(bytes, samples),
        AudioFormat::Pcma => alaw::decode_into(bytes, samples),
        AudioFormat::Pcm24k => return pcm::le_bytes_to_samples(bytes, samples).is_ok(),
    }
    true
}

/// The two tracks on the call's clock, held from the last sample written.
#[derive(Debug)]
pub struct Mix {
    /// Samples per second.
    rate: u32,
    /// Sample position of the first frame not written yet (= frames written).
    base: u64,
    /// Index of `base` in `left` and `right`: what is before it is written
    /// and is dropped in bulk once it outgrows what is held.
    head: usize,
    left: Vec<i16>,
    right: Vec<i16>,
    /// Where the next caller frame follows on.
    caller_end: u64,
    /// Where the current drift window began, and the least lateness seen in it
    /// (samples; negative = arrived before where it followed on).
    drift_from: u64,
    drift_min: i64,
    /// The newest time seen, as a sample position.
    latest: u64,
    /// Interleaved frames on their way to the file, reused.
    frames: Vec<u8>,
}

impl Mix {
    /// Empty tracks at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let held = rate as usize * (HOLD_BACK_MS as usize / 1000 + 1);
        Mix {
            rate,
            base: 0,
            head: 0,
            left: Vec::with_capacity(held),
            right: Vec::with_capacity(held),
            caller_end: 0,
            drift_from: 0,
            drift_min: i64::MAX,
            latest: 0,
            frames: Vec::new(),
        }
    }

    fn position(&self, ms: u32) -> u64 {
        u64::from(ms) * u64::from(self.rate) / 1000
    }

    /// The newest time seen, ms.
    fn latest_ms(&self) -> u32 {
        u32::try_from(self.latest * 1000 / u64::from(self.rate)).unwrap_or(u32::MAX)
    }

    /// Writes `samples` into `track` (whose index `head` is position `base`)
    /// from absolute position `at`; what falls before the written part is too
    /// late and left out.
    fn put(track: &mut Vec<i16>, base: u64, head: usize, at: u64, samples: &[i16]) {
        let skip = base.saturating_sub(at) as usize;
        let Some(samples) = samples.get(skip..) else {
            return;
        };
        let from = head + (at + skip as u64 - base) as usize;
        let to = from + samples.len();
        if track.len() < to {
            track.resize(to, 0);
        }
        track[from..to].copy_from_slice(samples);
    }

    /// A caller frame of `samples` that arrived at `at_ms`.
    pub fn caller(&mut self, at_ms: u32, samples: &[i16]) {
        let arrived = self.position(at_ms);
        let began = arrived.saturating_sub(samples.len() as u64);
        let late = began as i64 - self.caller_end as i64;
        if late > self.position(GAP_MS) as i64 {
            self.caller_end = began;
            self.drift_from = arrived;
            self.drift_min = i64::MAX;
        } else {
            self.drift_min = self.drift_min.min(late);
            if arrived.saturating_sub(self.drift_from) >= self.position(DRIFT_WINDOW_MS) {
                if self.drift_min > self.position(DRIFT_MS) as i64 {
                    self.caller_end += self.drift_min as u64;
                }
                self.drift_from = arrived;
                self.drift_min = i64::MAX;
            }
        }
        let at = self.caller_end;
        Self::put(&mut self.left, self.base, self.head, at, samples);
        self.caller_end = at + samples.len() as u64;
        self.latest = self.latest.max(arrived);
    }

    /// Receptionist audio sent at `at_ms` that the carrier plays from `start_ms`.
    pub fn receptionist(&mut self, at_ms: u32, start_ms: u32, samples: &[i16]) {
        let start = self.position(start_ms);
        Self::put(&mut self.right, self.base, self.head, start, samples);
        self.latest = self.latest.max(self.position(at_ms));
    }

    /// The carrier dropped what it had not played by `at_ms`.
    pub fn clear(&mut self, at_ms: u32) {
        let at = self.position(at_ms);
        let keep = self.head + at.saturating_sub(self.base) as usize;
        self.right.truncate(keep);
        self.latest = self.latest.max(at);
    }

    /// Writes both tracks up to `until` (a sample position), silence where a
    /// track has nothing, in blocks of at most a second.
    fn write_until<W: Write + Seek>(
        &mut self,
        until: u64,
        wav: &mut StereoWav<W>,
    ) -> io::Result<()> {
        while self.base < until {
            let n = (until - self.base).min(u64::from(self.rate)) as usize;
            let to = self.head + n;
            for track in [&mut self.left, &mut self.right] {
                if track.len() < to {
                    track.resize(to, 0);
                }
            }
            stereo_wav::interleave(
                &self.left[self.head..to],
                &self.right[self.head..to],
                &mut self.frames,
            );
            wav.write_frames(&self.frames)?;
            self.head = to;
            self.base += n as u64;
        }
        // Drop the written part once it is larger than what is held, so each
        // sample is moved at most about once.
        let held = self
            .left
            .len()
            .max(self.right.len())
            .saturating_sub(self.head);
        if self.head > 0 && self.head >= held {
            self.left.drain(..self.head);
            self.right.drain(..self.head.min(self.right.len()));
            self.head = 0;
        }
        Ok(())
    }

    /// Writes what no `clear` can change any more.
    fn write_ready<W: Write + Seek>(&mut self, wav: &mut StereoWav<W>) -> io::Result<()> {
        let until = self.latest.saturating_sub(self.position(HOLD_BACK_MS));
        self.write_until(until, wav)
    }

    /// The call ended at `end_ms`: writes up to there; later audio was not heard.
    fn finish<W: Write + Seek>(&mut self, end_ms: u32, wav: &mut StereoWav<W>) -> io::Result<()> {
        let end = self.position(end_ms);
        self.write_until(end, wav)?;
        self.left.clear();
        self.right.clear();
        self.head = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use bytestring::ByteString;
    use std::sync::Mutex;

    use super::*;

    /// Interleaved samples of a finished Mix written at `end_ms`.
    fn written(mix: &mut Mix, end_ms: u32) -> Vec<(i16, i16)> {
        let mut wav = StereoWav::new(Cursor::new(Vec::new()), mix.rate).unwrap();
        mix.finish(end_ms, &mut wav).unwrap();
        let mut cursor = wav.finish().unwrap();
        cursor.set_position(0);
        let reader = hound::WavReader::new(cursor).unwrap();
        let all: Vec<i16> = reader.into_samples::<i16>().map(|s| s.unwrap()).collect();
        all.chunks(2).map(|f| (f[0], f[1])).collect()
    }

    #[test]
    fn caller_frames_follow_on_and_a_long_gap_stays_silent() {
        // 1 kHz clock: one sample per ms.
        let mut mix = Mix::new(1000);
        mix.caller(20, &[1; 20]);
        mix.caller(41, &[2; 20]); // 1 ms of jitter: follows on at 20
        mix.caller(3000, &[3; 20]); // after a pause: at 2980
        let frames = written(&mut mix, 3100);
        assert_eq!(frames.len(), 3100);
        assert_eq!(frames[0].0, 1);
        assert_eq!(frames[20].0, 2);
        assert_eq!(frames[39].0, 2);
        assert_eq!(frames[40].0, 0);
        assert_eq!(frames[2979].0, 0);
        assert_eq!(frames[2980].0, 3);
        assert_eq!(frames[3000].0, 0);
    }

    #[test]
    fn a_late_burst_moves_nothing_but_skipped_audio_is_caught_up() {
        let mut mix = Mix::new(1000);
        // 1 s on time, then 5 frames held up 100 ms and delivered at once.
        let mut t = 0;
        for _ in 0..50 {
            t += 20;
            mix.caller(t, &[1; 20]);
        }
        for _ in 0..5 {
            mix.caller(t + 100 + 20, &[2; 20]);
            t += 20;
        }
        for _ in 0..50 {
            t += 20;
            mix.caller(t, &[3; 20]);
        }
        assert_eq!(mix.caller_end, u64::from(t), "a burst shifted the track");
        // The far end skips 60 ms, then goes on in real time: caught up
        // within a window.
        t += 60;
        for _ in 0..110 {
            t += 20;
            mix.caller(t, &[4; 20]);
        }
        assert_eq!(mix.caller_end, u64::from(t));
    }

    #[test]
    fn receptionist_audio_sits_where_it_plays_and_a_clear_cuts_the_unplayed() {
        let mut mix = Mix::new(1000);
        // Sent at 100 ms, queued behind 300 ms: plays 400..500.
        mix.receptionist(100, 400, &[5; 100]);
        mix.receptionist(100, 500, &[6; 100]);
        // Barge-in at 550: 550..600 was never heard.
        mix.clear(550);
        let frames = written(&mut mix, 800);
        assert_eq!(frames[399].1, 0);
        assert_eq!(frames[400].1, 5);
        assert_eq!(frames[549].1, 6);
        assert_eq!(frames[550].1, 0);
        assert!(frames[550..].iter().all(|f| f.1 == 0));
    }

    #[test]
    fn audio_after_the_end_is_left_out() {
        let mut mix = Mix::new(1000);
        mix.receptionist(0, 50, &[7; 100]);
        let frames = written(&mut mix, 100);
        assert_eq!(frames.len(), 100);
        assert_eq!(frames[99].1, 7);
    }

    /// A disk whose every write takes `delay`.
    struct SlowDisk {
        inner: Cursor<Vec<u8>>,
        delay: Duration,
    }

    impl Write for SlowDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    impl Seek for SlowDisk {
        fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn a_slow_disk_delays_no_frame_and_drops_are_noted() {
        let (tx, rx) = mpsc::channel();
        let frame: ByteString = base64::engine::general_purpose::STANDARD
            .encode([0xFFu8; 160])
            .into();
        let writer = RecordingWriter::start().unwrap();
        let mut recorder = writer.record_to(
            "slow-disk-call",
            AudioFormat::Pcmu,
            "t/2026-12-05/slow-disk-call.wav".into(),
            64,
            || {
                Ok(SlowDisk {
                    inner: Cursor::new(Vec::new()),
                    delay: Duration::from_millis(300),
                })
            },
            move |outcome| {
                let _ = tx.send(outcome);
            },
        );
        let mut slowest = Duration::ZERO;
        for _ in 0..500 {
            let at = Instant::now();
            recorder.caller(&frame);
            recorder.receptionist(&frame, Duration::from_millis(100));
            slowest = slowest.max(at.elapsed());
        }
        recorder.end();
        assert!(
            slowest < Duration::from_millis(5),
            "a frame waited {slowest:?} for the disk"
        );
        let outcome = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        let note = outcome.note.unwrap_or_default();
        assert!(note.contains("left out"), "{note}");
    }

    /// A disk that fails after `ok` writes.
    struct FullDisk {
        writes: Arc<Mutex<u32>>,
        ok: u32,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut writes = self.writes.lock().unwrap();
            *writes += 1;
            if *writes > self.ok {
                return Err(io::Error::other("No space left on device"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, _: io::SeekFrom) -> io::Result<u64> {
            Ok(0)
        }
    }

    #[test]
    fn a_write_error_ends_the_recording_with_a_note() {
        let (tx, rx) = mpsc::channel();
        let writes = Arc::new(Mutex::new(0));
        let disk = FullDisk {
            writes: writes.clone(),
            ok: 3,
        };
        let frame: ByteString = base64::engine::general_purpose::STANDARD
            .encode([0x00u8; 160])
            .into();
        let writer = RecordingWriter::start().unwrap();
        let mut recorder = writer.record_to(
            "full-disk-call",
            AudioFormat::Pcmu,
            "t/2026-12-05/full-disk-call.wav".into(),
            4096,
            move || Ok(disk),
            move |outcome| {
                let _ = tx.send(outcome);
            },
        );
        // The writer writes 2 s behind: 3 s of frames reach the disk.
        for _ in 0..150 {
            recorder.caller(&frame);
            std::thread::sleep(Duration::from_millis(20));
        }
        let outcome = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let note = outcome.note.unwrap_or_default();
        assert!(note.contains("No space left"), "{note}");
        // Frames after the failure are taken and ignored, without blocking.
        let at = Instant::now();
        recorder.caller(&frame);
        recorder.end();
        assert!(at.elapsed() < Duration::from_millis(5));
    }

    #[actix_rt::test]
    async fn a_flush_closes_ended_recordings_and_notes_them_before_it_returns() {
        let noted = Arc::new(Mutex::new(None));
        let writer = RecordingWriter::start().unwrap();
        let recorder = {
            let noted = noted.clone();
            writer.record_to(
                "flush-call",
                AudioFormat::Pcmu,
                "t/2026-12-05/flush-call.wav".into(),
                64,
                || Ok(Cursor::new(Vec::new())),
                move |outcome| *noted.lock().unwrap() = Some(outcome),
            )
        };
        recorder.end();
        assert!(writer.flush(Duration::from_secs(5)).await);
        let outcome = noted.lock().unwrap().clone();
        assert_eq!(
            outcome.map(|o| o.file),
            Some("t/2026-12-05/flush-call.wav".to_string())
        );
    }

    #[test]
    fn paths_name_tenant_date_and_call() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        assert_eq!(
            relative_path("acme-dental", date, "c-1"),
            "acme-dental/2026-12-05/c-1.wav"
        );
    }
}
