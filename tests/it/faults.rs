//! Faults survived over real sockets: the database stopped for 30 s
//! during 20 live calls, the model server killed and restarted during 20 live
//! calls, and a carrier socket torn down without `stop`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer};
use futures_util::future::join_all;
use switchboard::call_tree::supervisor::ActiveCalls;
use switchboard::events::CallEvent;
use switchboard::model::simulator::{Script, Simulator};
use switchboard::store::{self, CallStatus};

use crate::crash_recovery::{seen, spool_depth};
use crate::support::private_pg::PrivatePg;
use crate::support::{asset, caller_mulaw, talk_silence_until, Db, TestApp};

/// Calls placed at once in the fault scenarios.
const CALLS: usize = 20;

/// One caller: books, leaves a message (a tool call), hangs up. Returns the
/// call sid and the transcript and tool-call events the caller's feed saw.
async fn booking_and_message_call(app: &TestApp, start: Duration) -> (String, usize, usize) {
    actix_rt::time::sleep(start).await;
    let (mut call, feed) = app.dial().await;
    let sid = call.call_sid().to_string();
    for (clip, said) in [("caller-booking", "Tuesday"), ("caller-message", "message")] {
        call.stream_mulaw(&caller_mulaw(clip)).await.expect("audio");
        talk_silence_until(&mut call, &feed, Duration::from_secs(40), |e| {
            matches!(e, CallEvent::Transcript { role, text, .. }
                if role == "assistant" && text.contains(said))
        })
        .await
        .unwrap_or_else(|| panic!("{sid}: no answer to {clip}: {:?}", feed.events()));
    }
    call.stop().await.expect("stop");
    feed.wait_for(
        |e| matches!(e, CallEvent::CallEnded { .. }),
        Duration::from_secs(10),
    )
    .await;
    let (transcripts, tools) = seen(&feed);
    (sid, transcripts, tools)
}

