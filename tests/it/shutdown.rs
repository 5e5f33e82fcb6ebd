//! Graceful shutdown with calls in progress: while draining,
//! `/health` answers 503 and new calls are refused; calls in progress keep
//! running up to the drain timeout, then hear the apology and end with
//! reason `shutdown`; every row is written before shutdown returns.

use std::time::{Duration, Instant};

use switchboard::far_end::TwilioCall;
use switchboard::store::{self, CallStatus};

use crate::support::TestApp;

/// Keeps a call talking (100 ms of silence at a time) until it is closed.
async fn talk_until_closed(call: &mut TwilioCall, limit: Duration) -> Duration {
    let start = Instant::now();
    while !call.is_closed() && start.elapsed() < limit {
        let _ = call.send_silence(100).await;
    }
    start.elapsed()
}

#[actix_rt::test]
async fn drain_refuses_new_calls_then_apologises_and_flushes() {
    let mut app = TestApp::start().await;
    let (mut first, _f1) = app.dial().await;
    let (mut second, _f2) = app.dial().await;
    first.send_silence(300).await.expect("audio");
    second.send_silence(300).await.expect("audio");
    let sids = [first.call_sid().to_string(), second.call_sid().to_string()];
    let new_setup = app.call_setup();
    let health = app.http_url("/health");

    let running = app.running.take().expect("running");
    let pool = running.state.pool.clone();
    let drain = Duration::from_secs(2);
    let began = Instant::now();
    let shutdown = actix_rt::spawn(running.shutdown(drain));
    actix_rt::time::sleep(Duration::from_millis(300)).await;

    let mut resp = awc::Client::default()
        .get(&health)
        .send()
        .await
        .expect("health");
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["status"], "draining");
    assert!(
        TwilioCall::connect(new_setup).await.is_err(),
        "a new call was admitted while draining"
    );

    let before_apology = (first.received_audio().len(), second.received_audio().len());
    let (a, b) = tokio::join!(
        talk_until_closed(&mut first, Duration::from_secs(20)),
        talk_until_closed(&mut second, Duration::from_secs(20))
    );
    assert!(first.is_closed() && second.is_closed(), "calls not ended");
    // The calls ran through the drain window, then ended.
    assert!(
        a.min(b) + Duration::from_millis(300) >= drain,
        "{a:?} {b:?}"
    );
    // The apology clip (about a second of speech, 8000 µ-law bytes/s) was heard.
    assert!(first.received_audio().len() >= before_apology.0 + 4000);
    assert!(second.received_audio().len() >= before_apology.1 + 4000);
    shutdown.await.expect("shutdown task");
    assert!(began.elapsed() >= drain);

    let mut conn = pool.get().expect("conn");
    for sid in &sids {
        let row = store::calls::get_by_sid(&mut conn, sid)
            .expect("query")
            .expect("row written before exit");
        assert_eq!(row.ended_reason.as_deref(), Some("shutdown"), "{sid}");
        assert_ne!(row.call_status(), Some(CallStatus::InProgress));
    }
}
