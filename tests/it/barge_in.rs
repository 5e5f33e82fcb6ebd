//! Barge-in: the caller talks over the receptionist. switchboard clears the
//! carrier's buffer, truncates the model's item at what the caller heard (from
//! Twilio `mark` echoes, not wall-clock guesses), and stores the cut transcript.

use std::time::Duration;

use switchboard::events::CallEvent;

use crate::support::{caller_mulaw, is_transcript, talk_silence_until, TestApp};

const FULL_REPLY: &str = "Happy to help with that. Let me check what is open on Tuesday morning.";
/// Length of assets/sim/booking.wav, ms.
const REPLY_MS: u64 = 3640;

#[actix_rt::test]
async fn barge_in_truncates_at_heard_ms() {
    let app = TestApp::start().await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("turn 1");
    // Wait until the caller has heard ~1 s of the reply (10 marks of 100 ms echoed).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while call.marks_echoed() < 10 && std::time::Instant::now() < deadline {
        call.send_silence(20).await.expect("silence");
    }
    assert!(call.marks_echoed() >= 10, "reply did not play");
    let heard_before = call.marks_echoed() as u64 * 100;

    // The caller talks over the rest of the reply.
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("barge in");
    assert!(call.clears() >= 1, "no clear sent to the carrier");

    let truncate = app
        .model_client_events()
        .into_iter()
        .find(|e| e["type"] == "conversation.item.truncate")
        .expect("conversation.item.truncate sent");
    let end_ms = truncate["audio_end_ms"]
        .as_u64()
        .expect("integer audio_end_ms");
    assert_eq!(truncate["content_index"], 0);
    assert!(
        end_ms >= heard_before,
        "truncated at {end_ms} ms, caller had heard {heard_before} ms"
    );
    assert!(
        end_ms < REPLY_MS,
        "truncated at {end_ms} ms of a {REPLY_MS} ms reply"
    );
    assert_eq!(
        end_ms % 100,
        0,
        "audio_end_ms {end_ms} is not on a mark boundary"
    );

    let cut = talk_silence_until(&mut call, &feed, Duration::from_secs(10), |e| {
        matches!(e, CallEvent::Transcript { role, interrupted: true, .. } if role == "assistant")
    })
    .await;
    let Some(CallEvent::Transcript { text, .. }) = cut else {
        panic!("no interrupted assistant line; events: {:?}", feed.events());
    };
    assert!(
        FULL_REPLY.starts_with(&text),
        "{text:?} is not a prefix of the reply"
    );
    assert!(
        text.len() < FULL_REPLY.len(),
        "transcript was not cut: {text:?}"
    );

    // The conversation goes on after the interruption.
    talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        is_transcript("assistant")(e)
            && matches!(
                e,
                CallEvent::Transcript {
                    interrupted: false,
                    ..
                }
            )
    })
    .await
    .expect("reply after barge-in");
    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let stored = record["transcript"]
        .as_array()
        .expect("transcript")
        .iter()
        .find(|l| l["interrupted"] == true)
        .cloned()
        .expect("interrupted line stored");
    assert_eq!(stored["text"], text.as_str());
    app.stop().await;
}
