//! Mono PCM16 audio in memory ([`Pcm`]) and its WAV (RIFF) file form, via `hound`. Reading
//! accepts 8/16/24/32-bit integer and 32-bit float WAV with any channel count, mixing channels
//! down to mono by averaging; writing always produces 16-bit mono. Used for the shipped caller
//! recordings, the simulator's reply clips and call recordings.

use std::io::{Cursor, Read};
use std::path::Path;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use super::AudioError;

/// Mono PCM16 audio: `samples` at `sample_rate` Hz.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcm {
    /// Signed 16-bit samples, one per frame (mono).
    pub samples: Vec<i16>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl Pcm {
    /// Duration in ms, rounded down (0 when `sample_rate` is 0).
    pub fn duration_ms(&self) -> u64 {
        if self.sample_rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.sample_rate)
    }
}

fn wav_error(e: hound::Error) -> AudioError {
    match e {
        hound::Error::IoError(io) => AudioError::Io(io),
        other => AudioError::UnsupportedWav(other.to_string()),
    }
}

/// Reads a WAV file into mono PCM16 (see [`read_wav_bytes`] for the accepted formats).
///
/// # Errors
/// [`AudioError::Io`] when the file cannot be read, [`AudioError::UnsupportedWav`] when it is not
/// a WAV file hound understands or uses an unsupported sample format.
pub fn read_wav(path: &Path) -> Result<Pcm, AudioError> {
    let reader = WavReader::open(path).map_err(wav_error)?;
    read_from(reader)
}

/// Parses WAV bytes into mono PCM16: 8/16/24/32-bit integer or 32-bit float samples, any channel
/// count (averaged to mono). Integer samples are scaled to 16 bits; float samples are clamped to
/// −1.0..=1.0 and scaled by 32767.
///
/// # Errors
/// [`AudioError::UnsupportedWav`] for malformed data, zero channels, or another sample format.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let reader = WavReader::new(Cursor::new(bytes)).map_err(wav_error)?;
    read_from(reader)
}

