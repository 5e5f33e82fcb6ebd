//! Frame stamps: how `switchboard loadtest` recognises each 20 ms µ-law frame at
//! the far end of the relay. The first [`STAMP_BYTES`] bytes of every payload
//! carry a magic tag, a speech flag, the call index, a per-direction sequence
//! number and the send time in µs on the load generator's clock; the remaining
//! bytes are a tone (speech) or µ-law silence. switchboard passes µ-law through
//! untouched (carrier `media.payload` ↔ `input_audio_buffer.append.audio`), so
//! the receiver reads back exactly what the sender wrote.
//!
//! Base64 works on 3-byte groups, and 24 is a multiple of 3: the base64 of a
//! frame is the 32-character base64 of its stamp followed by a fixed tail
//! (precomputed once per kind), so stamping costs one 24-byte encode per frame.
//!
//! Pure: no I/O, no clocks (callers pass µs values).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::BufMut;

use crate::audio::mulaw;

/// Bytes of one 20 ms µ-law frame at 8 kHz.
pub const FRAME_BYTES: usize = 160;
/// Bytes at the start of a payload that carry the stamp.
pub const STAMP_BYTES: usize = 24;
/// Base64 characters of the stamp (24 bytes → 32 chars, no padding).
pub const STAMP_B64: usize = 32;
/// Magic tag at the start of every stamped frame.
const MAGIC: [u8; 3] = *b"SBL";
/// Flag bit: the frame is speech (tone), not silence.
const FLAG_SPEECH: u8 = 1;

/// What a stamp says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The caller's index in the run (0-based).
    pub call: u32,
    /// Frame number in this direction of this call, from 0.
    pub seq: u64,
    /// Send time, µs on the generator's clock ([`super::clock::now_us`]).
    pub sent_us: u64,
    /// Whether the frame carries speech.
    pub speech: bool,
}

impl Stamp {
    /// The 24 stamp bytes.
    pub fn to_bytes(self) -> [u8; STAMP_BYTES] {
        let mut out = [0u8; STAMP_BYTES];
        out[..3].copy_from_slice(&MAGIC);
        out[3] = if self.speech { FLAG_SPEECH } else { 0 };
        out[4..8].copy_from_slice(&self.call.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..24].copy_from_slice(&self.sent_us.to_le_bytes());
        out
    }

    /// Reads a stamp back from raw bytes; `None` when the magic tag is absent.
    pub fn from_bytes(bytes: &[u8]) -> Option<Stamp> {
        let bytes: &[u8; STAMP_BYTES] = bytes.get(..STAMP_BYTES)?.try_into().ok()?;
        if bytes[..3] != MAGIC {
            return None;
        }
        let word = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b[..r.len()].copy_from_slice(&bytes[r]);
            u64::from_le_bytes(b)
        };
        Some(Stamp {
            speech: bytes[3] & FLAG_SPEECH != 0,
            call: u32::try_from(word(4..8)).ok()?,
            seq: word(8..16),
            sent_us: word(16..24),
        })
    }

    /// Reads the stamp from the start of a base64 payload (only its first 32
    /// characters are decoded). `None` for unstamped or malformed audio.
    pub fn from_base64(payload_b64: &str) -> Option<Stamp> {
        let head = payload_b64.as_bytes().get(..STAMP_B64)?;
        let mut raw = [0u8; STAMP_BYTES];
        let n = B64.decode_slice(head, &mut raw).ok()?;
        if n != STAMP_BYTES {
            return None;
        }
        Stamp::from_bytes(&raw)
    }

    /// Appends the base64 of the stamp (32 chars) to `out`.
    pub fn push_base64(self, out: &mut impl BufMut) {
        let mut b64 = [0u8; STAMP_B64];
        // 24 bytes always encode to exactly 32 characters.
        let n = B64
            .encode_slice(self.to_bytes(), &mut b64)
            .unwrap_or_default();
        out.put_slice(&b64[..n]);
    }
}

