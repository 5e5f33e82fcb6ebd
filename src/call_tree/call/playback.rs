//! Outbound audio bookkeeping for one call: pacing assistant audio to the carrier
//! a small lead window ahead of real time, a named `mark` after every chunk, and
//! from the carrier's mark echoes exactly how much of each assistant item the
//! caller has heard — what barge-in needs to `clear` the carrier and truncate the
//! model's item (OpenAI `conversation.item.truncate.audio_end_ms`).
//!
//! Pure bookkeeping: no I/O; the call actor sends what [`Playback::next_chunk`]
//! hands out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytestring::ByteString;

/// One chunk ready for the carrier: base64 audio, then a mark named `mark`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingChunk {
    pub payload: ByteString,
    pub mark: String,
    /// How long after being sent the carrier starts playing it (what is
    /// already queued there ahead of it): where it sits on the call's clock.
    pub starts_in: Duration,
}

/// What a barge-in interrupted: the assistant item being played and how much of it
/// the caller heard according to echoed marks.
#[derive(Debug, Clone, PartialEq)]
pub struct Interruption {
    pub item_id: String,
    /// Milliseconds of the item the carrier confirmed as played.
    pub heard_ms: u32,
    /// Milliseconds of the item received from the model so far.
    pub received_ms: u32,
}

/// Why a chunk was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefused {
    /// The item was interrupted by barge-in; its late audio is discarded.
    Interrupted,
    /// The queue already holds `max_queued_ms` of audio.
    QueueFull,
}

#[derive(Debug)]
struct Queued {
    item: u32,
    payload: ByteString,
    ms: u32,
}

#[derive(Debug)]
struct PendingMark {
    seq: u64,
    item: u32,
    end_ms: u32,
}

#[derive(Debug)]
struct ItemProgress {
    key: u32,
    id: String,
    received_ms: u32,
    sent_ms: u32,
    heard_ms: u32,
    interrupted: bool,
}

/// Progress of recent assistant items is kept for this many items.
const ITEMS_KEPT: usize = 8;

/// Pacing and playback tracking for one call's outbound audio.
#[derive(Debug)]
pub struct Playback {
    lead: Duration,
    max_queued_ms: u32,
    /// When the carrier will have played everything sent so far.
    playout_end: Option<Instant>,
    queue: VecDeque<Queued>,
    queued_ms: u32,
    marks: VecDeque<PendingMark>,
    next_mark: u64,
    items: VecDeque<ItemProgress>,
    next_item_key: u32,
}

impl Playback {
    /// `lead_ms`: audio allowed ahead of real time at the carrier; `max_queued_ms`:
    /// audio held back for pacing before pushes are refused.
    pub fn new(lead_ms: u32, max_queued_ms: u32) -> Self {
        Playback {
            lead: Duration::from_millis(lead_ms as u64),
            max_queued_ms,
            playout_end: None,
            queue: VecDeque::new(),
            queued_ms: 0,
            marks: VecDeque::new(),
            next_mark: 1,
            items: VecDeque::new(),
            next_item_key: 0,
        }
    }

    fn item_key(&mut self, item_id: &str) -> Option<u32> {
        if let Some(item) = self.items.iter().find(|i| i.id == item_id) {
            return (!item.interrupted).then_some(item.key);
        }
        let key = self.next_item_key;
        self.next_item_key = self.next_item_key.wrapping_add(1);
        if self.items.len() == ITEMS_KEPT {
            self.items.pop_front();
        }
        self.items.push_back(ItemProgress {
            key,
            id: item_id.to_string(),
            received_ms: 0,
            sent_ms: 0,
            heard_ms: 0,
            interrupted: false,
        });
        Some(key)
    }

    fn item_mut(&mut self, key: u32) -> Option<&mut ItemProgress> {
        self.items.iter_mut().find(|i| i.key == key)
    }

    /// Queues `ms` of base64 audio of `item_id` for the carrier.
    pub fn push(&mut self, item_id: &str, payload: ByteString, ms: u32) -> Result<(), PushRefused> {
        let key = self.item_key(item_id).ok_or(PushRefused::Interrupted)?;
        if self.queued_ms.saturating_add(ms) > self.max_queued_ms {
            return Err(PushRefused::QueueFull);
        }
        if let Some(item) = self.item_mut(key) {
            item.received_ms = item.received_ms.saturating_add(ms);
        }
        self.queued_ms += ms;
        self.queue.push_back(Queued {
            item: key,
            payload,
            ms,
        });
        Ok(())
    }