fn read_from<R: Read>(reader: WavReader<R>) -> Result<Pcm, AudioError> {
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        return Err(AudioError::UnsupportedWav("zero channels".into()));
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            // hound yields 8-bit samples as signed −128..=127, like the wider ones.
            let scale = 32768.0 / (1u64 << (bits - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_error)?
        }
        (SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(|v| v.clamp(-1.0, 1.0) * 32767.0))
            .collect::<Result<_, _>>()
            .map_err(wav_error)?,
        (format, bits) => {
            return Err(AudioError::UnsupportedWav(format!(
                "{bits}-bit {format:?} samples"
            )))
        }
    };
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| {
            let mean = frame.iter().sum::<f32>() / channels as f32;
            mean.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    Ok(Pcm {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Writes `pcm` to `path` as a 16-bit mono WAV file at `pcm.sample_rate`, replacing any file there.
///
/// # Errors
/// [`AudioError::Io`] when the file cannot be written, [`AudioError::UnsupportedWav`] when hound
/// rejects the header (e.g. a sample rate of 0 or too many samples for a RIFF file).
pub fn write_wav(path: &Path, pcm: &Pcm) -> Result<(), AudioError> {
    let spec = WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut writer = WavWriter::create(path, spec).map_err(wav_error)?;
    let mut samples = writer.get_i16_writer(pcm.samples.len() as u32);
    for &s in &pcm.samples {
        samples.write_sample(s);
    }
    samples.flush().map_err(wav_error)?;
    writer.finalize().map_err(wav_error)
}

/// `pcm` as the bytes of a 16-bit mono WAV file at `pcm.sample_rate` (what
/// [`write_wav`] writes), for storing or serving a recording from memory.
///
/// # Errors
/// [`AudioError::UnsupportedWav`] when hound rejects the header (a sample rate
/// of 0, or too many samples for a RIFF file).
pub fn encode_wav(pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    let spec = WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut out = Vec::with_capacity(44 + pcm.samples.len() * 2);
    let mut writer = WavWriter::new(Cursor::new(&mut out), spec).map_err(wav_error)?;
    let mut samples = writer.get_i16_writer(pcm.samples.len() as u32);
    for &s in &pcm.samples {
        samples.write_sample(s);
    }
    samples.flush().map_err(wav_error)?;
    writer.finalize().map_err(wav_error)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::level::rms_dbfs;

    fn wav_bytes(
        spec: WavSpec,
        write: impl FnOnce(&mut WavWriter<Cursor<&mut Vec<u8>>>),
    ) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut writer = WavWriter::new(Cursor::new(&mut buf), spec).unwrap();
        write(&mut writer);
        writer.finalize().unwrap();
        buf
    }

    fn spec(channels: u16, bits: u16, format: SampleFormat) -> WavSpec {
        WavSpec {
            channels,
            sample_rate: 8000,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn round_trip_through_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.wav");
        let pcm = Pcm {
            samples: (0..8000)
                .map(|i| ((i * 37) % 20000 - 10000) as i16)
                .collect(),
            sample_rate: 8000,
        };
        write_wav(&path, &pcm).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 16000);
        let back = read_wav(&path).unwrap();
        assert_eq!(back, pcm);
        assert_eq!(back.duration_ms(), 1000);
    }

    #[test]
    fn stereo_is_mixed_down_and_wide_formats_are_scaled() {
        let stereo = wav_bytes(spec(2, 16, SampleFormat::Int), |w| {
            for (l, r) in [(1000i16, 3000i16), (-2000, 0)] {
                w.write_sample(l).unwrap();
                w.write_sample(r).unwrap();
            }
        });
        assert_eq!(read_wav_bytes(&stereo).unwrap().samples, [2000, -1000]);

        let int8 = wav_bytes(spec(1, 8, SampleFormat::Int), |w| {
            for s in [0i8, 64, -128] {
                w.write_sample(s).unwrap();
            }
        });
        assert_eq!(read_wav_bytes(&int8).unwrap().samples, [0, 16384, -32768]);

        let int24 = wav_bytes(spec(1, 24, SampleFormat::Int), |w| {
            for s in [0x10_0000i32, -0x80_0000] {
                w.write_sample(s).unwrap();
            }
        });
        assert_eq!(read_wav_bytes(&int24).unwrap().samples, [0x1000, -32768]);

        let int32 = wav_bytes(spec(1, 32, SampleFormat::Int), |w| {
            w.write_sample(0x4000_0000i32).unwrap();
        });
        assert_eq!(read_wav_bytes(&int32).unwrap().samples, [16384]);

        let float = wav_bytes(spec(3, 32, SampleFormat::Float), |w| {
            for s in [0.5f32, 0.5, 0.5, 2.0, 2.0, 2.0] {
                w.write_sample(s).unwrap();
            }
        });
        let pcm = read_wav_bytes(&float).unwrap();
        assert_eq!(pcm.samples, [16384, 32767]);
        assert_eq!(pcm.sample_rate, 8000);
    }

    #[test]
    fn garbage_and_missing_files_are_typed_errors() {
        assert!(matches!(
            read_wav_bytes(b"RIFF not really a wave file"),
            Err(AudioError::UnsupportedWav(_))
        ));
        assert!(matches!(
            read_wav(Path::new("/nonexistent/switchboard/clip.wav")),
            Err(AudioError::Io(_))
        ));
    }

    /// Every shipped asset: (path under the crate root, documented rate in Hz).
    const ASSETS: [(&str, u32); 10] = [
        ("assets/audio/caller-booking.wav", 16000),
        ("assets/audio/voicemail-prompt.wav", 8000),
        ("assets/audio/caller-message.wav", 16000),
        ("assets/audio/apology.wav", 8000),
        ("assets/sim/greeting.wav", 24000),
        ("assets/sim/booking.wav", 24000),
        ("assets/sim/booking-confirmed.wav", 24000),
        ("assets/sim/message-taken.wav", 24000),
        ("assets/sim/fallback.wav", 24000),
        ("assets/sim/goodbye.wav", 24000),
    ];

    /// The hold clip loops while a model link is down: 8 kHz, short, softer
    /// than speech, and never silent long enough to sound like dead air.
    #[test]
    fn the_hold_clip_is_a_soft_loop_without_dead_air() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let pcm = read_wav(&root.join("assets/audio/hold.wav")).unwrap();
        assert_eq!(pcm.sample_rate, 8000);
        assert!((1000..=5000).contains(&pcm.duration_ms()));
        let level = rms_dbfs(&pcm.samples);
        assert!((-35.0..-18.0).contains(&level), "{level} dBFS");
        // No 50 ms window louder than speech would be.
        let loudest = pcm
            .samples
            .chunks(400)
            .map(rms_dbfs)
            .fold(f32::MIN, f32::max);
        assert!(loudest < -15.0, "{loudest} dBFS");
        // Quiet stretches (including across the loop point) stay under 400 ms.
        let windows: Vec<f32> = pcm.samples.chunks(400).map(rms_dbfs).collect();
        let doubled: Vec<f32> = windows.iter().chain(windows.iter()).cloned().collect();
        let longest_quiet = doubled
            .split(|l| *l > -50.0)
            .map(|run| run.len() * 50)
            .max()
            .unwrap_or(0);
        assert!(longest_quiet < 400, "{longest_quiet} ms quiet");
    }

    #[test]
    fn shipped_assets_are_speech_at_their_documented_rate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for (rel, rate) in ASSETS {
            let pcm = read_wav(&root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(pcm.sample_rate, rate, "{rel}");
            let ms = pcm.duration_ms();
            assert!((1500..=8000).contains(&ms), "{rel}: {ms} ms");
            let level = rms_dbfs(&pcm.samples);
            assert!(level > -35.0, "{rel}: speech level only {level} dBFS");
            // Speech has pauses and loud syllables: 50 ms windows must vary widely in level.
            let window = (rate / 20) as usize;
            let levels: Vec<f32> = pcm.samples.chunks(window).map(rms_dbfs).collect();
            let loudest = levels.iter().cloned().fold(f32::MIN, f32::max);
            let quietest = levels.iter().cloned().fold(f32::MAX, f32::min);
            assert!(
                loudest > -20.0 && quietest < -60.0,
                "{rel}: {quietest}..{loudest} dBFS"
            );
        }
    }

    #[test]
    fn caller_recordings_have_lead_and_trailing_silence() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for rel in [
            "assets/audio/caller-booking.wav",
            "assets/audio/caller-message.wav",
        ] {
            let pcm = read_wav(&root.join(rel)).unwrap();
            let ms = |n: u32| (pcm.sample_rate * n / 1000) as usize;
            let n = pcm.samples.len();
            assert!(
                rms_dbfs(&pcm.samples[..ms(250)]) < -60.0,
                "{rel}: lead-in not silent"
            );
            assert!(
                rms_dbfs(&pcm.samples[n - ms(1400)..]) < -60.0,
                "{rel}: tail not silent"
            );
            assert!(
                rms_dbfs(&pcm.samples[ms(300)..n - ms(1500)]) > -30.0,
                "{rel}: no speech"
            );
        }
    }
}
