//! Admission: past `calls.max_calls` a new stream is refused with a clear close
//! (1013, try again later) and a `refused` call row; the calls in progress are
//! unaffected.

use std::time::Duration;

use crate::support::{caller_mulaw, is_transcript, talk_silence_until, Db, TestApp};

#[actix_rt::test]
async fn call_past_max_calls_is_refused_with_1013_and_a_row() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.calls.max_calls = 1).await;
    let (mut first, feed) = app.dial().await;
    first.send_silence(200).await.expect("first call streams");

    let (second, _feed2) = app.dial().await;
    let closed = second
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("refused");
    assert_eq!(closed.0, 1013, "close: {closed:?}");
    assert!(closed.1.contains("capacity"), "reason: {closed:?}");
    let record = app
        .wait_call_ended(second.call_sid(), Duration::from_secs(5))
        .await;
    assert_eq!(record["call"]["status"], "refused");
    assert_eq!(record["call"]["ended_reason"], "refused_capacity");

    // The admitted call is still served.
    first
        .stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("audio");
    talk_silence_until(
        &mut first,
        &feed,
        Duration::from_secs(20),
        is_transcript("assistant"),
    )
    .await
    .expect("first call answered");
    first.stop().await.expect("stop");
    app.stop().await;
}

/// `calls.max_calls_per_tenant` on a single node: the tenant's next call is
/// refused (`refused_tenant_capacity`) though the node has room, and the slot
/// is reused once a call ends.
#[actix_rt::test]
async fn call_past_the_tenant_cap_is_refused_and_the_slot_comes_back() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.calls.max_calls_per_tenant = Some(1)).await;
    let (mut first, _feed) = app.dial().await;
    first.send_silence(200).await.expect("first call streams");

    let (second, _feed2) = app.dial().await;
    let closed = second
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("refused");
    assert_eq!(closed.0, 1013, "close: {closed:?}");
    assert!(closed.1.contains("tenant"), "reason: {closed:?}");
    let record = app
        .wait_call_ended(second.call_sid(), Duration::from_secs(5))
        .await;
    assert_eq!(record["call"]["ended_reason"], "refused_tenant_capacity");

    first.stop().await.expect("stop");
    app.wait_call_ended(first.call_sid(), Duration::from_secs(5))
        .await;
    let (mut third, _feed3) = app.dial().await;
    third.send_silence(200).await.expect("third call streams");
    assert!(
        third
            .wait_closed(Duration::from_millis(800))
            .await
            .is_none(),
        "the freed slot was not reused"
    );
    third.stop().await.expect("stop");
    app.stop().await;
}