    /// The next chunk to send now, if the carrier's buffer is below the lead window.
    /// Returns `Err(wait)` with the time until the next chunk may go, or `Ok(None)`
    /// when nothing is queued.
    pub fn next_chunk(&mut self, now: Instant) -> Result<Option<OutgoingChunk>, Duration> {
        let Some(front) = self.queue.front() else {
            return Ok(None);
        };
        let end = self.playout_end.filter(|e| *e > now).unwrap_or(now);
        let ahead = end - now;
        if ahead >= self.lead {
            return Err(ahead - self.lead);
        }
        let ms = front.ms;
        let Some(chunk) = self.queue.pop_front() else {
            return Ok(None);
        };
        self.queued_ms -= ms;
        self.playout_end = Some(end + Duration::from_millis(ms as u64));
        let seq = self.next_mark;
        self.next_mark += 1;
        let end_ms = match self.item_mut(chunk.item) {
            Some(item) => {
                item.sent_ms += ms;
                item.sent_ms
            }
            None => ms,
        };
        self.marks.push_back(PendingMark {
            seq,
            item: chunk.item,
            end_ms,
        });
        Ok(Some(OutgoingChunk {
            payload: chunk.payload,
            mark: seq.to_string(),
            starts_in: ahead,
        }))
    }

    /// Applies a carrier mark echo. Returns the item id whose audio is now fully
    /// played when this echo drained the last pending mark.
    pub fn mark_echoed(&mut self, name: &str) -> Option<String> {
        let seq: u64 = name.parse().ok()?;
        while let Some(front) = self.marks.front() {
            if front.seq > seq {
                break;
            }
            let mark = self.marks.pop_front()?;
            let end_ms = mark.end_ms;
            if let Some(item) = self.item_mut(mark.item) {
                item.heard_ms = item.heard_ms.max(end_ms);
            }
            if mark.seq == seq {
                break;
            }
        }
        if self.is_idle() {
            self.playout_end = None;
            return self
                .items
                .back()
                .filter(|i| !i.interrupted)
                .map(|i| i.id.clone());
        }
        None
    }

    /// Whether nothing is queued or awaiting its mark (the caller heard everything).
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.marks.is_empty()
    }

    /// Barge-in: if assistant audio is still queued or unconfirmed, drops it, forgets
    /// its marks (their echoes after `clear` are ignored), discards later audio of
    /// that item, and reports how much the caller heard. `None` when nothing was
    /// playing.
    pub fn barge_in(&mut self) -> Option<Interruption> {
        let key = self
            .marks
            .front()
            .map(|m| m.item)
            .or_else(|| self.queue.front().map(|q| q.item))?;
        self.queue.clear();
        self.queued_ms = 0;
        self.marks.clear();
        self.playout_end = None;
        let item = self.item_mut(key)?;
        item.interrupted = true;
        Some(Interruption {
            item_id: item.id.clone(),
            heard_ms: item.heard_ms,
            received_ms: item.received_ms,
        })
    }

    /// Drops everything queued or awaiting its mark without marking any item
    /// interrupted (hold audio ending, the voicemail prompt taking over): the
    /// carrier is told to `clear` alongside.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.queued_ms = 0;
        self.marks.clear();
        self.playout_end = None;
    }

    /// Heard and received milliseconds of `item_id`, if it is still tracked.
    pub fn progress(&self, item_id: &str) -> Option<(u32, u32)> {
        self.items
            .iter()
            .find(|i| i.id == item_id)
            .map(|i| (i.heard_ms, i.received_ms))
    }

    /// Whether `item_id` was cut by barge-in.
    pub fn was_interrupted(&self, item_id: &str) -> bool {
        self.items.iter().any(|i| i.id == item_id && i.interrupted)
    }

    /// When the carrier will have played everything sent and queued so far;
    /// `None` when nothing is left to play.
    pub fn audible_until(&self, now: Instant) -> Option<Instant> {
        let sent_end = self.playout_end.filter(|end| *end > now);
        if sent_end.is_none() && self.queued_ms == 0 {
            return None;
        }
        Some(sent_end.unwrap_or(now) + Duration::from_millis(u64::from(self.queued_ms)))
    }

    /// Audio queued but not yet sent, ms.
    pub fn queued_ms(&self) -> u32 {
        self.queued_ms
    }
}

