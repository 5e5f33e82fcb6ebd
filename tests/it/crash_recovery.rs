//! Crash recovery: the real binary is SIGKILLed mid-call while its
//! PostgreSQL is down (so the latest writes exist only in the spool file);
//! after a restart the spool is replayed and the call is closed as
//! `interrupted`, with every transcript line and tool call the caller saw.

use std::time::Duration;

use switchboard::events::CallEvent;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};
use switchboard::store::{self, spool, CallStatus};

use crate::support::child::{write_config, ChildServer};
use crate::support::private_pg::PrivatePg;
use crate::support::{caller_mulaw, talk_silence_until, ADMIN, CALLER, DIALLED};

/// Transcript and tool-call events seen on a call's live feed.
pub fn seen(feed: &LogFeed) -> (usize, usize) {
    let events = feed.events();
    let transcripts = events
        .iter()
        .filter(|e| matches!(e, CallEvent::Transcript { .. }))
        .count();
    let tools = events
        .iter()
        .filter(|e| matches!(e, CallEvent::ToolCall { .. }))
        .count();
    (transcripts, tools)
}

/// `spool_depth` from `GET /health`.
pub async fn spool_depth(base: &str) -> i64 {
    let mut resp = awc::Client::default()
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    let body: serde_json::Value = resp.json().await.expect("health json");
    body["spool_depth"].as_i64().unwrap_or(-1)
}

#[actix_rt::test]
async fn sigkill_mid_call_then_restart_replays_spool_and_interrupts_the_call() {
    let pg = PrivatePg::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &pg.url(), "");
    let server = ChildServer::spawn(dir.path(), &config, &[]);

    let setup = CallSetup::new(server.media_url())
        .with_parameter("from", CALLER)
        .with_parameter("to", DIALLED);
    let call_sid = setup.call_sid.clone();
    let feed = LogFeed::connect(
        &format!("ws://{}/logs?call_sid={call_sid}", server.addr),
        Some(ADMIN),
    )
    .await
    .expect("feed");
    let mut call = TwilioCall::connect(setup).await.expect("call connects");
    call.stream_mulaw(&caller_mulaw("caller-booking"))
        .await
        .expect("audio");
    talk_silence_until(
        &mut call,
        &feed,
        Duration::from_secs(20),
        |e| matches!(e, CallEvent::Transcript { role, .. } if role == "assistant"),
    )
    .await
    .expect("first answer");

    // The database goes away; the call carries on and its writes are spooled.
    pg.stop();
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("audio");
    let second = talk_silence_until(&mut call, &feed, Duration::from_secs(25), |e| {
        matches!(e, CallEvent::Transcript { role, text, .. }
            if role == "assistant" && text.contains("message"))
    })
    .await;
    assert!(
        second.is_some(),
        "call did not continue: {:?}",
        feed.events()
    );
    let (transcripts, tools) = seen(&feed);
    assert_eq!((transcripts, tools), (4, 1), "{:?}", feed.events());
    let base = format!("http://{}", server.addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while spool_depth(&base).await < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "writes never spooled: {}",
            server.log()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!call.is_closed(), "caller dropped during the outage");

    // Crash mid-call, database back, restart.
    server.kill();
    assert!(spool::depth(&dir.path().join("spool.jsonl")).expect("spool") >= 3);
    pg.resume();
    let server = ChildServer::spawn(dir.path(), &config, &[]);
    assert!(server.log().contains("recovery:"), "{}", server.log());

    let pool = store::connect(&pg.url(), 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    let row = store::calls::get_by_sid(&mut conn, &call_sid)
        .expect("query")
        .expect("call row");
    assert_eq!(row.call_status(), Some(CallStatus::Interrupted));
    assert_eq!(row.ended_reason.as_deref(), Some("interrupted"));
    let stored = store::transcripts::for_call(&mut conn, &row.id).expect("transcript");
    let stored_tools = store::tool_invocations::for_call(&mut conn, &row.id).expect("tools");
    assert_eq!((stored.len(), stored_tools.len()), (transcripts, tools));
    assert_eq!(
        spool::depth(&dir.path().join("spool.jsonl")).expect("spool"),
        0
    );
    drop(server);
}
