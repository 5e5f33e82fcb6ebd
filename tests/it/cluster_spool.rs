//! PostgreSQL outages in a cluster, through the real binary on a private
//! PostgreSQL (stopped and started by the test) and the machine's NATS:
//! each node names the outage's cause in a few lines (one WARN when it
//! begins, one INFO with the writes replayed when it ends), and the writes a
//! node could not commit outlive that node — they wait in the cluster's
//! JetStream spool and a surviving node replays them, each exactly once.

use std::path::Path;
use std::time::{Duration, Instant};

use switchboard::events::CallEvent;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};
use switchboard::store::{self, CallStatus};

use crate::crash_recovery::seen;
use crate::support::child::{write_config, ChildServer};
use crate::support::private_pg::PrivatePg;
use crate::support::{caller_mulaw, talk_silence_until, ADMIN, CALLER, DIALLED};

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// A node of cluster `cluster` on `db_url`, in its own folder, with `env`.
fn node(dir: &Path, db_url: &str, cluster: &str, id: &str, env: &[(&str, &str)]) -> ChildServer {
    let config = write_config(dir, db_url, "");
    let mut all = vec![
        ("SWITCHBOARD_CLUSTER__NATS_URL", NATS_URL),
        ("SWITCHBOARD_CLUSTER__NAME", cluster),
        ("SWITCHBOARD_CLUSTER__NODE_ID", id),
        ("SWITCHBOARD_CLUSTER__LEASE_SECS", "3"),
        ("SWITCHBOARD_CLUSTER__HEARTBEAT_SECS", "1"),
        ("SWITCHBOARD_CALLS__CARRIER_IDLE_TIMEOUT_SECS", "60"),
    ];
    all.extend_from_slice(env);
    ChildServer::spawn(dir, &config, &all)
}

fn cluster_name() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// A call on `server` with its live feed.
async fn dial(server: &ChildServer) -> (TwilioCall, LogFeed, String) {
    let setup = CallSetup::new(server.media_url())
        .with_parameter("from", CALLER)
        .with_parameter("to", DIALLED);
    let sid = setup.call_sid.clone();
    let feed = LogFeed::connect(
        &format!("ws://{}/logs?call_sid={sid}", server.addr),
        Some(ADMIN),
    )
    .await
    .expect("feed");
    let call = TwilioCall::connect(setup).await.expect("call connects");
    (call, feed, sid)
}

fn assistant_lines(feed: &LogFeed) -> usize {
    feed.events()
        .iter()
        .filter(|e| matches!(e, CallEvent::Transcript { role, .. } if role == "assistant"))
        .count()
}

/// One caller turn (`clip`), until the assistant's answer is transcribed.
async fn turn(call: &mut TwilioCall, feed: &LogFeed, clip: &str) {
    let before = assistant_lines(feed);
    call.stream_mulaw(&caller_mulaw(clip)).await.expect("audio");
    let answered = talk_silence_until(call, feed, Duration::from_secs(30), |_| {
        assistant_lines(feed) > before
    })
    .await;
    assert!(
        answered.is_some(),
        "no answer to {clip}: {:?}",
        feed.events()
    );
}

/// `/health` of `server` as JSON.
async fn health(server: &ChildServer) -> serde_json::Value {
    let mut resp = awc::Client::default()
        .get(server.http_url("/health"))
        .send()
        .await
        .expect("health");
    resp.json().await.expect("health json")
}

/// Waits until `probe` holds, or panics with `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut probe: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !probe() {
        assert!(Instant::now() < deadline, "{what}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lines of `log` after its first `from` bytes that speak of the
/// database: every WARN or ERROR line, and any naming PostgreSQL, the pool or
/// the spool — but a call's own events (`call <id>: …`, such as a tool that
/// could not book while the database was away), which are one per call.
fn outage_lines(log: &str, from: usize) -> Vec<String> {
    log[from..]
        .lines()
        .filter(|l| {
            let message = l.split_once("] ").map_or(*l, |(_, m)| m);
            !message.starts_with("call ")
        })
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            l.contains(" WARN ")
                || l.contains(" ERROR ")
                || lower.contains("postgres")
                || lower.contains("r2d2")
                || lower.contains("spool")
                || lower.contains("database")
        })
        .map(str::to_string)
        .collect()
}

