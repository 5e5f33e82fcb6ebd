//! The audio formats the voice model and carriers exchange (OpenAI Realtime GA
//! `audio.{input,output}.format.type`: `audio/pcmu`, `audio/pcma`, `audio/pcm` at 24 kHz; OpenAI
//! API reference `RealtimeAudioFormats`, restated in docs/openai-realtime.md §Audio formats), their timing arithmetic in bytes and ms, base64 payload
//! helpers, and conversion between a format's wire bytes and [`Pcm`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::wav::Pcm;
use super::{alaw, mulaw, pcm, resample, AudioError};

/// A model/carrier audio format. All are mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// G.711 µ-law at 8000 Hz, 1 byte per sample (`audio/pcmu`; Twilio Media Streams' only format).
    Pcmu,
    /// G.711 A-law at 8000 Hz, 1 byte per sample (`audio/pcma`).
    Pcma,
    /// PCM16 little-endian at 24000 Hz, 2 bytes per sample (`audio/pcm`, `rate: 24000`; the only
    /// PCM rate OpenAI accepts).
    Pcm24k,
}

impl AudioFormat {
    /// Sample rate in Hz: 8000 for G.711, 24000 for PCM.
    pub fn sample_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::Pcm24k => 24000,
        }
    }

    /// Bytes of audio per ms: 8 for G.711, 48 for 24 kHz PCM16.
    pub fn bytes_per_ms(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8,
            Self::Pcm24k => 48,
        }
    }

    /// The OpenAI Realtime GA `format.type` string: `audio/pcmu`, `audio/pcma` or `audio/pcm`.
    pub fn wire_type(self) -> &'static str {
        match self {
            Self::Pcmu => "audio/pcmu",
            Self::Pcma => "audio/pcma",
            Self::Pcm24k => "audio/pcm",
        }
    }

    /// Parses a Realtime GA `format` object's `type` and optional `rate` (Hz). G.711 types accept
    /// no rate or 8000; `audio/pcm` accepts no rate or 24000. Anything else is `None`.
    pub fn from_wire(type_: &str, rate: Option<u32>) -> Option<Self> {
        let format = match type_ {
            "audio/pcmu" => Self::Pcmu,
            "audio/pcma" => Self::Pcma,
            "audio/pcm" => Self::Pcm24k,
            _ => return None,
        };
        match rate {
            None => Some(format),
            Some(r) if r == format.sample_rate() => Some(format),
            Some(_) => None,
        }
    }

    /// Playback time of `bytes` bytes of this format, in whole ms (rounded down, saturating at
    /// `u32::MAX`).
    pub fn duration_ms(self, bytes: usize) -> u32 {
        let ms = bytes as u64 / u64::from(self.bytes_per_ms());
        u32::try_from(ms).unwrap_or(u32::MAX)
    }
}

/// Exact number of bytes that standard base64 text `b64` decodes to, computed from its length and
/// trailing `=` padding without decoding (padded or unpadded; no whitespace). A Twilio 20 ms frame
/// of 216 characters ending in `==` gives 160.
pub fn base64_decoded_len(b64: &str) -> usize {
    let bytes = b64.as_bytes();
    let padding = bytes
        .iter()
        .rev()
        .take(2)
        .take_while(|&&c| c == b'=')
        .count();
    (bytes.len() - padding) * 3 / 4
}

/// Decodes standard (padded) base64, as carried in Twilio `media.payload` and Realtime audio
/// deltas.
///
/// # Errors
/// [`AudioError::InvalidBase64`] with the decoder's message.
pub fn decode_base64(b64: &str) -> Result<Vec<u8>, AudioError> {
    STANDARD
        .decode(b64)
        .map_err(|e| AudioError::InvalidBase64(e.to_string()))
}

/// Encodes bytes as standard padded base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Converts `pcm` to `format`'s wire bytes: resamples to the format's rate, then encodes as µ-law
/// or A-law (1 byte per sample) or PCM16 LE (2 bytes per sample).
///
/// # Errors
/// [`AudioError::Resample`] when `pcm.sample_rate` is 0.
pub fn encode_pcm(format: AudioFormat, pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    let samples = resample::resample(&pcm.samples, pcm.sample_rate, format.sample_rate())?;
    let mut out = Vec::new();
    match format {
        AudioFormat::Pcmu => mulaw::encode_into(&samples, &mut out),
        AudioFormat::Pcma => alaw::encode_into(&samples, &mut out),
        AudioFormat::Pcm24k => pcm::samples_to_le_bytes(&samples, &mut out),
    }
    Ok(out)
}

