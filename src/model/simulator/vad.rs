//! Energy voice-activity detection for the simulator, standing in for
//! OpenAI's `server_vad`: PCM is cut into 20 ms windows, each window's RMS
//! level (dBFS) is compared with a threshold, and speech start/stop are
//! reported on the session clock (ms of audio appended so far), the way
//! `input_audio_buffer.speech_started` / `.speech_stopped` report them
//! (docs/openai-realtime.md §Turn detection, §Server events).
//!
//! Threshold mapping: the wire `threshold` t ∈ [0, 1] (higher = needs louder
//! speech) maps linearly to a window level of `-60 + 40·t` dBFS, so OpenAI's
//! default 0.5 needs −40 dBFS, xAI's default 0.85 needs −26 dBFS, 0 accepts
//! anything above −60 dBFS and 1 needs −20 dBFS. Telephone speech sits around
//! −30 to −15 dBFS RMS; line noise and comfort noise below −50.

use crate::audio::level::rms_dbfs;

/// Analysis window length, in ms.
pub const WINDOW_MS: u32 = 20;

/// Window level (dBFS) that counts as speech for a wire `threshold`
/// (clamped to 0–1): `-60 + 40·threshold`.
pub fn threshold_dbfs(threshold: f32) -> f32 {
    let t = if threshold.is_finite() {
        threshold.clamp(0.0, 1.0)
    } else {
        0.5
    };
    -60.0 + 40.0 * t
}

/// A VAD transition, in ms on the session clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech began; `audio_start_ms` already includes the prefix padding
    /// (never before 0 nor before the last commit point).
    SpeechStarted {
        /// Start of the user turn's audio.
        audio_start_ms: u32,
    },
    /// `silence_duration_ms` of quiet followed speech; `audio_end_ms` is the
    /// end of that silence (the point of detection), as OpenAI reports it.
    SpeechStopped {
        /// End of the user turn's audio.
        audio_end_ms: u32,
    },
}

/// Streaming energy VAD over mono PCM16 at one sample rate.
#[derive(Debug, Clone)]
pub struct EnergyVad {
    window: usize,
    pending: Vec<i16>,
    clock_ms: u32,
    floor_ms: u32,
    threshold_dbfs: f32,
    prefix_padding_ms: u32,
    silence_duration_ms: u32,
    speaking: bool,
    silence_run_ms: u32,
}

impl EnergyVad {
    /// A detector for `sample_rate` Hz audio. `threshold` is the wire value
    /// (see [`threshold_dbfs`]); durations are in ms.
    pub fn new(
        sample_rate: u32,
        threshold: f32,
        prefix_padding_ms: u32,
        silence_duration_ms: u32,
    ) -> Self {
        EnergyVad {
            window: (sample_rate as usize * WINDOW_MS as usize / 1000).max(1),
            pending: Vec::new(),
            clock_ms: 0,
            floor_ms: 0,
            threshold_dbfs: threshold_dbfs(threshold),
            prefix_padding_ms,
            silence_duration_ms: silence_duration_ms.max(WINDOW_MS),
            speaking: false,
            silence_run_ms: 0,
        }
    }

    /// Re-tunes the detector (after `session.update`), keeping the clock.
    pub fn retune(
        &mut self,
        sample_rate: u32,
        threshold: f32,
        prefix_padding_ms: u32,
        silence_duration_ms: u32,
    ) {
        let clock_ms = self.clock_ms;
        *self = EnergyVad::new(
            sample_rate,
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
        );
        self.clock_ms = clock_ms;
        self.floor_ms = clock_ms;
    }

    /// Ms of audio analysed so far (the session clock; partial windows not
    /// yet counted).
    pub fn clock_ms(&self) -> u32 {
        self.clock_ms
    }

    /// Whether the detector is inside a speech segment.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Ends any speech segment without an event and makes `clock_ms` the
    /// earliest possible next start (after `input_audio_buffer.clear` /
    /// `.commit`).
    pub fn reset_segment(&mut self) {
        self.speaking = false;
        self.silence_run_ms = 0;
        self.floor_ms = self.clock_ms;
    }

    /// Feeds samples; returns the transitions they caused, in order.
    pub fn push(&mut self, samples: &[i16]) -> Vec<VadEvent> {
        let mut events = Vec::new();
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= self.window {
            let level = rms_dbfs(&self.pending[start..start + self.window]);
            start += self.window;
            let window_start = self.clock_ms;
            self.clock_ms += WINDOW_MS;
            let loud = level >= self.threshold_dbfs;
            if !self.speaking {
                if loud {
                    self.speaking = true;
                    self.silence_run_ms = 0;
                    let audio_start_ms = window_start
                        .saturating_sub(self.prefix_padding_ms)
                        .max(self.floor_ms);
                    events.push(VadEvent::SpeechStarted { audio_start_ms });
                }
            } else if loud {
                self.silence_run_ms = 0;
            } else {
                self.silence_run_ms += WINDOW_MS;
                if self.silence_run_ms >= self.silence_duration_ms {
                    self.speaking = false;
                    self.silence_run_ms = 0;
                    self.floor_ms = self.clock_ms;
                    events.push(VadEvent::SpeechStopped {
                        audio_end_ms: self.clock_ms,
                    });
                }
            }
        }
        self.pending.drain(..start);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: u32, rate: u32, amplitude: f32) -> Vec<i16> {
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (amplitude * (2.0 * std::f32::consts::PI * 220.0 * t).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn threshold_mapping_is_documented_line() {
        assert_eq!(threshold_dbfs(0.5), -40.0);
        assert_eq!(threshold_dbfs(1.0), -20.0);
        assert_eq!(threshold_dbfs(7.0), -20.0);
    }

    #[test]
    fn detects_a_turn_with_padding_and_silence() {
        let mut vad = EnergyVad::new(8000, 0.5, 300, 500);
        assert!(vad.push(&vec![0; 8000]).is_empty()); // 1 s silence
        let ev = vad.push(&tone(1000, 8000, 8000.0)); // ≈ −15 dBFS
        assert_eq!(
            ev,
            vec![VadEvent::SpeechStarted {
                audio_start_ms: 700
            }]
        );
        let ev = vad.push(&vec![0; 8000]);
        assert_eq!(ev, vec![VadEvent::SpeechStopped { audio_end_ms: 2500 }]);
        assert!(!vad.is_speaking());
    }

    #[test]
    fn quiet_noise_stays_below_a_high_threshold() {
        let mut vad = EnergyVad::new(24_000, 0.85, 333, 500);
        assert!(vad.push(&tone(2000, 24_000, 600.0)).is_empty()); // ≈ −38 dBFS
        assert_eq!(vad.clock_ms(), 2000);
    }

    #[test]
    fn odd_chunk_sizes_keep_the_clock_exact() {
        let mut vad = EnergyVad::new(8000, 0.5, 0, 200);
        let audio = tone(600, 8000, 8000.0);
        let mut events = Vec::new();
        for chunk in audio.chunks(37) {
            events.extend(vad.push(chunk));
        }
        events.extend(vad.push(&vec![0; 1600]));
        assert_eq!(
            events,
            vec![
                VadEvent::SpeechStarted { audio_start_ms: 0 },
                VadEvent::SpeechStopped { audio_end_ms: 800 }
            ]
        );
    }
}
