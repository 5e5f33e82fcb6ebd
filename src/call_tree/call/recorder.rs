//! A call's local recording (`[tenants.recording] mode = "all"`): one
//! two-channel 16-bit PCM WAV per call, left the caller, right the
//! receptionist as the caller heard it, both on the call's clock (ms since the
//! recorder started, with the call's row).
//!
//! The call actor hands each frame to a [`Recorder`]: a non-blocking send of
//! the frame's base64 slice (a reference count, no copy) and its time into a
//! bounded queue. A thread per recording decodes, places and writes them, so
//! a slow or failing disk never delays a frame: a full queue drops the chunk
//! (counted), a write error ends the recording (logged, noted on the call) and
//! never the call. The placement is [`Mix`] (pure): caller audio follows on
//! from the previous frame, moved up to its arrival when it is [`GAP_MS`]
//! late or consistently late over [`DRIFT_WINDOW_MS`] (the gap is silence);
//! receptionist audio sits where the
//! carrier plays it (sent time plus what was queued before it) and a `clear`
//! cuts what was not played yet. Audio is written [`HOLD_BACK_MS`] behind the
//! newest time seen, so a `clear` can still cut it.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytestring::ByteString;
use chrono::NaiveDate;

use crate::audio::format::AudioFormat;
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

/// How often the WAV header is brought up to date, so a file cut short by a
/// crash is still readable up to then.
const HEADER_EVERY: Duration = Duration::from_secs(2);

/// How long the writer sleeps between drains of its queue. The call's actor
/// hands chunks over without waking it: a wake-up per frame (about 100 a
/// second per call) cost more CPU than decoding and writing them
/// (`bench/run.sh recording`, docs/recording.md#cost).
const DRAIN_EVERY: Duration = Duration::from_millis(200);

/// Why a recording ended early.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("cannot write the recording: {0}")]
    Io(#[from] io::Error),
    #[error("cannot write the WAV file: {0}")]
    Wav(#[from] hound::Error),
    #[error("the recording thread did not start: {0}")]
    Thread(io::Error),
}

/// What the writer thread tells the call's row when it is done.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingOutcome {
    /// The file, relative to `recording.dir`.
    pub file: String,
    /// Why the recording is incomplete; `None` when it is whole.
    pub note: Option<String>,
}

/// One chunk for the writer thread; times are ms on the call's clock.
#[derive(Debug)]
enum Chunk {
    Caller {
        at_ms: u32,
        payload: ByteString,
    },
    Receptionist {
        at_ms: u32,
        start_ms: u32,
        payload: ByteString,
    },
    Clear {
        at_ms: u32,
    },
    End {
        at_ms: u32,
    },
}

/// Where a recording goes, relative to `recording.dir`:
/// `<tenant>/<YYYY-MM-DD>/<call id>.wav`.
pub fn relative_path(tenant: &str, date: NaiveDate, call_id: &str) -> String {
    format!("{tenant}/{}/{call_id}.wav", date.format("%Y-%m-%d"))
}

/// Writes `outcome` into the call's row (on the recording's thread, never the
/// call's): tried again for a few seconds while the row is not written yet (a
/// recording that fails at once can beat the write-behind insert).
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

/// The call actor's handle on its recording. Every method returns at once.
pub struct Recorder {
    tx: Option<SyncSender<Chunk>>,
    started: Instant,
    dropped: Arc<AtomicU32>,
}

impl Recorder {
    /// Starts recording `format` audio into `dir/relative` (a new file, mode
    /// 0600, in folders created 0700 as needed, by the thread) with a queue of `queue` chunks; `done` gets the
    /// outcome once the file is closed, on the recording's thread.
    ///
    /// # Errors
    /// [`RecordingError::Thread`] when no thread can be started.
    pub fn start(
        call_id: &str,
        format: AudioFormat,
        dir: &Path,
        relative: String,
        queue: usize,
        done: impl FnOnce(RecordingOutcome) + Send + 'static,
    ) -> Result<Recorder, RecordingError> {
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
        Self::start_with(call_id, format, relative, queue, open, done)
    }