/// Decodes `format`'s wire bytes into [`Pcm`] at the format's own rate.
///
/// # Errors
/// [`AudioError::OddPcmLength`] for `Pcm24k` bytes of odd length.
pub fn decode_to_pcm(format: AudioFormat, bytes: &[u8]) -> Result<Pcm, AudioError> {
    let mut samples = Vec::new();
    match format {
        AudioFormat::Pcmu => mulaw::decode_into(bytes, &mut samples),
        AudioFormat::Pcma => alaw::decode_into(bytes, &mut samples),
        AudioFormat::Pcm24k => pcm::le_bytes_to_samples(bytes, &mut samples)?,
    }
    Ok(Pcm {
        samples,
        sample_rate: format.sample_rate(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::level::rms_dbfs;

    const ALL: [AudioFormat; 3] = [AudioFormat::Pcmu, AudioFormat::Pcma, AudioFormat::Pcm24k];

    #[test]
    fn wire_names_and_rates_round_trip() {
        for f in ALL {
            assert_eq!(AudioFormat::from_wire(f.wire_type(), None), Some(f));
            assert_eq!(
                AudioFormat::from_wire(f.wire_type(), Some(f.sample_rate())),
                Some(f)
            );
            let bytes_per_sample = if f == AudioFormat::Pcm24k { 2 } else { 1 };
            assert_eq!(f.bytes_per_ms() * 1000, f.sample_rate() * bytes_per_sample);
        }
        assert_eq!(AudioFormat::from_wire("audio/pcm", Some(16000)), None);
        assert_eq!(AudioFormat::from_wire("audio/pcmu", Some(16000)), None);
        assert_eq!(AudioFormat::from_wire("pcm16", None), None);
        assert_eq!(AudioFormat::from_wire("g711_ulaw", None), None);
    }

    #[test]
    fn durations_use_bytes_per_ms() {
        assert_eq!(AudioFormat::Pcmu.duration_ms(160), 20);
        assert_eq!(AudioFormat::Pcma.duration_ms(8000), 1000);
        assert_eq!(AudioFormat::Pcm24k.duration_ms(960), 20);
        assert_eq!(AudioFormat::Pcm24k.duration_ms(47), 0);
    }

    #[test]
    fn base64_len_matches_real_decoding() {
        // A Twilio inbound frame: 20 ms of µ-law = 160 bytes = 216 base64 characters.
        let frame: Vec<u8> = (0..160u32).map(|i| (i * 7 % 256) as u8).collect();
        let b64 = encode_base64(&frame);
        assert_eq!(b64.len(), 216);
        assert!(b64.ends_with("=="));
        assert_eq!(base64_decoded_len(&b64), 160);
        assert_eq!(decode_base64(&b64).unwrap(), frame);
        for n in 0..=50usize {
            let bytes = vec![0xA5u8; n];
            let padded = encode_base64(&bytes);
            assert_eq!(base64_decoded_len(&padded), n, "padded, {n} bytes");
            let unpadded = padded.trim_end_matches('=');
            assert_eq!(base64_decoded_len(unpadded), n, "unpadded, {n} bytes");
        }
        assert!(matches!(
            decode_base64("@@@@"),
            Err(AudioError::InvalidBase64(_))
        ));
    }

    #[test]
    fn encode_then_decode_keeps_the_signal() {
        let tone = Pcm {
            samples: (0..16000)
                .map(|i| {
                    (8000.0 * (2.0 * std::f64::consts::PI * 500.0 * i as f64 / 16000.0).sin())
                        as i16
                })
                .collect(),
            sample_rate: 16000,
        };
        for f in ALL {
            let bytes = encode_pcm(f, &tone).unwrap();
            assert_eq!(f.duration_ms(bytes.len()), 1000, "{f:?}");
            let back = decode_to_pcm(f, &bytes).unwrap();
            assert_eq!(back.sample_rate, f.sample_rate());
            assert_eq!(back.duration_ms(), 1000);
            let diff = (rms_dbfs(&back.samples) - rms_dbfs(&tone.samples)).abs();
            assert!(diff < 0.5, "{f:?}: level changed by {diff} dB");
        }
        assert!(matches!(
            decode_to_pcm(AudioFormat::Pcm24k, &[1, 2, 3]),
            Err(AudioError::OddPcmLength { len: 3 })
        ));
    }
}
