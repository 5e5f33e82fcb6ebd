//! Bad input on the Media Streams socket: malformed JSON, unknown events, invalid
//! base64, oversized frames, media before start, a second start. Each is logged and
//! either ignored or answered with a WebSocket close code and reason; the process
//! never panics and a good call running at the same time is unaffected.

use std::time::Duration;

use switchboard::carrier::twilio::wire;
use switchboard::far_end::{CallSetup, TwilioCall};

use crate::support::{caller_mulaw, is_transcript, talk_silence_until, TestApp};

#[actix_rt::test]
async fn bad_frames_are_refused_and_a_good_call_is_unaffected() {
    let app = TestApp::start().await;
    let (mut good, feed) = app.dial().await;

    // Ignored frames: the stream stays open and keeps working.
    let (mut noisy, _noisy_feed) = app.dial().await;
    for junk in [
        "{not json",
        "[1,2,3]",
        r#"{"event":"transcription","streamSid":"MZ1"}"#,
        r#"{"event":"media","sequenceNumber":"2","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"%%%not-base64%%%"}}"#,
        r#"{"event":"media","sequenceNumber":"3","streamSid":"MZ1","media":{"chunk":7}}"#,
    ] {
        noisy.send_raw(junk).await.expect("send junk");
    }
    noisy.send_silence(200).await.expect("still open");
    assert!(!noisy.is_closed(), "ignorable junk closed the stream");

    // Media before start: closed with 1008 and a reason.
    let setup = CallSetup::new(app.media_url());
    let mut early = connect_raw(&setup).await;
    early
        .send_raw(&wire::media_frame_json(
            1,
            &setup.stream_sid,
            1,
            20,
            "//////////8=",
        ))
        .await
        .expect("send");
    let closed = early
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("closed");
    assert_eq!(closed, (1008, "media before start".to_string()));

    // A second start: closed with 1008.
    let (mut twice, _f) = app.dial().await;
    let s = twice.setup().clone();
    twice
        .send_raw(&wire::start_json(
            99,
            &s.stream_sid,
            &s.account_sid,
            &s.call_sid,
            &[],
        ))
        .await
        .expect("send");
    let closed = twice
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("closed");
    assert_eq!(closed, (1008, "duplicate start".to_string()));

    // An oversized frame (over 64 KiB): closed with 1009 (message too big).
    let (mut big, _f) = app.dial().await;
    let huge = format!(r#"{{"event":"media","payload":"{}"}}"#, "A".repeat(70_000));
    let _ = big.send_raw(&huge).await;
    let closed = big
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("closed");
    assert_eq!(closed.0, 1009, "close: {closed:?}");

    // Meanwhile the good call is served normally.
    good.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("good call audio");
    talk_silence_until(
        &mut good,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("good call answered");
    let (status, health) = app.get_json("/health").await;
    assert_eq!(status, 200, "{health}");
    let (_, metrics) = (0, app.metrics().await);
    let bad: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_carrier_bad_frames_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(bad >= 4.0, "bad frames not counted: {bad}");
    good.stop().await.expect("stop");
    // The noisy stream went quiet after its junk: the idle timeout ended it.
    let closed = noisy
        .wait_closed(Duration::from_secs(10))
        .await
        .expect("idle stream closed");
    assert_eq!(closed, (1001, "idle timeout".to_string()));
    app.stop().await;
}

/// Opens the media stream without the client's automatic `connected`/`start`.
async fn connect_raw(setup: &CallSetup) -> TwilioCall {
    TwilioCall::connect_without_start(setup.clone())
        .await
        .expect("raw connect")
}
