//! Audio plumbing between carriers, the voice model and files: G.711 µ-law ([`mulaw`]) and A-law
//! ([`alaw`]) codecs, little-endian PCM16 bytes ([`pcm`]), sample-rate conversion ([`resample`]),
//! mono WAV reading and writing ([`wav`]), the stereo call-recording WAV ([`stereo_wav`]), signal levels ([`level`]) and the wire formats the
//! model speaks with their timing arithmetic ([`format`]). Everything here is pure computation
//! (WAV file helpers aside) and safe to call on the audio hot path; samples are always signed
//! 16-bit mono (`i16`) unless a function says otherwise.

pub mod alaw;
pub mod clip;
pub mod format;
pub mod level;
pub mod mulaw;
pub mod pcm;
pub mod resample;
pub mod stereo_wav;
pub mod wav;

/// Everything that can fail in the audio module.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// PCM16 little-endian bytes must come in pairs; `len` is the byte count received.
    #[error("PCM16 payload has an odd length of {len} bytes")]
    OddPcmLength {
        /// Length of the offending byte buffer, in bytes.
        len: usize,
    },
    /// The WAV data is malformed or uses a sample format we do not read (the message says which).
    #[error("unsupported or malformed WAV: {0}")]
    UnsupportedWav(String),
    /// Reading or writing a file failed.
    #[error("audio I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// A sample rate is zero or the resampler rejected its input (the message says which).
    #[error("resampling failed: {0}")]
    Resample(String),
    /// A base64 audio payload did not decode (the message is the decoder's).
    #[error("invalid base64 audio payload: {0}")]
    InvalidBase64(String),
}