    /// [`Recorder::start`] writing to what `open` gives (opened on the
    /// recording's thread): the seam a test uses to slow the disk down.
    ///
    /// # Errors
    /// [`RecordingError::Thread`] when no thread can be started.
    pub fn start_with<W, O>(
        call_id: &str,
        format: AudioFormat,
        relative: String,
        queue: usize,
        open: O,
        done: impl FnOnce(RecordingOutcome) + Send + 'static,
    ) -> Result<Recorder, RecordingError>
    where
        W: Write + Seek + 'static,
        O: FnOnce() -> io::Result<W> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(queue);
        let started = Instant::now();
        let dropped = Arc::new(AtomicU32::new(0));
        let writer = Writer {
            call_id: call_id.to_string(),
            format,
            started,
            dropped: dropped.clone(),
        };
        std::thread::Builder::new()
            .name(format!("rec-{}", call_id.get(..8).unwrap_or(call_id)))
            .spawn(move || {
                let note = writer.run(rx, open);
                done(RecordingOutcome {
                    file: relative,
                    note,
                });
            })
            .map_err(RecordingError::Thread)?;
        Ok(Recorder {
            tx: Some(tx),
            started,
            dropped,
        })
    }

    fn now_ms(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX)
    }

    fn send(&mut self, chunk: Chunk) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(chunk) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The writer has stopped (and said why): nothing more to record.
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }

    /// A caller frame (base64 in the call's format) that arrived now.
    pub fn caller(&mut self, payload: &ByteString) {
        let at_ms = self.now_ms();
        self.send(Chunk::Caller {
            at_ms,
            payload: payload.clone(),
        });
    }

    /// Receptionist audio sent to the carrier now, which plays it `starts_in`
    /// from now.
    pub fn receptionist(&mut self, payload: &ByteString, starts_in: Duration) {
        let at_ms = self.now_ms();
        let start_ms = at_ms.saturating_add(starts_in.as_millis().min(60_000) as u32);
        self.send(Chunk::Receptionist {
            at_ms,
            start_ms,
            payload: payload.clone(),
        });
    }

    /// The carrier was told to `clear`: receptionist audio not played by now
    /// was never heard.
    pub fn clear(&mut self) {
        let at_ms = self.now_ms();
        self.send(Chunk::Clear { at_ms });
    }

    /// The call ended now: the file ends here. Should the queue be full, the
    /// writer ends at the time it notices the call is gone instead.
    pub fn end(mut self) {
        let at_ms = self.now_ms();
        self.send(Chunk::End { at_ms });
    }
}

/// The recording's thread.
struct Writer {
    call_id: String,
    format: AudioFormat,
    started: Instant,
    dropped: Arc<AtomicU32>,
}

