//! Sample-rate conversion of PCM16 mono audio, e.g. 8 kHz telephone audio to the 24 kHz the OpenAI
//! Realtime `audio/pcm` format requires and back. Built on rubato's synchronous FFT resampler
//! (`FftFixedInOut`), which band-limits properly in both directions. [`StreamResampler`] takes
//! chunks of any length and compensates the filter delay, so the first output sample lines up with
//! the first input sample; [`resample`] converts a whole buffer with the same machinery.

use rubato::{FftFixedInOut, Resampler};

use super::AudioError;

/// Scale between PCM16 samples and rubato's `f32` samples in −1.0..1.0.
const FULL_SCALE: f32 = 32768.0;

/// Input chunk the FFT resampler works on, in ms (rounded up by rubato to a multiple of the
/// rates' smallest common block).
const CHUNK_MS: u32 = 20;

/// Resamples a whole buffer of PCM16 mono audio from `from_hz` to `to_hz`.
///
/// Returns a copy of `input` when the rates are equal; otherwise exactly
/// `round(input.len() · to_hz / from_hz)` samples, aligned with the input (no filter delay).
///
/// # Errors
/// [`AudioError::Resample`] when a rate is zero or rubato rejects the conversion.
pub fn resample(input: &[i16], from_hz: u32, to_hz: u32) -> Result<Vec<i16>, AudioError> {
    let mut resampler = StreamResampler::new(from_hz, to_hz)?;
    let expected = expected_len(input.len() as u64, from_hz, to_hz);
    let mut out = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    resampler.process(input, &mut out)?;
    resampler.flush(&mut out);
    Ok(out)
}

/// Output samples that `input_len` samples should become: round(input_len · to / from).
fn expected_len(input_len: u64, from_hz: u32, to_hz: u32) -> u64 {
    (input_len * u64::from(to_hz) + u64::from(from_hz) / 2) / u64::from(from_hz).max(1)
}

fn to_i16(x: f32) -> i16 {
    (x * FULL_SCALE).round().clamp(-32768.0, 32767.0) as i16
}

/// Converts a PCM16 mono stream from one rate to another, chunk by chunk.
///
/// Feed chunks of any length to [`process`](Self::process); input is buffered until a whole
/// resampler block (about 20 ms) is available, so output trails input by up to one block plus
/// the filter's half-block delay. Call [`flush`](Self::flush) at the end of the stream to drain
/// the rest: the total output is then `round(total input · to_hz / from_hz)` samples. Equal rates
/// pass samples straight through.
pub struct StreamResampler {
    inner: Option<Inner>,
}

/// State of a real (non-identity) conversion.
struct Inner {
    resampler: FftFixedInOut<f32>,
    from_hz: u32,
    to_hz: u32,
    /// Input samples (as f32) waiting for a full block.
    pending: Vec<f32>,
    /// One-channel input block handed to rubato, `input_frames_next()` long.
    in_block: Vec<Vec<f32>>,
    /// One-channel output block filled by rubato, `output_frames_max()` long.
    out_block: Vec<Vec<f32>>,
    /// Output samples still to drop at the start of the stream: the filter delay.
    skip: usize,
    /// Input samples accepted since the start of the stream (or the last flush).
    consumed: u64,
    /// Output samples emitted since the start of the stream (or the last flush).
    emitted: u64,
}

impl StreamResampler {
    /// Creates a converter from `from_hz` to `to_hz` (both in Hz, mono).
    ///
    /// # Errors
    /// [`AudioError::Resample`] when a rate is zero or rubato cannot build the resampler.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        if from_hz == 0 || to_hz == 0 {
            return Err(AudioError::Resample(format!(
                "sample rates must be positive, got {from_hz} Hz -> {to_hz} Hz"
            )));
        }
        if from_hz == to_hz {
            return Ok(Self { inner: None });
        }
        let chunk_in = (from_hz * CHUNK_MS / 1000).max(1) as usize;
        let resampler = FftFixedInOut::<f32>::new(from_hz as usize, to_hz as usize, chunk_in, 1)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        let in_block = vec![vec![0.0; resampler.input_frames_next()]];
        let out_block = vec![vec![0.0; resampler.output_frames_max()]];
        let skip = resampler.output_delay();
        Ok(Self {
            inner: Some(Inner {
                resampler,
                from_hz,
                to_hz,
                pending: Vec::new(),
                in_block,
                out_block,
                skip,
                consumed: 0,
                emitted: 0,
            }),
        })
    }

    /// Accepts `input` (any length, including 0) and appends every output sample that is ready
    /// to `out`.
    ///
    /// # Errors
    /// [`AudioError::Resample`] if rubato rejects a block (not expected with these buffers).
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) -> Result<(), AudioError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        inner.consumed += input.len() as u64;
        inner
            .pending
            .extend(input.iter().map(|&s| f32::from(s) / FULL_SCALE));
        let block = inner.in_block[0].len();
        while inner.pending.len() >= block {
            inner.in_block[0].copy_from_slice(&inner.pending[..block]);
            inner.pending.drain(..block);
            inner.run_block(out, u64::MAX)?;
        }
        Ok(())
    }

    /// Ends the stream: pads the buffered input with silence, appends the remaining output to
    /// `out` so the stream's total is `round(total input · to_hz / from_hz)` samples, and resets
    /// the converter so it can start a new stream.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let target = expected_len(inner.consumed, inner.from_hz, inner.to_hz);
        let block = inner.in_block[0].len();
        while inner.emitted < target {
            let take = inner.pending.len().min(block);
            inner.in_block[0][..take].copy_from_slice(&inner.pending[..take]);
            inner.in_block[0][take..].fill(0.0);
            inner.pending.drain(..take);
            if inner.run_block(out, target).is_err() {
                // Buffers are sized from the resampler itself, so this cannot happen; stop
                // rather than loop if it ever does.
                break;
            }
        }
        inner.resampler.reset();
        inner.pending.clear();
        inner.skip = inner.resampler.output_delay();
        inner.consumed = 0;
        inner.emitted = 0;
    }
}

