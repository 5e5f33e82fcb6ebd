//! The phone's play-out model: outbound audio queues up and drains at 8 bytes per
//! ms (8 kHz µ-law) in real time, and a Media Streams `mark` is due when play-out
//! reaches the audio queued before it; `clear` drops the rest and releases every
//! pending mark at once (Twilio Media Streams, bidirectional: `mark` and `clear`).
//! Pure: time comes in as an argument.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::BYTES_PER_MS;

/// The phone's play-out buffer: bytes queue up and drain at [`BYTES_PER_MS`]
/// from the moment they arrive (or the previous audio finishes).
#[derive(Default)]
pub(crate) struct Playout {
    buffer: VecDeque<u8>,
    pub(crate) played: Vec<u8>,
    /// Bytes ever queued (minus cleared ones): the position just after the buffer.
    queued_total: u64,
    /// Bytes ever played.
    played_total: u64,
    /// While playing: when play-out (re)started and `played_total` at that instant.
    anchor: Option<(Instant, u64)>,
    /// Pending marks at their buffer position (`queued_total` when they arrived).
    marks: VecDeque<(u64, String)>,
}

impl Playout {
    pub(crate) fn advance(&mut self, now: Instant) {
        let Some((t0, base)) = self.anchor else {
            return;
        };
        let micros =
            u64::try_from(now.saturating_duration_since(t0).as_micros()).unwrap_or(u64::MAX);
        let target = base
            .saturating_add(micros.saturating_mul(BYTES_PER_MS) / 1000)
            .min(self.queued_total);
        if target > self.played_total {
            let n = usize::try_from(target - self.played_total).unwrap_or(usize::MAX);
            let n = n.min(self.buffer.len());
            self.played.extend(self.buffer.drain(..n));
            self.played_total = target;
        }
        if self.buffer.is_empty() {
            self.anchor = None;
        }
    }

    pub(crate) fn push_audio(&mut self, now: Instant, bytes: &[u8]) {
        self.advance(now);
        if bytes.is_empty() {
            return;
        }
        if self.anchor.is_none() {
            self.anchor = Some((now, self.played_total));
        }
        self.buffer.extend(bytes);
        self.queued_total += bytes.len() as u64;
    }

    /// Queues a mark; returns it back when nothing is left to play (echo now).
    pub(crate) fn push_mark(&mut self, now: Instant, name: String) -> Option<String> {
        self.advance(now);
        if self.played_total >= self.queued_total {
            Some(name)
        } else {
            self.marks.push_back((self.queued_total, name));
            None
        }
    }

    /// Marks whose audio has played by `now`.
    pub(crate) fn due_marks(&mut self, now: Instant) -> Vec<String> {
        self.advance(now);
        let mut due = Vec::new();
        while let Some((pos, _)) = self.marks.front() {
            if *pos > self.played_total {
                break;
            }
            if let Some((_, name)) = self.marks.pop_front() {
                due.push(name);
            }
        }
        due
    }

    /// Drops unplayed audio; returns every pending mark (all echoed at once).
    pub(crate) fn clear(&mut self, now: Instant) -> Vec<String> {
        self.advance(now);
        self.buffer.clear();
        self.queued_total = self.played_total;
        self.anchor = None;
        self.marks.drain(..).map(|(_, name)| name).collect()
    }

    /// When play-out reaches the first pending mark.
    pub(crate) fn next_mark_deadline(&self) -> Option<Instant> {
        let (pos, _) = self.marks.front()?;
        let Some((t0, base)) = self.anchor else {
            return Some(Instant::now());
        };
        let micros = pos.saturating_sub(base).saturating_mul(1000) / BYTES_PER_MS;
        Some(t0 + Duration::from_micros(micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playout_releases_marks_only_when_audio_has_played() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        p.push_audio(t0, &[1; 160]);
        assert_eq!(p.push_mark(t0, "a".into()), None);
        assert!(p.due_marks(t0 + Duration::from_millis(19)).is_empty());
        assert_eq!(p.played.len(), 152);
        assert_eq!(p.due_marks(t0 + Duration::from_millis(20)), ["a"]);
        // Empty buffer: a mark is echoed at once.
        assert_eq!(
            p.push_mark(t0 + Duration::from_millis(30), "b".into()),
            Some("b".into())
        );
        // Clear drops the rest and returns pending marks.
        let t1 = t0 + Duration::from_millis(40);
        p.push_audio(t1, &[2; 800]);
        assert_eq!(p.push_mark(t1, "c".into()), None);
        assert_eq!(p.clear(t1 + Duration::from_millis(50)), ["c"]);
        assert_eq!(p.played.len(), 160 + 400);
    }
}