impl Writer {
    /// Writes until the call ends; returns the note for the call's row.
    fn run<W, O>(self, rx: mpsc::Receiver<Chunk>, open: O) -> Option<String>
    where
        W: Write + Seek,
        O: FnOnce() -> io::Result<W>,
    {
        let mut bad_frames = 0u32;
        let result = self.write(rx, open, &mut bad_frames);
        let dropped = self.dropped.load(Ordering::Relaxed);
        let mut notes = Vec::new();
        if let Err(e) = &result {
            log::error!("call {}: recording stopped: {e}", self.call_id);
            notes.push(format!("recording stopped early: {e}"));
        }
        if dropped > 0 {
            log::warn!(
                "call {}: {dropped} audio chunks left out of the recording (disk too slow)",
                self.call_id
            );
            notes.push(format!(
                "{dropped} audio chunks left out (the disk was too slow)"
            ));
        }
        if bad_frames > 0 {
            log::warn!(
                "call {}: {bad_frames} frames did not decode for the recording",
                self.call_id
            );
            notes.push(format!("{bad_frames} frames did not decode"));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }

    fn write<W, O>(
        &self,
        rx: mpsc::Receiver<Chunk>,
        open: O,
        bad_frames: &mut u32,
    ) -> Result<(), RecordingError>
    where
        W: Write + Seek,
        O: FnOnce() -> io::Result<W>,
    {
        let rate = self.format.sample_rate();
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::new(open()?, spec)?;
        let mut mix = Mix::new(rate);
        let mut bytes = Vec::with_capacity(8 * 1024);
        let mut samples = Vec::with_capacity(4 * 1024);
        let mut header_at = Instant::now();
        let end_ms = 'drains: loop {
            std::thread::sleep(DRAIN_EVERY);
            loop {
                let chunk = match rx.try_recv() {
                    Ok(chunk) => chunk,
                    Err(TryRecvError::Empty) => break,
                    // The call is gone without its end (the queue was full then).
                    Err(TryRecvError::Disconnected) => {
                        break 'drains u32::try_from(self.started.elapsed().as_millis())
                            .unwrap_or(u32::MAX);
                    }
                };
                match chunk {
                    Chunk::Caller { at_ms, payload } => {
                        if self.decode(&payload, &mut bytes, &mut samples) {
                            mix.caller(at_ms, &samples);
                        } else {
                            *bad_frames += 1;
                        }
                    }
                    Chunk::Receptionist {
                        at_ms,
                        start_ms,
                        payload,
                    } => {
                        if self.decode(&payload, &mut bytes, &mut samples) {
                            mix.receptionist(at_ms, start_ms, &samples);
                        } else {
                            *bad_frames += 1;
                        }
                    }
                    Chunk::Clear { at_ms } => mix.clear(at_ms),
                    Chunk::End { at_ms } => break 'drains at_ms,
                }
            }
            mix.write_ready(&mut wav)?;
            if header_at.elapsed() >= HEADER_EVERY {
                wav.flush()?;
                header_at = Instant::now();
            }
        };
        mix.finish(end_ms, &mut wav)?;
        wav.finalize()?;
        Ok(())
    }

    /// Decodes one base64 chunk into `samples`; false when it does not decode.
    fn decode(&self, payload: &str, bytes: &mut Vec<u8>, samples: &mut Vec<i16>) -> bool {
        bytes.clear();
        samples.clear();
        if base64::engine::general_purpose::STANDARD
            .decode_vec(payload, bytes)
            .is_err()
        {
            return false;
        }
        match self.format {
            AudioFormat::Pcmu => mulaw::decode_into(bytes, samples),
            AudioFormat::Pcma => alaw::decode_into(bytes, samples),
            AudioFormat::Pcm24k => return pcm::le_bytes_to_samples(bytes, samples).is_ok(),
        }
        true
    }
}

/// The two tracks on the call's clock, held from the last sample written.
#[derive(Debug)]
pub struct Mix {
    /// Samples per second.
    rate: u32,
    /// Sample position of the front of `left` and `right` (= frames written).
    base: u64,
    left: VecDeque<i16>,
    right: VecDeque<i16>,
    /// Where the next caller frame follows on.
    caller_end: u64,
    /// Where the current drift window began, and the least lateness seen in it
    /// (samples; negative = arrived before where it followed on).
    drift_from: u64,
    drift_min: i64,
    /// The newest time seen, as a sample position.
    latest: u64,
}

