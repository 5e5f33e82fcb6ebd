//! Carrier sockets misbehaving at the TCP level, driven by a raw WebSocket client:
//! a carrier that stops reading (the call ends `carrier_slow_consumer` instead of
//! switchboard buffering its audio without bound) and a real TCP RST mid-call
//! (SO_LINGER 0; the call is finalised and released).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use switchboard::call_tree::supervisor::ActiveCalls;
use switchboard::carrier::twilio::wire;
use switchboard::far_end::random_sid;

use crate::support::raw::RawWs;
use crate::support::{caller_mulaw, Db, TestApp, CALLER, DIALLED};

const FRAME_BYTES: usize = 160;

/// Opens `/media-stream` and sends `connected` and `start`; returns the socket,
/// the stream sid and the call sid.
fn start_call(app: &TestApp) -> (RawWs, String, String) {
    let server = app.running.as_ref().expect("running").addr();
    let mut ws = RawWs::connect(server, "/media-stream");
    let stream_sid = random_sid("MZ");
    let call_sid = random_sid("CA");
    let params = vec![
        ("from".to_owned(), CALLER.to_owned()),
        ("to".to_owned(), DIALLED.to_owned()),
    ];
    ws.send_text(&wire::connected_json()).expect("connected");
    ws.send_text(&wire::start_json(
        1,
        &stream_sid,
        "AC00000000000000000000000000000001",
        &call_sid,
        &params,
    ))
    .expect("start");
    (ws, stream_sid, call_sid)
}

/// Writes `audio` as 20 ms media frames at real time, from sequence number `seq`.
fn send_audio(ws: &mut RawWs, stream_sid: &str, seq: &mut u64, audio: &[u8]) -> bool {
    for chunk in audio.chunks(FRAME_BYTES) {
        *seq += 1;
        let payload = base64::engine::general_purpose::STANDARD.encode(chunk);
        let frame = wire::media_frame_json(*seq, stream_sid, *seq - 1, (*seq - 2) * 20, &payload);
        if ws.send_text(&frame).is_err() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

async fn active_calls(app: &TestApp) -> usize {
    let supervisor = app
        .running
        .as_ref()
        .expect("running")
        .state
        .carrier
        .supervisor
        .clone();
    supervisor.send(ActiveCalls).await.expect("supervisor")
}

async fn wait_released(app: &TestApp, baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while active_calls(app).await != baseline {
        assert!(Instant::now() < deadline, "call never released");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn carrier_that_stops_reading_is_ended_as_slow_consumer() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.calls.max_unacked_audio_ms = 1000;
        c.calls.carrier_idle_timeout_secs = 30;
    })
    .await;
    let baseline = active_calls(&app).await;
    let (mut ws, stream_sid, call_sid) = start_call(&app);
    // The caller speaks, then keeps the line open with silence, and never reads
    // (and so never echoes a mark).
    let speech = caller_mulaw("caller-booking");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seq = 1;
            if !send_audio(&mut ws, &stream_sid, &mut seq, &speech) {
                return;
            }
            let silence = [0xffu8; FRAME_BYTES * 5];
            while !stop.load(Ordering::Relaxed)
                && send_audio(&mut ws, &stream_sid, &mut seq, &silence)
            {}
        })
    };
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(30))
        .await;
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert_eq!(
        record["call"]["ended_reason"].as_str(),
        Some("carrier_slow_consumer"),
        "{record}"
    );
    wait_released(&app, baseline).await;
    app.stop().await;
}

#[actix_rt::test]
async fn tcp_reset_mid_call_finalises_and_releases_the_call() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.calls.carrier_idle_timeout_secs = 2).await;
    let baseline = active_calls(&app).await;
    let (mut ws, stream_sid, call_sid) = start_call(&app);
    let mut seq = 1;
    assert!(send_audio(&mut ws, &stream_sid, &mut seq, &[0xff; 3200]));
    assert_eq!(active_calls(&app).await, baseline + 1);
    let reset = Instant::now();
    ws.reset();
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(4)).await;
    assert!(reset.elapsed() < Duration::from_secs(4));
    // No close frame: a reset, however the server noticed the socket go.
    assert_eq!(
        record["call"]["ended_reason"].as_str(),
        Some("carrier_reset"),
        "{record}"
    );
    wait_released(&app, baseline).await;
    app.stop().await;
}