#[actix_rt::test]
async fn postgres_down_30s_during_20_calls_loses_nothing() {
    let pg = PrivatePg::start();
    let url = pg.url();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.database.url = url.clone();
        c.database.spool_replay_secs = 1;
        c.calls.max_calls = 100;
    })
    .await;
    let calls = join_all(
        (0..CALLS).map(|i| booking_and_message_call(&app, Duration::from_millis(100 * i as u64))),
    );
    let outage = async {
        actix_rt::time::sleep(Duration::from_secs(3)).await;
        let down = Instant::now();
        pg.stop();
        actix_rt::time::sleep(Duration::from_secs(30)).await;
        pg.resume();
        down.elapsed()
    };
    let (results, outage) = tokio::join!(calls, outage);
    assert!(outage >= Duration::from_secs(30));

    let base = app.http_url("");
    let base = base.trim_end_matches('/');
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool_depth(base).await != 0 {
        assert!(Instant::now() < deadline, "spool never drained");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let running = app.running.as_ref().expect("running");
    running
        .state
        .store
        .send(store::Flush)
        .await
        .expect("store")
        .expect("flush");
    let stats = running.state.store.send(store::Stats).await.expect("stats");
    assert!(stats.spooled_total > 0, "nothing was spooled: {stats:?}");
    assert_eq!(stats.dropped, 0, "{stats:?}");

    let pool = store::connect(&url, 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    for (sid, transcripts, tools) in &results {
        let row = store::calls::get_by_sid(&mut conn, sid)
            .expect("query")
            .unwrap_or_else(|| panic!("call {sid} lost"));
        assert_eq!(row.call_status(), Some(CallStatus::Completed), "{sid}");
        assert_eq!(row.ended_reason.as_deref(), Some("caller_hangup"));
        let stored = store::transcripts::for_call(&mut conn, &row.id).expect("t");
        let stored_tools = store::tool_invocations::for_call(&mut conn, &row.id).expect("tools");
        assert_eq!(
            (stored.len(), stored_tools.len()),
            (*transcripts, *tools),
            "{sid}"
        );
        assert_eq!((*transcripts, *tools), (4, 1), "{sid}");
    }
    app.stop().await;
}

/// A stand-alone simulator server on `addr` (port 0: any), as a separate
/// model endpoint that can be killed and started again on the same port.
fn model_server(addr: SocketAddr) -> (actix_web::dev::ServerHandle, SocketAddr) {
    let script = Script::load(&asset("assets/sim/script.toml")).expect("script");
    let sim = Simulator::new(script, &asset("assets/sim"), 2.0).expect("simulator");
    let server = HttpServer::new(move || {
        let sim = sim.clone();
        App::new().configure(move |cfg| sim.configure(cfg))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .bind(addr)
    .expect("bind model server");
    let bound = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (handle, bound)
}

#[actix_rt::test]
async fn model_server_killed_and_restarted_during_20_calls() {
    let (model, addr) = model_server("127.0.0.1:0".parse().expect("addr"));
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.model.url = format!("ws://{addr}/sim/v1/realtime");
        c.model.restart_attempts = 8;
        c.calls.max_calls = 100;
    })
    .await;
    let app_ref = &app;
    let calls = join_all((0..CALLS).map(|i| async move {
        let app = app_ref;
        actix_rt::time::sleep(Duration::from_millis(20 * i as u64)).await;
        let (mut call, feed) = app.dial().await;
        let sid = call.call_sid().to_string();
        // Keep the line open across the model outage, then talk.
        call.send_silence(4000).await.expect("silence");
        call.stream_mulaw(&caller_mulaw("caller-booking"))
            .await
            .expect("audio");
        talk_silence_until(
            &mut call,
            &feed,
            Duration::from_secs(30),
            |e| matches!(e, CallEvent::Transcript { role, .. } if role == "assistant"),
        )
        .await
        .unwrap_or_else(|| panic!("{sid}: no answer after restart: {:?}", feed.events()));
        assert!(!call.is_closed(), "{sid}: caller dropped");
        call.stop().await.expect("stop");
        call.wait_closed(Duration::from_secs(10)).await;
        sid
    }));
    let supervisor = app
        .running
        .as_ref()
        .expect("running")
        .state
        .carrier
        .supervisor
        .clone();
    let outage = async {
        // Every call is live (and its model link up) before the model dies.
        while supervisor.send(ActiveCalls).await.expect("supervisor") < CALLS {
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        model.stop(false).await;
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        model_server(addr).0
    };
    let (sids, restarted) = tokio::join!(calls, outage);
    for sid in &sids {
        let record = app.wait_call_ended(sid, Duration::from_secs(10)).await;
        assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
        assert!(
            record["call"]["link_restarts"].as_i64().unwrap_or(0) >= 1,
            "{sid}: restart not recorded: {record}"
        );
    }
    app.stop().await;
    restarted.stop(false).await;
}

#[actix_rt::test]
async fn carrier_socket_torn_down_finalises_call_and_releases_resources() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.calls.carrier_idle_timeout_secs = 2).await;
    let supervisor = app
        .running
        .as_ref()
        .expect("running")
        .state
        .carrier
        .supervisor
        .clone();
    let baseline = supervisor.send(ActiveCalls).await.expect("supervisor");
    let (mut call, _feed) = app.dial().await;
    let sid = call.call_sid().to_string();
    call.send_silence(400).await.expect("audio");
    assert_eq!(
        supervisor.send(ActiveCalls).await.expect("sup"),
        baseline + 1
    );
    let torn = Instant::now();
    call.close_abruptly().await;
    let record = app.wait_call_ended(&sid, Duration::from_secs(4)).await;
    assert!(torn.elapsed() < Duration::from_secs(4));
    // No close frame: a reset, however the server noticed the socket go.
    assert_eq!(
        record["call"]["ended_reason"].as_str(),
        Some("carrier_reset"),
        "{record}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while supervisor.send(ActiveCalls).await.expect("sup") != baseline {
        assert!(Instant::now() < deadline, "call never released");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}
