//! A two-channel 16-bit PCM WAV written as a stream ([`StereoWav`]): the
//! 44-byte canonical RIFF header first, then interleaved frames in bulk, the
//! header's sizes brought up to date on demand (so a file cut short by a crash
//! still reads up to the last update) and at the end. Written by hand rather
//! than through `hound`, whose writer takes one sample per call: per-sample
//! writes were most of a call recording's CPU (docs/recording.md#cost).
//!
//! Layout (Microsoft RIFF/WAVE, `WAVE_FORMAT_PCM` = 1): `RIFF` size `WAVE`,
//! `fmt ` (16 bytes: format 1, channels 2, rate Hz, byte rate, block align 4,
//! 16 bits), `data` size, then frames of left-then-right samples, each signed
//! 16-bit little-endian.

use std::io::{self, Seek, SeekFrom, Write};

/// Bytes before the first frame.
const HEADER_BYTES: u64 = 44;

/// Bytes per frame: two channels of two bytes.
pub const FRAME_BYTES: usize = 4;

/// Largest data chunk a RIFF size field can describe, bytes (4 GiB less the
/// header): 37 hours at 8 kHz, 12 hours at 24 kHz.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - (HEADER_BYTES - 8);

/// A stereo PCM16 WAV being written to `W`.
#[derive(Debug)]
pub struct StereoWav<W: Write + Seek> {
    inner: W,
    data_bytes: u64,
}

impl<W: Write + Seek> StereoWav<W> {
    /// Writes the header for `rate` Hz (sizes 0 until [`StereoWav::update_header`]).
    ///
    /// # Errors
    /// The writer's own I/O error.
    pub fn new(mut inner: W, rate: u32) -> io::Result<Self> {
        let mut header = [0u8; HEADER_BYTES as usize];
        header[0..4].copy_from_slice(b"RIFF");
        header[4..8].copy_from_slice(&36u32.to_le_bytes());
        header[8..12].copy_from_slice(b"WAVE");
        header[12..16].copy_from_slice(b"fmt ");
        header[16..20].copy_from_slice(&16u32.to_le_bytes());
        header[20..22].copy_from_slice(&1u16.to_le_bytes());
        header[22..24].copy_from_slice(&2u16.to_le_bytes());
        header[24..28].copy_from_slice(&rate.to_le_bytes());
        header[28..32].copy_from_slice(&(rate * FRAME_BYTES as u32).to_le_bytes());
        header[32..34].copy_from_slice(&(FRAME_BYTES as u16).to_le_bytes());
        header[34..36].copy_from_slice(&16u16.to_le_bytes());
        header[36..40].copy_from_slice(b"data");
        inner.write_all(&header)?;
        Ok(StereoWav {
            inner,
            data_bytes: 0,
        })
    }

    /// Appends interleaved frames (a multiple of [`FRAME_BYTES`] bytes).
    ///
    /// # Errors
    /// The writer's I/O error, or `InvalidInput` when the file would pass the
    /// 4 GiB a RIFF header can describe.
    pub fn write_frames(&mut self, frames: &[u8]) -> io::Result<()> {
        let total = self.data_bytes + frames.len() as u64;
        if total > MAX_DATA_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the recording reached the 4 GiB a WAV file can hold",
            ));
        }
        self.inner.write_all(frames)?;
        self.data_bytes = total;
        Ok(())
    }

    /// Writes the current sizes into the header and flushes.
    ///
    /// # Errors
    /// The writer's own I/O error.
    pub fn update_header(&mut self) -> io::Result<()> {
        // MAX_DATA_BYTES keeps both sizes within u32.
        let data = self.data_bytes as u32;
        self.inner.seek(SeekFrom::Start(4))?;
        self.inner.write_all(&(data + 36).to_le_bytes())?;
        self.inner.seek(SeekFrom::Start(40))?;
        self.inner.write_all(&data.to_le_bytes())?;
        self.inner
            .seek(SeekFrom::Start(HEADER_BYTES + self.data_bytes))?;
        self.inner.flush()
    }

    /// Brings the header up to date and hands back the writer.
    ///
    /// # Errors
    /// The writer's own I/O error.
    pub fn finish(mut self) -> io::Result<W> {
        self.update_header()?;
        Ok(self.inner)
    }
}

/// Writes `left` and `right` (equal lengths, one sample per frame) into `out`
/// as interleaved PCM16 LE frames, replacing what `out` held.
pub fn interleave(left: &[i16], right: &[i16], out: &mut Vec<u8>) {
    let frames = left.len().min(right.len());
    out.clear();
    out.resize(frames * FRAME_BYTES, 0);
    for ((frame, l), r) in out.chunks_exact_mut(FRAME_BYTES).zip(left).zip(right) {
        frame[..2].copy_from_slice(&l.to_le_bytes());
        frame[2..].copy_from_slice(&r.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    #[test]
    fn hound_reads_what_is_written_with_sizes_at_each_update() {
        let mut wav = StereoWav::new(Cursor::new(Vec::new()), 8000).unwrap();
        let mut frames = Vec::new();
        interleave(&[1, -2, 3], &[-4, 5, i16::MIN], &mut frames);
        wav.write_frames(&frames).unwrap();
        wav.update_header().unwrap();
        interleave(&[7], &[i16::MAX], &mut frames);
        wav.write_frames(&frames).unwrap();
        let bytes = wav.finish().unwrap().into_inner();
        assert_eq!(bytes.len(), 44 + 16);
        let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, 8000, 16)
        );
        let samples: Vec<i16> = reader.into_samples().map(|s| s.unwrap()).collect();
        assert_eq!(samples, [1, -4, -2, 5, 3, i16::MIN, 7, i16::MAX]);
    }

    #[test]
    fn a_file_cut_before_the_end_reads_up_to_the_last_update() {
        let mut wav = StereoWav::new(Cursor::new(Vec::new()), 24_000).unwrap();
        let mut frames = Vec::new();
        interleave(&[9; 10], &[8; 10], &mut frames);
        wav.write_frames(&frames).unwrap();
        wav.update_header().unwrap();
        wav.write_frames(&frames).unwrap();
        // No finish: the process died here.
        let bytes = wav.inner.into_inner();
        let reader = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!(reader.duration(), 10);
    }
}
