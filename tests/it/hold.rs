//! No dead air: while a call's model link is down, the caller hears the hold
//! clip after `calls.hold_after_ms` of silence, repeated until the model
//! speaks again — and never on top of the model's audio.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use switchboard::audio::clip::Clip;
use switchboard::audio::format::AudioFormat;
use switchboard::far_end::twilio_call::{longest_silence, Outbound};

use crate::support::{caller_mulaw, is_transcript, talk_silence_until, Db, TestApp};

/// The shipped hold clip's µ-law chunks, as switchboard sends them.
fn hold_chunks() -> HashSet<Vec<u8>> {
    let clip = Clip::from_wav(include_bytes!("../../assets/audio/hold.wav")).expect("hold clip");
    clip.chunks(AudioFormat::Pcmu)
        .iter()
        .map(|c| {
            base64::engine::general_purpose::STANDARD
                .decode(c.payload.as_bytes())
                .expect("base64")
        })
        .collect()
}

fn at(frame: &Outbound) -> Instant {
    match frame {
        Outbound::Media { at, .. } | Outbound::Clear { at } => *at,
    }
}

#[actix_rt::test]
async fn a_ten_second_model_outage_is_filled_with_hold_audio_that_never_overlaps_the_model() {
    let hold_after = Duration::from_millis(700);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.calls.hold_after_ms = 700;
        c.model.restart_attempts = 10;
    })
    .await;
    let (mut call, feed) = app.dial().await;
    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("turn 1");
    talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("first reply");

    // The provider is gone for ten seconds: sockets dropped, connects refused.
    app.sim().set_refuse_connections(true);
    app.sim().kill_sessions();
    let killed = Instant::now();
    while killed.elapsed() < Duration::from_secs(10) {
        call.send_silence(100).await.expect("line open");
    }
    app.sim().set_refuse_connections(false);

    // The model comes back and speaks first: its audio is not hold audio.
    let hold = hold_chunks();
    let deadline = Instant::now() + Duration::from_secs(20);
    let resumed_at = loop {
        let resumed = call.timeline().iter().find_map(|f| match f {
            Outbound::Media { at, audio } if *at > killed && !hold.contains(audio) => Some(*at),
            _ => None,
        });
        if let Some(at) = resumed {
            break at;
        }
        assert!(Instant::now() < deadline, "the model never spoke again");
        call.send_silence(100).await.expect("line open");
    };
    call.send_silence(2000).await.expect("line open");
    assert!(!call.is_closed(), "the caller was dropped");

    let timeline = call.timeline();
    let gap = longest_silence(&timeline, killed, resumed_at);
    if std::env::var("HOLD_DEBUG").is_ok() {
        for f in &timeline {
            let t = at(f);
            let rel = if t >= killed {
                (t - killed).as_millis() as i64
            } else {
                -((killed - t).as_millis() as i64)
            };
            match f {
                Outbound::Media { audio, .. } => {
                    eprintln!("{rel} media {} {}", audio.len(), hold.contains(audio))
                }
                Outbound::Clear { .. } => eprintln!("{rel} clear"),
            }
        }
    }
    assert!(
        gap <= hold_after + Duration::from_millis(300),
        "{} ms of dead air during the outage",
        gap.as_millis()
    );
    let is_hold = |f: &Outbound| matches!(f, Outbound::Media { audio, .. } if hold.contains(audio));
    let hold_frames = timeline
        .iter()
        .filter(|f| is_hold(f) && at(f) > killed && at(f) < resumed_at)
        .count();
    eprintln!(
        "hold: longest silence {} ms; {hold_frames} hold frames; model back after {} ms",
        gap.as_millis(),
        (resumed_at - killed).as_millis()
    );
    // Ten seconds and more of outage: the 1.8 s clip went round several times.
    assert!(hold_frames >= 50, "{hold_frames} hold frames");
    assert!(
        !timeline.iter().any(|f| is_hold(f) && at(f) < killed),
        "hold audio played while the model was up"
    );
    assert!(
        !timeline.iter().any(|f| is_hold(f) && at(f) >= resumed_at),
        "hold audio played after the model spoke again"
    );
    // Whatever hold audio was still queued at the phone was cleared first.
    assert!(
        timeline
            .iter()
            .any(|f| matches!(f, Outbound::Clear { at } if *at > killed && *at <= resumed_at)),
        "no clear before the model's audio"
    );
    // The new link was told why it speaks first.
    let sessions = app.sim().recorded_sessions();
    let last = sessions.last().expect("a session after the outage");
    assert!(
        last.iter().any(|e| e["type"] == "conversation.item.create"
            && e["item"]["role"] == "system"
            && e["item"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("hold music"))),
        "no resume note in the new session"
    );
    assert!(last.iter().any(|e| e["type"] == "response.create"));
    app.stop().await;
}
