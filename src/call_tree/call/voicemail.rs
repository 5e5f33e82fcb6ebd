//! A voicemail recorded by switchboard itself, from the caller's side of the
//! call's own media stream (browser calls, and Twilio calls that cannot be
//! redirected to `<Record>`): after the prompt and its tone, the caller's
//! frames are decoded into PCM until they have spoken and then been silent for
//! `calls.voicemail_end_silence_ms`, or `calls.voicemail_max_secs` have passed,
//! or they hang up. Trailing silence is trimmed.
//!
//! Pure: no I/O; the [`CallActor`](super::CallActor) feeds it frames.

use base64::Engine;

use crate::audio::format::AudioFormat;
use crate::audio::level::rms_dbfs;
use crate::audio::wav::{encode_wav, Pcm};
use crate::audio::{alaw, mulaw, pcm, AudioError};

/// A frame louder than this (RMS, dBFS) is speech; quieter is silence. Line
/// noise on a quiet PSTN call sits near −60 dBFS, speech above −35 dBFS.
const SPEECH_DBFS: f32 = -45.0;

/// Silence kept after the last speech when the recording is trimmed, ms.
const TAIL_KEPT_MS: u32 = 500;

/// Why a recording stopped by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// `calls.voicemail_max_secs` reached.
    MaxLength,
    /// The caller spoke, then stayed silent for `calls.voicemail_end_silence_ms`.
    Silence,
}

/// A finished recording: a 16-bit mono WAV and its length.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub wav: Vec<u8>,
    /// Length after trimming, ms.
    pub duration_ms: u32,
}

/// One voicemail being recorded.
#[derive(Debug)]
pub struct VoicemailRecorder {
    format: AudioFormat,
    max_ms: u32,
    end_silence_ms: u32,
    /// The caller's audio so far, PCM at the format's rate.
    samples: Vec<i16>,
    /// Decoded bytes of the current frame (reused).
    scratch: Vec<u8>,
    /// Samples up to the end of the last speech frame.
    speech_end: Option<usize>,
    /// Silence since the last speech frame, ms.
    silent_ms: u32,
}

impl VoicemailRecorder {
    /// Records `format` audio for at most `max_secs`, ending after
    /// `end_silence_ms` of silence that follows speech.
    pub fn new(format: AudioFormat, max_secs: u32, end_silence_ms: u32) -> Self {
        VoicemailRecorder {
            format,
            max_ms: max_secs.saturating_mul(1000),
            end_silence_ms,
            samples: Vec::with_capacity(format.sample_rate() as usize * 10),
            scratch: Vec::with_capacity(1024),
            speech_end: None,
            silent_ms: 0,
        }
    }

    fn recorded_ms(&self) -> u32 {
        (self.samples.len() as u64 * 1000 / u64::from(self.format.sample_rate())) as u32
    }

    /// Adds one carrier frame (base64 in the call's format). Returns why the
    /// recording is over, once it is; frames after that are ignored.
    ///
    /// # Errors
    /// [`AudioError::InvalidBase64`] for a payload that is not base64,
    /// [`AudioError::OddPcmLength`] for PCM16 of odd length; the frame is skipped.
    pub fn push(&mut self, payload: &str) -> Result<Option<RecordingEnd>, AudioError> {
        if self.recorded_ms() >= self.max_ms {
            return Ok(Some(RecordingEnd::MaxLength));
        }
        self.scratch.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(payload, &mut self.scratch)
            .map_err(|e| AudioError::InvalidBase64(e.to_string()))?;
        let start = self.samples.len();
        match self.format {
            AudioFormat::Pcmu => mulaw::decode_into(&self.scratch, &mut self.samples),
            AudioFormat::Pcma => alaw::decode_into(&self.scratch, &mut self.samples),
            AudioFormat::Pcm24k => pcm::le_bytes_to_samples(&self.scratch, &mut self.samples)?,
        }
        let frame = &self.samples[start..];
        let frame_ms = (frame.len() as u64 * 1000 / u64::from(self.format.sample_rate())) as u32;
        if !frame.is_empty() && rms_dbfs(frame) > SPEECH_DBFS {
            self.speech_end = Some(self.samples.len());
            self.silent_ms = 0;
        } else {
            self.silent_ms = self.silent_ms.saturating_add(frame_ms);
        }
        if self.recorded_ms() >= self.max_ms {
            return Ok(Some(RecordingEnd::MaxLength));
        }
        if self.speech_end.is_some() && self.silent_ms >= self.end_silence_ms {
            return Ok(Some(RecordingEnd::Silence));
        }
        Ok(None)
    }