#[actix_rt::test]
async fn a_ten_second_outage_under_calls_is_logged_in_three_lines_per_node_naming_the_cause() {
    let pg = PrivatePg::start();
    let cluster = cluster_name();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let nodes = [
        node(dirs[0].path(), &pg.url(), &cluster, "sb-a", &[]),
        node(dirs[1].path(), &pg.url(), &cluster, "sb-b", &[]),
    ];
    let mut calls = Vec::new();
    for server in &nodes {
        let (mut call, feed, sid) = dial(server).await;
        turn(&mut call, &feed, "caller-booking").await;
        calls.push((call, feed, sid));
    }
    let marks: Vec<usize> = nodes.iter().map(|n| n.log().len()).collect();

    pg.stop();
    let down = Instant::now();
    for (call, feed, _) in &mut calls {
        turn(call, feed, "caller-message").await;
    }
    // Calls end during the outage too.
    for (call, _, _) in &mut calls {
        call.stop().await.expect("hang up");
    }
    for server in &nodes {
        let (server, started) = (server, Instant::now());
        while health(server).await["spool_depth"].as_i64().unwrap_or(0) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "nothing spooled:\n{}",
                server.log()
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let left = Duration::from_secs(10).saturating_sub(down.elapsed());
    actix_rt::time::sleep(left).await;
    pg.resume();

    for server in &nodes {
        wait_until(
            &format!("the outage never ended:\n{}", server.log()),
            // Generous: a loaded CI machine retries the pool slowly.
            Duration::from_secs(60),
            || server.log().contains("reachable again"),
        )
        .await;
    }
    for (server, mark) in nodes.iter().zip(&marks) {
        let log = server.log();
        let lines = outage_lines(&log, *mark);
        assert!(
            lines.len() <= 3,
            "{} lines about the outage:\n{}",
            lines.len(),
            lines.join("\n")
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("unreachable: connection refused")),
            "the cause is not named:\n{}",
            lines.join("\n")
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("reachable again;") && l.contains("replayed")),
            "no line for the end:\n{}",
            lines.join("\n")
        );
        assert!(
            !log.to_ascii_lowercase().contains("invalid connection url"),
            "{log}"
        );
    }
    // And every write of those calls is in the database.
    let pool = store::connect(&pg.url(), 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    for (_, feed, sid) in &calls {
        let row = store::calls::get_by_sid(&mut conn, sid)
            .expect("query")
            .expect("call row");
        assert_eq!(row.call_status(), Some(CallStatus::Completed), "{sid}");
        let (transcripts, _) = seen(feed);
        let stored = store::transcripts::for_call(&mut conn, &row.id).expect("transcript");
        assert_eq!(stored.len(), transcripts, "{sid}");
    }
}

/// A simulator script whose first turn books a cleaning three days ahead
/// and whose second takes a message.
fn booking_script(dir: &Path) -> std::path::PathBuf {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let day = chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Days::new(3);
    let text = format!(
        r#"[[turns]]
user_transcript = "I would like to book a cleaning."
function_call = {{ name = "createBooking", arguments = {{ customerName = "Dana Smith", customerPhone = "{CALLER}", service = "cleaning", dateTime = "{day}T10:00" }} }}

[turns.reply]
clip = "booking-confirmed.wav"
text = "You are all set. I have noted your request, and the office will confirm by text."

[[turns]]
user_transcript = "Could you take a message for Doctor Lee?"
function_call = {{ name = "takeMessage", arguments = {{ callerName = "Dana Smith", callerPhone = "{CALLER}", message = "Please call back this afternoon.", urgency = "normal" }} }}

[turns.reply]
clip = "message-taken.wav"
text = "I have taken your message, and Doctor Lee will call you back this afternoon."

[fallback]
clip = "fallback.wav"
text = "Sorry, could you say that again?"
"#
    );
    let path = dir.join("script.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Rows of `table` whose `call_id` is `call_id`.
fn count_for_call(db_url: &str, table: &str, call_id: &str) -> i64 {
    use diesel::sql_types::{BigInt, Text};
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = diesel::PgConnection::establish(db_url).unwrap();
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {table} WHERE call_id = $1"
    ))
    .bind::<Text, _>(call_id)
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n
}

