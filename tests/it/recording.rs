//! Local two-channel recording (`[tenants.recording] mode = "all"`): a Twilio
//! and a browser call each leave a WAV that Python's standard `wave` module
//! reads, as long as the call; the caller's channel holds the audio the test
//! sent, where it sent it; the receptionist's channel holds what the caller
//! heard and is silent from a barge-in's `clear` on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use awc::ws::{Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::audio::format::{encode_pcm, AudioFormat};
use switchboard::audio::mulaw;
use switchboard::audio::wav::read_wav;
use switchboard::far_end::twilio_call::Outbound;
use switchboard::tenant::recording::RecordingMode;

use crate::browser::{open, origin};
use crate::support::{asset, caller_mulaw, Db, TestApp, ADMIN};

/// Sends `mulaw` as 20 ms frames on the schedule `next` (kept across calls,
/// so the line never pauses; a frame whose slot has passed goes at once, as
/// a phone's late packets do). Returns the first frame's slot: where the
/// phone's clock puts it.
async fn paced(
    call: &mut switchboard::far_end::TwilioCall,
    mulaw: &[u8],
    next: &mut tokio::time::Instant,
) -> Instant {
    let first = next.into_std();
    for frame in mulaw.chunks(160) {
        tokio::time::sleep_until(*next).await;
        *next += Duration::from_millis(20);
        call.send_mulaw_frame(frame).await.unwrap();
    }
    first
}

/// A TestApp whose tenant records every call into `dir`.
async fn recording_app(dir: &Path) -> TestApp {
    let dir = dir.to_path_buf();
    TestApp::start_with(Db::Sqlite, move |c| {
        c.recording.dir = dir;
        c.tenants[0].recording.mode = RecordingMode::All;
    })
    .await
}

