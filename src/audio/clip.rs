//! `Clip`: a short recording (the apology, the hold clip, the voicemail
//! prompt) pre-encoded once, at start-up, into
//! 100 ms base64 chunks for every carrier format, so a call plays it without
//! decoding or allocating per chunk.

use base64::Engine;
use bytestring::ByteString;

use super::format::{encode_pcm, AudioFormat};
use super::wav::read_wav_bytes;
use super::AudioError;

/// Milliseconds per chunk when a clip is queued for playback.
const CLIP_CHUNK_MS: u32 = 100;

/// One chunk of a pre-encoded clip: base64 audio (shared: queuing it clones a
/// reference, not the bytes) and its duration.
#[derive(Debug, Clone)]
pub struct ClipChunk {
    pub payload: ByteString,
    pub ms: u32,
}

/// A short clip pre-encoded for every carrier format (played without decoding).
#[derive(Debug, Clone)]
pub struct Clip {
    pcmu: Vec<ClipChunk>,
    pcma: Vec<ClipChunk>,
    pcm24k: Vec<ClipChunk>,
}

impl Clip {
    /// Encodes WAV bytes into [`CLIP_CHUNK_MS`] chunks per format.
    pub fn from_wav(bytes: &[u8]) -> Result<Clip, AudioError> {
        let pcm = read_wav_bytes(bytes)?;
        let encode = |format: AudioFormat| -> Result<Vec<ClipChunk>, AudioError> {
            let raw = encode_pcm(format, &pcm)?;
            let step = (format.bytes_per_ms() * CLIP_CHUNK_MS) as usize;
            Ok(raw
                .chunks(step)
                .map(|c| ClipChunk {
                    payload: base64::engine::general_purpose::STANDARD.encode(c).into(),
                    ms: format.duration_ms(c.len()),
                })
                .collect())
        };
        Ok(Clip {
            pcmu: encode(AudioFormat::Pcmu)?,
            pcma: encode(AudioFormat::Pcma)?,
            pcm24k: encode(AudioFormat::Pcm24k)?,
        })
    }

    /// The chunks for `format`.
    pub fn chunks(&self, format: AudioFormat) -> &[ClipChunk] {
        match format {
            AudioFormat::Pcmu => &self.pcmu,
            AudioFormat::Pcma => &self.pcma,
            AudioFormat::Pcm24k => &self.pcm24k,
        }
    }
}