#[actix_rt::test]
async fn a_node_lost_for_good_during_an_outage_loses_nothing_a_survivor_replays_its_writes() {
    let pg = PrivatePg::start();
    let cluster = cluster_name();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let script = booking_script(dir_a.path());
    let script = script.to_str().unwrap();
    let env = [("SWITCHBOARD_SIMULATOR__SCRIPT", script)];
    let a = node(dir_a.path(), &pg.url(), &cluster, "sb-a", &env);
    let b = node(dir_b.path(), &pg.url(), &cluster, "sb-b", &env);

    // A call on B books and takes a message while the database is up.
    let (mut ended, ended_feed, ended_sid) = dial(&b).await;
    turn(&mut ended, &ended_feed, "caller-booking").await;
    turn(&mut ended, &ended_feed, "caller-message").await;

    // The database goes away: that call talks on and ends, another starts.
    pg.stop();
    turn(&mut ended, &ended_feed, "caller-booking").await;
    ended.stop().await.expect("hang up");
    let (mut open, _open_feed, open_sid) = dial(&b).await;
    open.send_silence(500).await.expect("silence");
    // Wait until B's writer is idle and its spool has stopped growing.
    let started = Instant::now();
    let (mut depth, mut steady_since) = (0, Instant::now());
    loop {
        let h = health(&b).await;
        let now = h["spool_depth"].as_i64().unwrap_or(0);
        if now != depth || h["store_pending"] != 0 {
            (depth, steady_since) = (now, Instant::now());
        } else if depth >= 3 && steady_since.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "B's writes not spooled: {h}\n{}",
            b.log()
        );
        open.send_silence(100).await.expect("silence");
    }
    // They went to the cluster's spool, not B's file.
    let file = dir_b.path().join("spool.jsonl");
    assert_eq!(store::spool::depth(&file).unwrap(), 0, "{}", b.log());

    // B's machine is gone for good: killed, its spool file deleted.
    b.kill();
    let _ = std::fs::remove_file(&file);
    drop(open);
    pg.resume();

    let url = pg.url();
    let (transcripts, tools) = seen(&ended_feed);
    let pool = store::connect(&url, 1).expect("pool");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (ended_row, open_row) = loop {
        let mut conn = pool.get().expect("conn");
        let ended_row = store::calls::get_by_sid(&mut conn, &ended_sid).expect("query");
        let open_row = store::calls::get_by_sid(&mut conn, &open_sid).expect("query");
        if let (Some(e), Some(o)) = (ended_row, open_row) {
            let stored = store::transcripts::for_call(&mut conn, &e.id).expect("transcript");
            if e.ended_at.is_some() && o.ended_at.is_some() && stored.len() >= transcripts {
                break (e, o);
            }
        }
        assert!(
            Instant::now() < deadline,
            "B's writes not replayed by A:\n{}",
            a.log()
        );
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    };
    let mut conn = pool.get().expect("conn");
    assert_eq!(
        ended_row.call_status(),
        Some(CallStatus::Completed),
        "{ended_row:?}"
    );
    assert_eq!(
        open_row.call_status(),
        Some(CallStatus::Interrupted),
        "{open_row:?}"
    );
    let stored = store::transcripts::for_call(&mut conn, &ended_row.id).expect("transcript");
    let stored_tools = store::tool_invocations::for_call(&mut conn, &ended_row.id).expect("tools");
    assert_eq!((stored.len(), stored_tools.len()), (transcripts, tools));
    assert_eq!(tools, 2, "{:?}", ended_feed.events());
    assert_eq!(count_for_call(&url, "caller_messages", &ended_row.id), 1);
    assert_eq!(count_for_call(&url, "appointments", &ended_row.id), 1);
    assert!(a.log().contains("reachable again;"), "{}", a.log());
}

/// A node SIGKILLed mid-call during an outage, its spool file gone, and
/// restarted (same id) alone once PostgreSQL is back: at start it replays the
/// cluster spool before closing its previous run's calls, so the call whose
/// row was only in the spool ends `interrupted` instead of staying open.
#[actix_rt::test]
async fn a_node_restarted_alone_replays_the_cluster_spool_then_closes_its_old_calls() {
    let pg = PrivatePg::start();
    let cluster = cluster_name();
    let dir = tempfile::tempdir().unwrap();
    let b = node(dir.path(), &pg.url(), &cluster, "sb-b", &[]);
    pg.stop();
    let (mut call, _feed, sid) = dial(&b).await;
    let started = Instant::now();
    loop {
        let h = health(&b).await;
        if h["store_pending"] == 0 && h["spool_depth"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{h}\n{}",
            b.log()
        );
        call.send_silence(100).await.expect("silence");
    }
    let file = dir.path().join("spool.jsonl");
    assert_eq!(store::spool::depth(&file).unwrap(), 0, "{}", b.log());
    b.kill();
    drop(call);
    pg.resume();

    let b = node(dir.path(), &pg.url(), &cluster, "sb-b", &[]);
    let pool = store::connect(&pg.url(), 1).expect("pool");
    let mut conn = pool.get().expect("conn");
    let row = store::calls::get_by_sid(&mut conn, &sid)
        .expect("query")
        .unwrap_or_else(|| panic!("the call's row was not replayed:\n{}", b.log()));
    assert_eq!(
        row.call_status(),
        Some(CallStatus::Interrupted),
        "{row:?}\n{}",
        b.log()
    );
}