impl Mix {
    /// Empty tracks at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        Mix {
            rate,
            base: 0,
            left: VecDeque::with_capacity(rate as usize * 4),
            right: VecDeque::with_capacity(rate as usize * 4),
            caller_end: 0,
            drift_from: 0,
            drift_min: i64::MAX,
            latest: 0,
        }
    }

    fn position(&self, ms: u32) -> u64 {
        u64::from(ms) * u64::from(self.rate) / 1000
    }

    /// Writes `samples` into `track` from absolute position `at`; what falls
    /// before the written part is too late and left out.
    fn put(track: &mut VecDeque<i16>, base: u64, at: u64, samples: &[i16]) {
        let skip = base.saturating_sub(at) as usize;
        let Some(samples) = samples.get(skip..) else {
            return;
        };
        let from = (at + skip as u64 - base) as usize;
        let to = from + samples.len();
        if track.len() < to {
            track.resize(to, 0);
        }
        for (slot, &s) in track.range_mut(from..to).zip(samples) {
            *slot = s;
        }
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
        Self::put(&mut self.left, self.base, at, samples);
        self.caller_end = at + samples.len() as u64;
        self.latest = self.latest.max(arrived);
    }

    /// Receptionist audio sent at `at_ms` that the carrier plays from `start_ms`.
    pub fn receptionist(&mut self, at_ms: u32, start_ms: u32, samples: &[i16]) {
        let start = self.position(start_ms);
        Self::put(&mut self.right, self.base, start, samples);
        self.latest = self.latest.max(self.position(at_ms));
    }

    /// The carrier dropped what it had not played by `at_ms`.
    pub fn clear(&mut self, at_ms: u32) {
        let at = self.position(at_ms);
        let keep = at.saturating_sub(self.base) as usize;
        self.right.truncate(keep);
        self.latest = self.latest.max(at);
    }

    /// Writes both tracks up to `until` (a sample position), silence where a
    /// track has nothing.
    fn write_until<W: Write + Seek>(
        &mut self,
        until: u64,
        wav: &mut hound::WavWriter<W>,
    ) -> Result<(), hound::Error> {
        let frames = until.saturating_sub(self.base);
        if frames == 0 {
            return Ok(());
        }
        let count = u32::try_from(frames * 2).map_err(|_| hound::Error::TooWide)?;
        let mut out = wav.get_i16_writer(count);
        for _ in 0..frames {
            out.write_sample(self.left.pop_front().unwrap_or(0));
            out.write_sample(self.right.pop_front().unwrap_or(0));
        }
        out.flush()?;
        self.base = until;
        Ok(())
    }

    /// Writes what no `clear` can change any more.
    fn write_ready<W: Write + Seek>(
        &mut self,
        wav: &mut hound::WavWriter<W>,
    ) -> Result<(), hound::Error> {
        let until = self.latest.saturating_sub(self.position(HOLD_BACK_MS));
        self.write_until(until, wav)
    }

    /// The call ended at `end_ms`: writes up to there; later audio was not heard.
    fn finish<W: Write + Seek>(
        &mut self,
        end_ms: u32,
        wav: &mut hound::WavWriter<W>,
    ) -> Result<(), hound::Error> {
        let end = self.position(end_ms);
        self.write_until(end, wav)?;
        self.left.clear();
        self.right.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Mutex;

    use super::*;

    /// Interleaved samples of a finished Mix written at `end_ms`.
    fn written(mix: &mut Mix, end_ms: u32) -> Vec<(i16, i16)> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: mix.rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut wav = hound::WavWriter::new(&mut cursor, spec).unwrap();
            mix.finish(end_ms, &mut wav).unwrap();
            wav.finalize().unwrap();
        }
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
        let mut recorder = Recorder::start_with(
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
        )
        .unwrap();
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
        let mut recorder = Recorder::start_with(
            "full-disk-call",
            AudioFormat::Pcmu,
            "t/2026-12-05/full-disk-call.wav".into(),
            4096,
            move || Ok(disk),
            move |outcome| {
                let _ = tx.send(outcome);
            },
        )
        .unwrap();
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

    #[test]
    fn paths_name_tenant_date_and_call() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 5).unwrap();
        assert_eq!(
            relative_path("acme-dental", date, "c-1"),
            "acme-dental/2026-12-05/c-1.wav"
        );
    }
}