impl Inner {
    /// Runs rubato on `in_block` and appends its output to `out`, dropping the filter delay and
    /// never letting the stream's total exceed `limit` samples.
    fn run_block(&mut self, out: &mut Vec<i16>, limit: u64) -> Result<(), AudioError> {
        let (_, produced) = self
            .resampler
            .process_into_buffer(&self.in_block, &mut self.out_block, None)
            .map_err(|e| AudioError::Resample(e.to_string()))?;
        let dropped = self.skip.min(produced);
        self.skip -= dropped;
        let room = usize::try_from(limit.saturating_sub(self.emitted)).unwrap_or(usize::MAX);
        let ready = &self.out_block[0][dropped..produced];
        let ready = &ready[..ready.len().min(room)];
        out.extend(ready.iter().map(|&x| to_i16(x)));
        self.emitted += ready.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq_hz: f64, rate_hz: u32, ms: u32, amplitude: f64) -> Vec<i16> {
        let n = (rate_hz * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / rate_hz as f64;
                (amplitude * (2.0 * std::f64::consts::PI * freq_hz * t).sin()).round() as i16
            })
            .collect()
    }

    /// Sign changes in `samples` (ignoring exact zeros).
    fn zero_crossings(samples: &[i16]) -> usize {
        let signs: Vec<bool> = samples
            .iter()
            .filter(|&&s| s != 0)
            .map(|&s| s > 0)
            .collect();
        signs.windows(2).filter(|w| w[0] != w[1]).count()
    }

    fn rms(samples: &[i16]) -> f64 {
        let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / samples.len() as f64).sqrt()
    }

    #[test]
    fn equal_rates_are_identity() {
        let input = sine(440.0, 16000, 100, 10000.0);
        assert_eq!(resample(&input, 16000, 16000).unwrap(), input);
    }

    #[test]
    fn zero_rate_is_an_error() {
        assert!(matches!(
            resample(&[1, 2, 3], 0, 8000),
            Err(AudioError::Resample(_))
        ));
        assert!(StreamResampler::new(8000, 0).is_err());
    }

    #[test]
    fn output_length_follows_the_rate_ratio() {
        for (from, to, n) in [
            (8000, 24000, 1000),
            (24000, 8000, 2401),
            (16000, 8000, 3333),
            (44100, 24000, 4410),
            (8000, 16000, 1),
            (8000, 24000, 0),
        ] {
            let input = vec![100i16; n];
            let out = resample(&input, from, to).unwrap();
            let expected = (n as u64 * to as u64 + from as u64 / 2) / from as u64;
            assert_eq!(out.len() as u64, expected, "{from} -> {to}, {n} samples");
        }
    }

    #[test]
    fn a_1khz_sine_keeps_frequency_and_energy() {
        for (from, to) in [(8000, 24000), (24000, 8000), (16000, 8000), (8000, 16000)] {
            let input = sine(1000.0, from, 1000, 12000.0);
            let out = resample(&input, from, to).unwrap();
            // Skip 10 ms at each end where the stream starts and stops abruptly.
            let edge = (to / 100) as usize;
            let body = &out[edge..out.len() - edge];
            let seconds = body.len() as f64 / to as f64;
            let freq = zero_crossings(body) as f64 / 2.0 / seconds;
            assert!((freq - 1000.0).abs() < 5.0, "{from} -> {to}: {freq} Hz");
            let ratio = rms(body) / rms(&input);
            assert!(
                (ratio - 1.0).abs() < 0.03,
                "{from} -> {to}: energy ratio {ratio}"
            );
        }
    }

    #[test]
    fn output_is_aligned_with_input() {
        // A 770 Hz sine upsampled 8k -> 24k must match the same sine generated at 24k directly.
        // (770 Hz: the 10 ms filter delay is not a whole number of periods, so it would show.)
        let input = sine(770.0, 8000, 200, 12000.0);
        let out = resample(&input, 8000, 24000).unwrap();
        let reference = sine(770.0, 24000, 200, 12000.0);
        let mid = &out[240..out.len() - 240];
        let reference = &reference[240..reference.len() - 240];
        let err: Vec<i16> = mid.iter().zip(reference).map(|(a, b)| a - b).collect();
        assert!(rms(&err) < 200.0, "misaligned: error rms {}", rms(&err));
    }

    #[test]
    fn arbitrary_chunks_give_the_same_stream_as_one_buffer() {
        let input = sine(700.0, 8000, 500, 9000.0);
        let whole = resample(&input, 8000, 24000).unwrap();
        let mut stream = StreamResampler::new(8000, 24000).unwrap();
        let mut out = Vec::new();
        let mut rest = &input[..];
        for size in [1usize, 7, 160, 33, 500, 2, 1000].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            stream.process(&rest[..n], &mut out).unwrap();
            rest = &rest[n..];
        }
        stream.flush(&mut out);
        assert_eq!(out, whole);
        // After a flush the converter starts a fresh stream.
        let mut again = Vec::new();
        stream.process(&input, &mut again).unwrap();
        stream.flush(&mut again);
        assert_eq!(again, whole);
    }
}
