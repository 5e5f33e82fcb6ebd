//! ITU-T G.711 A-law: the 8-bit logarithmic codec used on European telephone networks and by the
//! OpenAI Realtime `audio/pcma` format, at 8000 Hz, one byte per sample. The encoder works on the
//! 13-bit magnitude (sample >> 3) with even bits inverted (XOR 0x55); decoding is a compile-time
//! table. A-law has no exact zero: silence decodes to ±8, and decoded values span −32256..=32256.

/// A-law byte for digital silence (a PCM sample of 0, decoding to +8).
pub const SILENCE: u8 = 0xD5;

/// Upper bound of each of the eight segments, on the 13-bit magnitude.
const SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Decode table: index is the A-law byte, value is the linear PCM16 sample.
const DECODE_TABLE: [i16; 256] = build_decode_table();

const fn decode_formula(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    if segment == 0 {
        t += 8;
    } else {
        t = (t + 0x108) << (segment - 1);
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
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

/// Encodes one linear PCM16 sample as an A-law byte (G.711). The round-trip error is at most
/// |s| / 32 + 16.
pub fn encode_sample(s: i16) -> u8 {
    let mut value = (s as i32) >> 3;
    let mask: u8 = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let segment = SEGMENT_END
        .iter()
        .position(|&end| value <= end)
        .unwrap_or(SEGMENT_END.len());
    if segment >= SEGMENT_END.len() {
        return 0x7F ^ mask;
    }
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment as u8) << 4) | ((value >> shift) & 0x0F) as u8;
    code ^ mask
}

/// Decodes one A-law byte to a linear PCM16 sample (G.711), by table lookup.
pub fn decode_sample(b: u8) -> i16 {
    DECODE_TABLE[b as usize]
}

/// Appends the A-law encoding of `pcm` to `out`: one byte per sample.
pub fn encode_into(pcm: &[i16], out: &mut Vec<u8>) {
    out.reserve(pcm.len());
    out.extend(pcm.iter().map(|&s| encode_sample(s)));
}

/// Appends the PCM16 decoding of `alaw` to `out`: one sample per byte.
pub fn decode_into(alaw: &[u8], out: &mut Vec<i16>) {
    out.reserve(alaw.len());
    out.extend(alaw.iter().map(|&b| decode_sample(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_full_scale_match_g711_reference() {
        assert_eq!(encode_sample(0), SILENCE);
        assert_eq!(decode_sample(SILENCE), 8);
        assert_eq!(decode_sample(0x55), -8);
        assert_eq!(encode_sample(i16::MAX), 0xAA);
        assert_eq!(encode_sample(i16::MIN), 0x2A);
        assert_eq!(decode_sample(0xAA), 32256);
        assert_eq!(decode_sample(0x2A), -32256);
        // Reference values from a G.711 implementation (Python's audioop.lin2alaw).
        assert_eq!(encode_sample(1000), 0xFA);
        assert_eq!(encode_sample(-1000), 0x7A);
    }

    #[test]
    fn round_trip_error_is_within_half_a_quantisation_step() {
        for s in i16::MIN..=i16::MAX {
            let back = decode_sample(encode_sample(s)) as i32;
            let err = (back - s as i32).abs();
            let bound = (s as i32).abs() / 32 + 16;
            assert!(
                err <= bound,
                "sample {s}: decoded {back}, error {err} > {bound}"
            );
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for b in 0..=255u8 {
            assert_eq!(encode_sample(decode_sample(b)), b, "code {b:#04x}");
        }
    }

    #[test]
    fn bulk_functions_append_one_value_per_sample() {
        let pcm = [0i16, 1000, -1000];
        let mut bytes = Vec::new();
        encode_into(&pcm, &mut bytes);
        assert_eq!(bytes, [0xD5, 0xFA, 0x7A]);
        let mut back = vec![7];
        decode_into(&bytes, &mut back);
        assert_eq!(back.len(), 4);
        assert_eq!(back[0], 7);
        assert!((back[2] - 1000).abs() <= 1000 / 32 + 16);
    }
}
