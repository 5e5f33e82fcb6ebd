//! ITU-T G.711 µ-law: the 8-bit logarithmic codec Twilio Media Streams carry at 8000 Hz
//! (`audio/x-mulaw`, one byte per sample) and the OpenAI Realtime `audio/pcmu` format. Encoding
//! uses the standard bias of 132 and clips magnitudes at 32635; decoding is a compile-time table,
//! so it costs one lookup per sample. Decoded values span −32124..=32124.

/// µ-law byte for digital silence (a PCM sample of 0). Fill idle frames with it.
pub const SILENCE: u8 = 0xFF;

/// Bias added to the magnitude before finding the segment (G.711 µ-law).
const BIAS: i32 = 0x84;
/// Largest magnitude encoded without clipping, so that magnitude + bias fits in 15 bits.
const CLIP: i32 = 32635;

/// Decode table: index is the µ-law byte, value is the linear PCM16 sample.
const DECODE_TABLE: [i16; 256] = build_decode_table();

const fn decode_formula(byte: u8) -> i16 {
    let b = !byte;
    let exponent = ((b >> 4) & 0x07) as i32;
    let mantissa = (b & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if b & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_formula(i as u8);
        i += 1;
    }
    table
}

/// Encodes one linear PCM16 sample as a µ-law byte (G.711). Magnitudes above 32635 are clipped;
/// the round-trip error is at most (|s| + 132) / 32.
pub fn encode_sample(s: i16) -> u8 {
    let sign: u8 = if s < 0 { 0x80 } else { 0x00 };
    let magnitude = (s as i32).abs().min(CLIP) + BIAS;
    // magnitude is in 132..=32767: its highest set bit is bit 7..=14, giving segment 0..=7.
    let exponent = (31 - magnitude.leading_zeros() as i32 - 7) as u8;
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes one µ-law byte to a linear PCM16 sample (G.711), by table lookup.
pub fn decode_sample(b: u8) -> i16 {
    DECODE_TABLE[b as usize]
}

/// Appends the µ-law encoding of `pcm` to `out`: one byte per sample.
pub fn encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.reserve(pcm.len());
    out.extend(pcm.iter().map(|&s| encode_sample(s)));
}

/// Appends the PCM16 decoding of `mulaw` to `out`: one sample per byte.
pub fn decode_into(mulaw: &[u8], out: &mut Vec<i16>) {
    out.reserve(mulaw.len());
    out.extend(mulaw.iter().map(|&b| decode_sample(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_full_scale_match_g711_reference() {
        assert_eq!(encode_sample(0), SILENCE);
        assert_eq!(decode_sample(SILENCE), 0);
        assert_eq!(decode_sample(0x7F), 0);
        assert_eq!(encode_sample(i16::MAX), 0x80);
        assert_eq!(encode_sample(i16::MIN), 0x00);
        assert_eq!(decode_sample(0x80), 32124);
        assert_eq!(decode_sample(0x00), -32124);
        // Reference values from a G.711 implementation (Python's audioop.lin2ulaw/ulaw2lin).
        assert_eq!(encode_sample(1000), 0xCE);
        assert_eq!(encode_sample(-1000), 0x4E);
        assert_eq!(decode_sample(0xCE), 988);
    }

    #[test]
    fn round_trip_error_is_within_half_a_quantisation_step() {
        for s in i16::MIN..=i16::MAX {
            let back = decode_sample(encode_sample(s)) as i32;
            let err = (back - s as i32).abs();
            let bound = ((s as i32).abs() + BIAS) / 32 + 1;
            assert!(
                err <= bound,
                "sample {s}: decoded {back}, error {err} > {bound}"
            );
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            // 0x7F is "negative zero"; it decodes to 0, which encodes as positive zero 0xFF.
            let expected = if b == 0x7F { SILENCE } else { b };
            assert_eq!(encode_sample(decode_sample(b)), expected, "code {b:#04x}");
        }
    }

    #[test]
    fn decoding_is_monotonic_in_the_positive_codes() {
        let values: Vec<i16> = (0x80..=0xFFu8).rev().map(decode_sample).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bulk_functions_append_one_value_per_sample() {
        let pcm = [0i16, 1000, -1000, i16::MAX];
        let mut bytes = vec![0xAA];
        encode_into(&pcm, &mut bytes);
        assert_eq!(bytes, [0xAA, 0xFF, 0xCE, 0x4E, 0x80]);
        let mut back = Vec::new();
        decode_into(&bytes[1..], &mut back);
        assert_eq!(back, [0, 988, -988, 32124]);
    }
}