/// Waits for the call's row to name its closed recording; returns the row.
async fn recorded_call(app: &TestApp, sid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = app.get_json(&format!("/api/calls/{sid}")).await;
        if status == 200 && body["call"]["recording_file"].is_string() {
            return body["call"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no recording noted on call {sid}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Channels, sample rate and frames as Python's `wave` module reads the file.
fn python_wave(path: &Path) -> (u64, u64, u64, u64) {
    let script = "import sys, wave\n\
                  w = wave.open(sys.argv[1], 'rb')\n\
                  print(w.getnchannels(), w.getframerate(), w.getnframes(), w.getsampwidth())";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python wave refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    (v[0], v[1], v[2], v[3])
}

/// The left (caller) and right (receptionist) channels.
fn channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let reader = hound::WavReader::open(path).expect("WAV");
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    samples.chunks(2).map(|f| (f[0], f[1])).unzip()
}

/// Where `needle` best matches `hay` within `radius` samples of `around`, and
/// how well (normalised correlation, 1.0 = identical shape).
fn locate(hay: &[i16], needle: &[i16], around: usize, radius: usize) -> (usize, f64) {
    let energy = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
    let needle_energy = energy(needle);
    let mut best = (0, f64::MIN);
    for at in around.saturating_sub(radius)..=around + radius {
        let Some(window) = hay.get(at..at + needle.len()) else {
            break;
        };
        let dot: f64 = window
            .iter()
            .zip(needle)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let score = dot / (needle_energy * energy(window)).sqrt().max(1.0);
        if score > best.1 {
            best = (at, score);
        }
    }
    best
}

/// The first loud stretch of `samples` (speech, not the clip's lead-in): its
/// start and `len` samples from there.
fn speech_window(samples: &[i16], len: usize) -> (usize, Vec<i16>) {
    let start = samples
        .iter()
        .position(|s| s.unsigned_abs() > 3000)
        .expect("speech in the clip");
    (start, samples[start..start + len].to_vec())
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

fn ms_to_samples(ms: f64, rate: u64) -> usize {
    (ms * rate as f64 / 1000.0).max(0.0) as usize
}

/// Checks the file against the call: a standard parser reads it, two 16-bit
/// channels at `rate`, as long as the call's `duration_ms` (±0.2 s).
fn check_file(dir: &Path, call: &Value, rate: u64) -> PathBuf {
    let file = call["recording_file"].as_str().expect("recording_file");
    let tenant = call["tenant_id"].as_str().expect("tenant");
    let call_id = call["id"].as_str().expect("id");
    assert!(
        file.starts_with(&format!("{tenant}/")) && file.ends_with(&format!("/{call_id}.wav")),
        "{file} is not tenant/date/call id.wav"
    );
    assert!(call["recording_note"].is_null(), "note: {call}");
    let path = dir.join(file);
    assert!(
        !switchboard::store::files::readable_by_others(&path),
        "{file} is readable by others"
    );
    let (nchannels, framerate, frames, width) = python_wave(&path);
    assert_eq!((nchannels, framerate, width), (2, rate, 2));
    let file_ms = frames as f64 * 1000.0 / rate as f64;
    let call_ms = call["duration_ms"].as_f64().expect("duration_ms");
    assert!(
        (file_ms - call_ms).abs() <= 200.0,
        "recording {file_ms} ms, call {call_ms} ms"
    );
    path
}

#[actix_rt::test]
async fn twilio_call_is_recorded_on_two_channels_and_cut_at_barge_in() {
    let rec = tempfile::tempdir().unwrap();
    let app = recording_app(rec.path()).await;
    let (mut call, _feed) = app.dial().await;
    let t0 = Instant::now();
    let sid = call.call_sid().to_string();

    // One schedule of 20 ms frames for the whole call, as a phone sends them.
    let mut next = tokio::time::Instant::now();
    let silence = vec![0xFFu8; 160 * 30];
    paced(&mut call, &silence, &mut next).await;
    let booking = caller_mulaw("caller-booking");
    let booking_sent = paced(&mut call, &booking, &mut next).await - t0;
    // The reply plays for about a second (10 marks of 100 ms echoed).
    let deadline = Instant::now() + Duration::from_secs(20);
    while call.marks_echoed() < 10 && Instant::now() < deadline {
        paced(&mut call, &silence[..160], &mut next).await;
    }
    assert!(call.marks_echoed() >= 10, "the reply did not play");
    // The caller talks over the rest of it.
    let message = caller_mulaw("caller-message");
    let message_sent = paced(&mut call, &message, &mut next).await - t0;
    assert!(call.clears() >= 1, "no clear");
    paced(&mut call, &silence[..160 * 25], &mut next).await;
    call.stop().await.unwrap();
    app.wait_call_ended(&sid, Duration::from_secs(10)).await;

    let row = recorded_call(&app, &sid).await;
    let path = check_file(rec.path(), &row, 8000);
    let (left, right) = channels(&path);

    // The caller's channel holds each clip where it was sent (the server's
    // clock starts a little after the test's, at the call's admission).
    let mut located = Vec::new();
    for (name, clip, sent) in [
        ("booking", &booking, booking_sent),
        ("message", &message, message_sent),
    ] {
        let mut pcm = Vec::new();
        mulaw::decode_into(clip, &mut pcm);
        let (lead, window) = speech_window(&pcm, 4000);
        let expected = ms_to_samples(sent.as_secs_f64() * 1000.0, 8000) + lead;
        let (at, score) = locate(&left, &window, expected, 800);
        assert!(
            score > 0.95,
            "{name} not found in the caller channel near {expected}: {score}"
        );
        let off_ms = (expected as f64 - at as f64) / 8.0;
        assert!(
            (-20.0..=80.0).contains(&off_ms),
            "{name} at {at}, sent at {expected} (samples): {off_ms} ms apart"
        );
        located.push((at, expected));
    }
    let gap_recorded = located[1].0 as f64 - located[0].0 as f64;
    let gap_sent = located[1].1 as f64 - located[0].1 as f64;
    assert!(
        (gap_recorded - gap_sent).abs() / 8.0 <= 30.0,
        "clips {gap_recorded} samples apart in the file, {gap_sent} when sent"
    );

    // The receptionist's channel: the reply before the clear, silence after
    // it until the next reply reached the phone.
    let timeline = call.timeline();
    let clear_at = timeline
        .iter()
        .find_map(|o| match o {
            Outbound::Clear { at } => Some(*at),
            _ => None,
        })
        .expect("a clear");
    let next_media = timeline
        .iter()
        .find_map(|o| match o {
            Outbound::Media { at, .. } if *at > clear_at => Some(*at),
            _ => None,
        })
        .unwrap_or_else(tokio::time::Instant::now);
    let clear_ms = clear_at.duration_since(t0.into()).as_secs_f64() * 1000.0;
    let next_ms = next_media.duration_since(t0.into()).as_secs_f64() * 1000.0;
    let before =
        &right[ms_to_samples(clear_ms - 800.0, 8000)..ms_to_samples(clear_ms - 100.0, 8000)];
    assert!(
        rms(before) > 300.0,
        "no reply before the clear: rms {}",
        rms(before)
    );
    let after_end = ms_to_samples(next_ms - 50.0, 8000).min(right.len());
    let after = &right[ms_to_samples(clear_ms + 100.0, 8000)..after_end];
    assert!(
        after.len() > 8000,
        "less than 1 s between clear and the next reply"
    );
    assert!(
        after.iter().all(|&s| s == 0),
        "receptionist audio after the clear (rms {})",
        rms(after)
    );

    // Served for playback, with Range for seeking.
    let url = app.http_url(&format!("/api/calls/{sid}/recording"));
    let on_disk = std::fs::read(&path).unwrap();
    let mut whole = awc::Client::default()
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.headers().get("content-type").unwrap(), "audio/wav");
    let body = whole.body().limit(16 << 20).await.unwrap();
    assert_eq!(body.len(), on_disk.len());
    let mut part = awc::Client::default()
        .get(&url)
        .bearer_auth(ADMIN)
        .insert_header(("Range", "bytes=44-1043"))
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(
        part.headers()
            .get("content-range")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("bytes 44-1043/{}", on_disk.len())
    );
    let bytes = part.body().await.unwrap();
    assert_eq!(&bytes[..], &on_disk[44..1044]);
    app.stop().await;
}

#[actix_rt::test]
async fn browser_call_is_recorded_on_two_channels() {
    let rec = tempfile::tempdir().unwrap();
    let app = recording_app(rec.path()).await;
    let mut resp = awc::Client::default()
        .post(app.http_url("/api/sessions"))
        .bearer_auth(ADMIN)
        .send_json(&serde_json::json!({"tenant": "acme-dental"}))
        .await
        .unwrap();
    let session: Value = resp.json().await.unwrap();
    let sid = session["sessionId"].as_str().unwrap().to_string();
    let token = session["token"].as_str().unwrap().to_string();
    let mut socket = open(&app, &token, Some(&origin(&app))).await.unwrap();
    let t0 = Instant::now();

    let pcm = read_wav(&asset("assets/audio/caller-booking.wav")).unwrap();
    let audio = encode_pcm(AudioFormat::Pcm24k, &pcm).unwrap();
    // 100 ms of silence, then the clip, in real time (a microphone's pace).
    let silence = vec![0u8; 4800];
    let chunks: Vec<&[u8]> = std::iter::once(&silence[..])
        .chain(audio.chunks(4800))
        .collect();
    let clip_sent_ms = 100.0;
    let mut next = tokio::time::Instant::now();
    for chunk in chunks {
        tokio::time::sleep_until(next).await;
        next += Duration::from_millis(100);
        socket
            .send(Message::Binary(bytes::Bytes::copy_from_slice(chunk)))
            .await
            .unwrap();
    }
    // Echo marks and keep the microphone on until a second of reply arrived.
    let mut reply_bytes = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while reply_bytes < 48_000 * 2 {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await else {
            break;
        };
        match frame {
            Frame::Binary(b) => reply_bytes += b.len(),
            Frame::Text(t) => {
                let v: Value = serde_json::from_slice(&t).unwrap();
                if v["type"] == "mark" {
                    socket
                        .send(Message::Text(t.slice(..).try_into().unwrap()))
                        .await
                        .unwrap();
                }
            }
            _ => {}
        }
        socket
            .send(Message::Binary(bytes::Bytes::from_static(&[0u8; 960])))
            .await
            .unwrap();
    }
    assert!(reply_bytes >= 96_000, "only {reply_bytes} bytes of reply");
    tokio::time::sleep(Duration::from_millis(500)).await;
    socket
        .send(Message::Text(r#"{"type":"hangup"}"#.into()))
        .await
        .unwrap();
    app.wait_call_ended(&sid, Duration::from_secs(10)).await;

    let row = recorded_call(&app, &sid).await;
    let path = check_file(rec.path(), &row, 24_000);
    let (left, right) = channels(&path);
    let mut sent = Vec::new();
    switchboard::audio::pcm::le_bytes_to_samples(&audio, &mut sent).unwrap();
    let (lead, window) = speech_window(&sent, 12_000);
    let expected = ms_to_samples(clip_sent_ms, 24_000) + lead;
    let (at, score) = locate(&left, &window, expected, 2400);
    assert!(
        score > 0.95,
        "clip not found in the caller channel: {score}"
    );
    let off_ms = (expected as f64 - at as f64) / 24.0;
    assert!(
        (-20.0..=80.0).contains(&off_ms),
        "clip at {at}, sent at {expected}: {off_ms} ms apart"
    );
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let reply = &right[ms_to_samples(clip_sent_ms + 7000.0, 24_000)..];
    assert!(
        rms(reply) > 100.0,
        "no receptionist audio after the caller's turn ({total_ms} ms call)"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_shutdown_under_a_recorded_call_leaves_its_file_whole_and_noted() {
    let rec = tempfile::tempdir().unwrap();
    let app = recording_app(rec.path()).await;
    let pool = app.running.as_ref().expect("running").state.pool.clone();
    let (mut call, _feed) = app.dial().await;
    let sid = call.call_sid().to_string();
    let mut next = tokio::time::Instant::now();
    paced(&mut call, &vec![0xFFu8; 160 * 100], &mut next).await;
    // SIGTERM with the call still up: the drain ends it, and the recording
    // must be finished and noted by the time shutdown returns (the process
    // exits then).
    app.stop().await;
    let wavs: Vec<PathBuf> = walk(rec.path());
    assert_eq!(wavs.len(), 1, "{wavs:?}");
    let (nchannels, _, frames, width) = python_wave(&wavs[0]);
    assert_eq!((nchannels, width), (2, 2));
    assert!(frames >= 8000, "only {frames} frames");
    let on_disk = std::fs::metadata(&wavs[0]).unwrap().len();
    assert_eq!(on_disk, 44 + frames * 4, "header and data disagree");
    let mut conn = pool.get().expect("db");
    let row = switchboard::store::calls::get_by_sid(&mut conn, &sid)
        .expect("query")
        .expect("call row");
    assert!(row.recording_file.is_some(), "recording not noted: {row:?}");
    let _ = call.stop().await;
}

/// Every `.wav` under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "wav") {
            out.push(path);
        }
    }
    out
}
