//! Hold audio: while a call's model link is down (a provider drop, a restart
//! under way), the caller should not sit in dead air. Once the line has been
//! silent for `calls.hold_after_ms` — counted from the link going down, or
//! from the end of whatever was still playing then — the hold clip plays, and
//! repeats, until the model speaks again (or the caller does, or the call
//! ends); then it is cut at once, before the model's audio is queued, so the
//! two never overlap.
//!
//! Pure timing: no I/O, no clocks of its own; the [`CallActor`](super::CallActor)
//! passes `now` and what the carrier still has to play.

use std::time::{Duration, Instant};

/// Item ids of hold audio in the playback queue start with this.
const ITEM_PREFIX: &str = "hold-";

/// What the hold clock says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldCheck {
    /// Nothing to do: the link is up, or hold is already playing.
    Idle,
    /// Not silent long enough yet: check again after this long.
    WaitFor(Duration),
    /// Start playing the hold clip as playback item `item_id`.
    Start { item_id: String },
}

/// One call's hold state.
#[derive(Debug, Clone)]
pub struct Hold {
    after: Duration,
    /// When the current outage began; `None` while the model is speaking or
    /// able to.
    down_since: Option<Instant>,
    /// The playback item of the hold clip playing now.
    playing: Option<String>,
    /// Hold episodes so far (each gets its own playback item).
    episodes: u32,
}

impl Hold {
    /// Hold after `after_ms` of silence while the link is down.
    pub fn new(after_ms: u32) -> Self {
        Hold {
            after: Duration::from_millis(u64::from(after_ms)),
            down_since: None,
            playing: None,
            episodes: 0,
        }
    }

    /// The model link went down at `now`: the outage starts (a second failure
    /// during the same outage keeps the first instant).
    pub fn link_down(&mut self, now: Instant) {
        self.down_since.get_or_insert(now);
    }

    /// Whether hold audio is due at `now`, given when the carrier will have
    /// played all audio already sent or queued (`audible_until`, `None` when
    /// nothing is left to play).
    pub fn check(&mut self, now: Instant, audible_until: Option<Instant>) -> HoldCheck {
        let Some(since) = self.down_since else {
            return HoldCheck::Idle;
        };
        if self.playing.is_some() {
            return HoldCheck::Idle;
        }
        let silent_from = audible_until.map_or(since, |until| until.max(since));
        let due = silent_from + self.after;
        if now < due {
            return HoldCheck::WaitFor(due - now);
        }
        self.episodes += 1;
        let item_id = format!("{ITEM_PREFIX}{}", self.episodes);
        self.playing = Some(item_id.clone());
        HoldCheck::Start { item_id }
    }

    /// The hold clip's playback item while it plays (refill it when the queue
    /// runs dry).
    pub fn playing(&self) -> Option<&str> {
        self.playing.as_deref()
    }

    /// Whether the link is down (hold is waiting or playing).
    pub fn is_on(&self) -> bool {
        self.down_since.is_some()
    }

    /// The outage is over — model audio arrived, the caller spoke, or the call
    /// is ending. Returns the hold item to cut from playback, if it was playing.
    pub fn end(&mut self) -> Option<String> {
        self.down_since = None;
        self.playing.take()
    }
}

/// Whether playback item `item_id` is hold audio (not the model's).
pub fn is_hold_item(item_id: &str) -> bool {
    item_id.starts_with(ITEM_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn nothing_while_the_link_is_up() {
        let mut hold = Hold::new(700);
        assert_eq!(hold.check(Instant::now(), None), HoldCheck::Idle);
        assert!(!hold.is_on());
    }

    #[test]
    fn starts_after_the_silence_from_the_drop() {
        let t0 = Instant::now();
        let mut hold = Hold::new(700);
        hold.link_down(t0);
        assert_eq!(hold.check(t0 + MS(200), None), HoldCheck::WaitFor(MS(500)));
        assert_eq!(
            hold.check(t0 + MS(700), None),
            HoldCheck::Start {
                item_id: "hold-1".into()
            }
        );
        assert_eq!(hold.playing(), Some("hold-1"));
        // Playing: no second start.
        assert_eq!(hold.check(t0 + MS(900), None), HoldCheck::Idle);
    }

    #[test]
    fn silence_counts_from_the_end_of_what_still_plays() {
        let t0 = Instant::now();
        let mut hold = Hold::new(700);
        hold.link_down(t0);
        // The answer cut off with the link still has 2 s to play.
        let until = Some(t0 + MS(2000));
        assert_eq!(
            hold.check(t0 + MS(100), until),
            HoldCheck::WaitFor(MS(2600))
        );
        assert!(matches!(
            hold.check(t0 + MS(2700), until),
            HoldCheck::Start { .. }
        ));
    }

    #[test]
    fn a_second_failure_keeps_the_first_instant() {
        let t0 = Instant::now();
        let mut hold = Hold::new(700);
        hold.link_down(t0);
        hold.link_down(t0 + MS(500));
        assert!(matches!(
            hold.check(t0 + MS(700), None),
            HoldCheck::Start { .. }
        ));
    }

    #[test]
    fn model_audio_ends_it_and_the_next_outage_is_a_new_item() {
        let t0 = Instant::now();
        let mut hold = Hold::new(700);
        hold.link_down(t0);
        assert!(matches!(
            hold.check(t0 + MS(700), None),
            HoldCheck::Start { .. }
        ));
        assert_eq!(hold.end(), Some("hold-1".into()));
        assert_eq!(hold.end(), None);
        assert_eq!(hold.check(t0 + MS(5000), None), HoldCheck::Idle);
        hold.link_down(t0 + MS(6000));
        assert_eq!(
            hold.check(t0 + MS(6700), None),
            HoldCheck::Start {
                item_id: "hold-2".into()
            }
        );
        assert!(is_hold_item("hold-2"));
        assert!(!is_hold_item("item_abc"));
    }

    #[test]
    fn ended_before_it_started_plays_nothing() {
        let t0 = Instant::now();
        let mut hold = Hold::new(700);
        hold.link_down(t0);
        assert_eq!(hold.end(), None);
        assert_eq!(hold.check(t0 + MS(1000), None), HoldCheck::Idle);
    }
}