/// The fixed base64 tails of a stamped frame: a 400 Hz tone at about −12 dBFS
/// (loud enough for any energy VAD) and µ-law silence.
#[derive(Debug, Clone)]
pub struct FrameTails {
    speech: String,
    silence: String,
}

impl FrameTails {
    /// Encodes both tails once.
    pub fn new() -> Self {
        let tone: Vec<i16> = (0..FRAME_BYTES)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (8000.0 * (2.0 * std::f32::consts::PI * 400.0 * t).sin()) as i16
            })
            .collect();
        let mut speech = Vec::with_capacity(FRAME_BYTES);
        mulaw::encode_into(&tone, &mut speech);
        FrameTails {
            speech: B64.encode(&speech[STAMP_BYTES..]),
            silence: B64.encode([0xFFu8; FRAME_BYTES - STAMP_BYTES]),
        }
    }

    /// Appends the base64 of a whole 160-byte frame stamped with `stamp` to `out`.
    pub fn push_frame(&self, stamp: Stamp, out: &mut impl BufMut) {
        stamp.push_base64(out);
        let tail = if stamp.speech {
            &self.speech
        } else {
            &self.silence
        };
        out.put_slice(tail.as_bytes());
    }
}

impl Default for FrameTails {
    fn default() -> Self {
        Self::new()
    }
}

/// Order bookkeeping for one direction of one call: frames are expected with
/// sequence numbers 0, 1, 2, … exactly once each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqTracker {
    next: u64,
    /// Frames received.
    pub received: u64,
    /// Sequence numbers skipped when a later frame arrived (lost unless they show up late).
    pub gaps: u64,
    /// Frames that arrived with a number already passed: duplicated or reordered.
    pub out_of_order: u64,
}

impl SeqTracker {
    /// Records frame `seq`.
    pub fn observe(&mut self, seq: u64) {
        self.received += 1;
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            self.gaps += seq - self.next;
            self.next = seq + 1;
        } else {
            self.out_of_order += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_survives_a_base64_round_trip_inside_a_frame() {
        let tails = FrameTails::new();
        let stamp = Stamp {
            call: 917,
            seq: 123_456,
            sent_us: 98_765_432_101,
            speech: true,
        };
        let mut b64 = Vec::new();
        tails.push_frame(stamp, &mut b64);
        let text = String::from_utf8(b64).unwrap();
        assert_eq!(text.len(), 216, "160 bytes of µ-law are 216 base64 chars");
        let raw = B64.decode(&text).unwrap();
        assert_eq!(raw.len(), FRAME_BYTES);
        assert_eq!(Stamp::from_base64(&text), Some(stamp));
        assert_eq!(Stamp::from_bytes(&raw), Some(stamp));
    }

    #[test]
    fn silence_frames_are_silent_after_the_stamp() {
        let tails = FrameTails::new();
        let mut b64 = Vec::new();
        let stamp = Stamp {
            call: 1,
            seq: 0,
            sent_us: 0,
            speech: false,
        };
        tails.push_frame(stamp, &mut b64);
        let raw = B64.decode(&b64).unwrap();
        assert!(raw[STAMP_BYTES..].iter().all(|b| *b == 0xFF));
        assert!(
            !Stamp::from_base64(std::str::from_utf8(&b64).unwrap())
                .unwrap()
                .speech
        );
    }

    #[test]
    fn unstamped_audio_is_not_mistaken_for_a_stamp() {
        assert_eq!(Stamp::from_base64(&B64.encode([0xFFu8; 160])), None);
        assert_eq!(Stamp::from_base64("short"), None);
    }

    #[test]
    fn tracker_counts_gaps_and_late_frames() {
        let mut t = SeqTracker::default();
        for seq in [0, 1, 2, 4, 3, 5, 5] {
            t.observe(seq);
        }
        assert_eq!(t.received, 7);
        assert_eq!(t.gaps, 1);
        assert_eq!(t.out_of_order, 2);
        let mut clean = SeqTracker::default();
        (0..100).for_each(|s| clean.observe(s));
        assert_eq!((clean.gaps, clean.out_of_order), (0, 0));
    }
}