    /// Whether the caller has said anything yet.
    pub fn heard_speech(&self) -> bool {
        self.speech_end.is_some()
    }

    /// The recording as a WAV, trimmed to half a second after the last speech;
    /// `None` when the caller said nothing.
    ///
    /// # Errors
    /// [`AudioError::UnsupportedWav`] if the WAV cannot be written.
    pub fn finish(self) -> Result<Option<Recording>, AudioError> {
        let Some(speech_end) = self.speech_end else {
            return Ok(None);
        };
        let rate = self.format.sample_rate();
        let tail = (u64::from(rate) * u64::from(TAIL_KEPT_MS) / 1000) as usize;
        let mut samples = self.samples;
        samples.truncate((speech_end + tail).min(samples.len()));
        let pcm = Pcm {
            samples,
            sample_rate: rate,
        };
        let duration_ms = pcm.duration_ms() as u32;
        Ok(Some(Recording {
            wav: encode_wav(&pcm)?,
            duration_ms,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::wav::read_wav_bytes;

    fn frame(sample: i16, ms: usize) -> String {
        let mut bytes = Vec::new();
        mulaw::encode_into(&vec![sample; ms * 8], &mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn speech(ms: usize) -> String {
        let samples: Vec<i16> = (0..ms * 8)
            .map(|i| if i % 16 < 8 { 6000 } else { -6000 })
            .collect();
        let mut bytes = Vec::new();
        mulaw::encode_into(&samples, &mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn silence_after_speech_ends_it_and_the_tail_is_trimmed() {
        let mut rec = VoicemailRecorder::new(AudioFormat::Pcmu, 120, 1000);
        for _ in 0..10 {
            assert_eq!(rec.push(&frame(0, 20)).unwrap(), None);
        }
        assert!(!rec.heard_speech(), "leading silence is not speech");
        for _ in 0..50 {
            assert_eq!(rec.push(&speech(20)).unwrap(), None);
        }
        let mut end = None;
        for _ in 0..60 {
            end = rec.push(&frame(0, 20)).unwrap();
            if end.is_some() {
                break;
            }
        }
        assert_eq!(end, Some(RecordingEnd::Silence));
        let recording = rec.finish().unwrap().unwrap();
        // 200 ms lead-in + 1000 ms speech + 500 ms kept tail.
        assert_eq!(recording.duration_ms, 1700);
        let pcm = read_wav_bytes(&recording.wav).unwrap();
        assert_eq!(pcm.sample_rate, 8000);
        assert_eq!(pcm.samples.len(), 1700 * 8);
    }

    #[test]
    fn stops_at_the_maximum_length() {
        let mut rec = VoicemailRecorder::new(AudioFormat::Pcmu, 1, 5000);
        let mut ends = Vec::new();
        for _ in 0..60 {
            if let Some(end) = rec.push(&speech(20)).unwrap() {
                ends.push(end);
            }
        }
        assert_eq!(ends.first(), Some(&RecordingEnd::MaxLength));
        assert_eq!(rec.finish().unwrap().unwrap().duration_ms, 1000);
    }

    #[test]
    fn nothing_said_is_no_recording() {
        let mut rec = VoicemailRecorder::new(AudioFormat::Pcmu, 120, 1000);
        for _ in 0..100 {
            assert_eq!(rec.push(&frame(0, 20)).unwrap(), None);
        }
        assert_eq!(rec.finish().unwrap(), None);
    }

    #[test]
    fn a_bad_frame_is_an_error_and_skipped() {
        let mut rec = VoicemailRecorder::new(AudioFormat::Pcmu, 120, 1000);
        assert!(rec.push("not base64!").is_err());
        assert_eq!(rec.push(&speech(20)).unwrap(), None);
        assert!(rec.heard_speech());
    }
}