/// Cuts `text` to the share of words the caller heard: `heard_ms / total_ms` of the
/// words, rounded down (transcripts carry no word timings over the Realtime API).
pub fn cut_to_heard(text: &str, heard_ms: u32, total_ms: u32) -> String {
    if total_ms == 0 || heard_ms >= total_ms {
        return text.to_string();
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let keep = (words.len() as u64 * heard_ms as u64 / total_ms as u64) as usize;
    words[..keep].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(p: &mut Playback, now: Instant) -> Vec<OutgoingChunk> {
        let mut out = Vec::new();
        while let Ok(Some(c)) = p.next_chunk(now) {
            out.push(c);
        }
        out
    }

    #[test]
    fn paces_to_the_lead_window() {
        let mut p = Playback::new(300, 60_000);
        for i in 0..10 {
            p.push("item_1", format!("chunk{i}").into(), 100).unwrap();
        }
        let t0 = Instant::now();
        // 300 ms lead: 3 chunks go at once, the 4th waits.
        assert_eq!(drain(&mut p, t0).len(), 3);
        let wait = p.next_chunk(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(0));
        let later = t0 + Duration::from_millis(100);
        assert_eq!(drain(&mut p, later).len(), 1);
        assert_eq!(p.queued_ms(), 600);
    }

    #[test]
    fn barge_in_reports_mark_confirmed_ms() {
        let mut p = Playback::new(10_000, 60_000);
        for _ in 0..5 {
            p.push("item_A", "x".into(), 200).unwrap();
        }
        let sent = drain(&mut p, Instant::now());
        assert_eq!(sent.len(), 5);
        // The carrier confirmed two chunks (400 ms).
        assert_eq!(p.mark_echoed(&sent[1].mark), None);
        let cut = p.barge_in().unwrap();
        assert_eq!(
            cut,
            Interruption {
                item_id: "item_A".into(),
                heard_ms: 400,
                received_ms: 1000
            }
        );
        // Late audio of the interrupted item is refused; echoes after clear ignored.
        assert_eq!(
            p.push("item_A", "y".into(), 100),
            Err(PushRefused::Interrupted)
        );
        assert_eq!(p.mark_echoed(&sent[4].mark), None);
        assert!(p.is_idle());
        assert!(p.barge_in().is_none());
    }

    #[test]
    fn last_echo_reports_the_item_fully_played() {
        let mut p = Playback::new(10_000, 60_000);
        p.push("item_B", "x".into(), 100).unwrap();
        p.push("item_B", "x".into(), 100).unwrap();
        let sent = drain(&mut p, Instant::now());
        assert_eq!(p.mark_echoed(&sent[0].mark), None);
        assert_eq!(p.mark_echoed(&sent[1].mark), Some("item_B".into()));
        assert_eq!(p.progress("item_B"), Some((200, 200)));
    }

    #[test]
    fn audible_until_counts_sent_and_queued_audio() {
        let mut p = Playback::new(300, 60_000);
        let t0 = Instant::now();
        assert_eq!(p.audible_until(t0), None);
        for _ in 0..5 {
            p.push("item_C", "x".into(), 100).unwrap();
        }
        // 300 ms sent at t0, 200 ms still queued.
        assert_eq!(drain(&mut p, t0).len(), 3);
        assert_eq!(p.audible_until(t0), Some(t0 + Duration::from_millis(500)));
        p.barge_in();
        assert_eq!(p.audible_until(t0), None);
    }

    #[test]
    fn queue_is_bounded() {
        let mut p = Playback::new(0, 250);
        p.push("i", "a".into(), 200).unwrap();
        assert_eq!(p.push("i", "b".into(), 100), Err(PushRefused::QueueFull));
    }

    #[test]
    fn transcript_cut_by_heard_share() {
        let text = "one two three four five six seven eight nine ten";
        assert_eq!(cut_to_heard(text, 500, 1000), "one two three four five");
        assert_eq!(cut_to_heard(text, 0, 1000), "");
        assert_eq!(cut_to_heard(text, 1000, 1000), text);
    }
}
