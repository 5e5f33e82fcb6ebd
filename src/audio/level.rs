//! Signal levels of PCM16 audio: RMS in dBFS (for voice-activity heuristics and asset checks) and
//! peak magnitude. Full scale is 32768, so a full-scale square wave is 0 dBFS and a full-scale sine
//! about −3 dBFS.

/// Level reported for digital silence and empty input, in dBFS: a finite floor instead of −∞.
pub const SILENCE_DBFS: f32 = -100.0;

/// Root-mean-square level of `samples`, in dBFS (20·log10(rms / 32768)).
///
/// Returns [`SILENCE_DBFS`] (−100.0) for empty input or all-zero samples, and never less than
/// that, so the result is always finite and comparable.
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let sum_sq: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (sum_sq / samples.len() as f64).sqrt();
    if rms <= 0.0 {
        return SILENCE_DBFS;
    }
    let db = 20.0 * (rms / 32768.0).log10();
    (db as f32).max(SILENCE_DBFS)
}

/// Largest absolute sample value in `samples` (0 for empty input). `i16::MIN` saturates to
/// `i16::MAX`.
pub fn peak(samples: &[i16]) -> i16 {
    samples
        .iter()
        .map(|&s| s.saturating_abs())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(amplitude: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 8000.0).sin()) as i16
            })
            .collect()
    }

    #[test]
    fn silence_is_the_floor_and_a_sine_is_near_minus_three() {
        assert_eq!(rms_dbfs(&[]), SILENCE_DBFS);
        assert_eq!(rms_dbfs(&[0; 160]), SILENCE_DBFS);
        let full = rms_dbfs(&sine(32767.0, 8000));
        assert!((full + 3.01).abs() < 0.1, "full-scale sine at {full} dBFS");
        let quiet = rms_dbfs(&sine(327.67, 8000));
        assert!((quiet + 43.01).abs() < 0.2, "-40 dB sine at {quiet} dBFS");
        assert!(rms_dbfs(&[1]) > SILENCE_DBFS);
    }

    #[test]
    fn peak_is_the_largest_magnitude() {
        assert_eq!(peak(&[]), 0);
        assert_eq!(peak(&[3, -7, 5]), 7);
        assert_eq!(peak(&[i16::MIN]), i16::MAX);
    }
}
