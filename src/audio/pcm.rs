//! Signed 16-bit little-endian PCM as raw bytes: the OpenAI Realtime `audio/pcm` payload (24 kHz)
//! and browser binary frames. Two bytes per sample, low byte first, no header.

use super::AudioError;

/// Appends the samples held in `bytes` (PCM16 LE, 2 bytes per sample) to `out`.
///
/// # Errors
/// [`AudioError::OddPcmLength`] when `bytes.len()` is odd; `out` is then left unchanged.
pub fn le_bytes_to_samples(bytes: &[u8], out: &mut Vec<i16>) -> Result<(), AudioError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(AudioError::OddPcmLength { len: bytes.len() });
    }
    out.reserve(bytes.len() / 2);
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
    );
    Ok(())
}

/// Appends `samples` to `out` as PCM16 LE bytes (2 bytes per sample).
pub fn samples_to_le_bytes(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_low_byte_first() {
        let samples = [0i16, 1, -1, i16::MAX, i16::MIN, 0x1234];
        let mut bytes = Vec::new();
        samples_to_le_bytes(&samples, &mut bytes);
        assert_eq!(&bytes[..6], &[0x00, 0x00, 0x01, 0x00, 0xFF, 0xFF]);
        assert_eq!(&bytes[10..], &[0x34, 0x12]);
        let mut back = Vec::new();
        le_bytes_to_samples(&bytes, &mut back).unwrap();
        assert_eq!(back, samples);
    }

    #[test]
    fn odd_length_is_rejected_without_output() {
        let mut out = vec![5];
        let err = le_bytes_to_samples(&[1, 2, 3], &mut out).unwrap_err();
        assert!(matches!(err, AudioError::OddPcmLength { len: 3 }));
        assert_eq!(out, [5]);
    }
}
