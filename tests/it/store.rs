//! Store scenarios, each run against a fresh SQLite file and a fresh
//! PostgreSQL schema: migrations, the write-behind `Store` actor, call
//! lifecycle, crash recovery and the appointment slot race.

use crate::support::{db, Db, TestApp};

use std::sync::{Arc, Barrier};
use std::time::Duration;

use actix::Actor;
use chrono::{NaiveDate, NaiveDateTime, Utc};
use switchboard::store::{
    self, appointments, calls, customers, tool_invocations, transcripts, AppointmentRow,
    CallStatus, Flush, NewCall, Pool, RecordCallEnded, RecordCallRefused, RecordCallStarted,
    RecordToolInvocation, RecordTranscript, Stats, Store, StoreError,
};

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2025, 3, 14)
        .and_then(|d| d.and_hms_milli_opt(h, m, 0, 0))
        .unwrap()
}

fn migrated_pool(url: &str) -> Pool {
    let pool = store::connect(url, 4).unwrap();
    store::run_migrations(&pool).unwrap();
    pool
}

fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs each scenario once per backend: `<scenario>::sqlite` and
/// `<scenario>::postgres`.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                super::$scenario(&super::db::sqlite_url(dir.path()), "sqlite");
            }

            #[test]
            fn postgres() {
                let schema = super::db::PgSchema::new();
                super::$scenario(schema.url(), "postgres");
            }
        }
    )*};
}

on_both_backends!(
    migrations_apply_once_and_rerun_as_no_op,
    store_actor_persists_call_transcript_and_tools_in_order,
    call_ended_records_duration_reason_and_restarts,
    rejected_write_is_discarded_and_later_writes_commit,
    failed_batch_is_kept_and_retried_after_outage,
    booked_slot_conflicts_until_cancelled,
    racing_bookings_of_one_slot_have_one_winner,
    close_in_progress_interrupts_live_calls_only,
    restart_and_sweep_close_only_their_nodes_calls,
    outage_writes_are_spooled_and_replayed_exactly_once,
    racing_session_edits_all_count_and_outlive_the_process,
);

fn migrations_apply_once_and_rerun_as_no_op(url: &str, backend: &str) {
    let pool = store::connect(url, 2).unwrap();
    assert_eq!(store::backend_name(&pool), backend);
    let first = store::run_migrations(&pool).unwrap();
    assert_eq!(
        first,
        vec![
            "20251121000000".to_owned(),
            "20251122000004".to_owned(),
            "20251123000011".to_owned(),
            "20251127000016".to_owned(),
            "20251128000017".to_owned(),
            "20251128000018".to_owned(),
            "20261204000019".to_owned(),
            "20261204000020".to_owned(),
            "20261204000021".to_owned(),
            "20261204000022".to_owned(),
            "20261205000023".to_owned(),
            "20261205000024".to_owned(),
        ]
    );
    let second = store::run_migrations(&pool).unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    let mut conn = pool.get().unwrap();
    assert!(calls::list_recent(&mut conn, None, 10).unwrap().is_empty());
}

fn started(call_id: &str, sid: &str, started_at: NaiveDateTime) -> RecordCallStarted {
    RecordCallStarted {
        call_id: call_id.to_owned(),
        tenant_id: Some("acme".to_owned()),
        carrier: "twilio".to_owned(),
        carrier_call_sid: Some(sid.to_owned()),
        stream_sid: Some(format!("MZ{sid}")),
        from_number: Some("+15551230001".to_owned()),
        to_number: Some("+15559870002".to_owned()),
        model_provider: Some("simulator".to_owned()),
        started_at,
    }
}

fn transcript(call_id: &str, seq: i32, role: &str, text: &str) -> RecordTranscript {
    RecordTranscript {
        id: id(),
        call_id: call_id.to_owned(),
        seq,
        role: role.to_owned(),
        text: text.to_owned(),
        item_id: Some(format!("item_{seq}")),
        interrupted: role == "assistant" && seq == 1,
        created_at: at(9, 0) + chrono::Duration::seconds(i64::from(seq)),
        offset_ms: Some(i64::from(seq) * 1000),
    }
}

fn store_actor_persists_call_transcript_and_tools_in_order(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let call_id = id();
    actix::System::new().block_on({
        let pool = pool.clone();
        let call_id = call_id.clone();
        async move {
            let store = Store::new(pool).start();
            // The call row and its transcript arrive in one burst; the
            // transcript's foreign key only holds if order is preserved.
            store.do_send(started(&call_id, "CA100", at(9, 0)));
            store.do_send(transcript(&call_id, 0, "user", "Hi, I'd like a haircut."));
            store.do_send(transcript(&call_id, 1, "assistant", "Sure, when would"));
            store.do_send(RecordToolInvocation {
                id: id(),
                call_id: Some(call_id.clone()),
                tenant_id: Some("acme".to_owned()),
                tool_call_id: "call_abc".to_owned(),
                name: "check_availability".to_owned(),
                arguments: r#"{"day":"2025-03-15"}"#.to_owned(),
                result: Some(r#"{"slots":["10:00"]}"#.to_owned()),
                error: None,
                duration_ms: 42,
                created_at: at(9, 1),
            });
            store.do_send(transcript(&call_id, 2, "user", "Tomorrow at ten."));
            store.do_send(RecordCallRefused {
                call_id: id(),
                tenant_id: Some("acme".to_owned()),
                carrier: "twilio".to_owned(),
                carrier_call_sid: Some("CA101".to_owned()),
                stream_sid: None,
                from_number: None,
                to_number: None,
                model_provider: None,
                started_at: at(9, 2),
                reason: "max_calls".to_owned(),
            });
            store.send(Flush).await.unwrap().unwrap();
            let stats = store.send(Stats).await.unwrap();
            assert_eq!((stats.pending, stats.in_flight), (0, 0));
            assert_eq!(stats.writes_written, 6);
            assert_eq!(stats.failures, 0);
        }
    });

    let mut conn = pool.get().unwrap();
    let call = calls::get(&mut conn, &call_id).unwrap().unwrap();
    assert_eq!(call.call_status(), Some(CallStatus::InProgress));
    assert_eq!(call.carrier_call_sid.as_deref(), Some("CA100"));
    assert_eq!(call.started_at, at(9, 0));
    let entries = transcripts::for_call(&mut conn, &call_id).unwrap();
    let said: Vec<(i32, &str, &str, bool)> = entries
        .iter()
        .map(|e| (e.seq, e.role.as_str(), e.text.as_str(), e.interrupted))
        .collect();
    assert_eq!(
        said,
        vec![
            (0, "user", "Hi, I'd like a haircut.", false),
            (1, "assistant", "Sure, when would", true),
            (2, "user", "Tomorrow at ten.", false),
        ]
    );
    let tools = tool_invocations::for_call(&mut conn, &call_id).unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "check_availability");
    assert_eq!(tools[0].result.as_deref(), Some(r#"{"slots":["10:00"]}"#));
    assert_eq!(tools[0].duration_ms, 42);
    let refused = calls::get_by_sid(&mut conn, "CA101").unwrap().unwrap();
    assert_eq!(refused.call_status(), Some(CallStatus::Refused));
    assert_eq!(refused.ended_reason.as_deref(), Some("max_calls"));
}

fn call_ended_records_duration_reason_and_restarts(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let call_id = id();
    actix::System::new().block_on({
        let pool = pool.clone();
        let call_id = call_id.clone();
        async move {
            let store = Store::new(pool).start();
            store.do_send(started(&call_id, "CA200", at(10, 0)));
            store.send(Flush).await.unwrap().unwrap();
            store.do_send(RecordCallEnded {
                call_id: call_id.clone(),
                end: calls::CallEnd {
                    ended_at: at(10, 3),
                    duration_ms: 180_250,
                    reason: "caller_hangup".to_owned(),
                    status: CallStatus::Completed,
                    link_restarts: 2,
                    turn_latency_p50_ms: Some(420),
                    turn_latency_max_ms: Some(610),
                    answered_by: Some("machine_end_beep".to_owned()),
                },
            });
            // Without a Flush the write lands on the 50 ms tick.
            let mut waited = Duration::ZERO;
            while store.send(Stats).await.unwrap().writes_written < 2 {
                assert!(waited < Duration::from_secs(5), "call end never written");
                actix_rt::time::sleep(Duration::from_millis(10)).await;
                waited += Duration::from_millis(10);
            }
        }
    });
    let mut conn = pool.get().unwrap();
    let call = calls::get_by_sid(&mut conn, "CA200").unwrap().unwrap();
    assert_eq!(call.call_status(), Some(CallStatus::Completed));
    assert_eq!(call.ended_at, Some(at(10, 3)));
    assert_eq!(call.duration_ms, Some(180_250));
    assert_eq!(call.ended_reason.as_deref(), Some("caller_hangup"));
    assert_eq!(call.link_restarts, 2);
    assert_eq!(call.answered_by.as_deref(), Some("machine_end_beep"));
    // A verdict that comes after the call ended is written by carrier call id.
    assert_eq!(
        calls::set_answered_by(&mut conn, "CA200", "human").unwrap(),
        1
    );
    assert_eq!(
        calls::set_answered_by(&mut conn, "CA-none", "human").unwrap(),
        0
    );
    let call = calls::get_by_sid(&mut conn, "CA200").unwrap().unwrap();
    assert_eq!(call.answered_by.as_deref(), Some("human"));
}

fn rejected_write_is_discarded_and_later_writes_commit(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let call_id = id();
    actix::System::new().block_on({
        let pool = pool.clone();
        let call_id = call_id.clone();
        async move {
            let store = Store::new(pool).start();
            store.do_send(started(&call_id, "CA300", at(11, 0)));
            // No such call: the foreign key rejects this entry for good.
            store.do_send(transcript("no-such-call", 0, "user", "lost"));
            store.do_send(transcript(&call_id, 0, "user", "kept"));
            let flushed = store.send(Flush).await.unwrap();
            assert!(
                matches!(flushed, Err(StoreError::BatchFailed(_))),
                "{flushed:?}"
            );
            store.send(Flush).await.unwrap().unwrap();
            let stats = store.send(Stats).await.unwrap();
            assert_eq!(
                (stats.dropped, stats.writes_written, stats.pending),
                (1, 2, 0)
            );
        }
    });
    let mut conn = pool.get().unwrap();
    let kept = transcripts::for_call(&mut conn, &call_id).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].text, "kept");
}

fn failed_batch_is_kept_and_retried_after_outage(url: &str, _backend: &str) {
    use diesel::connection::SimpleConnection;
    let pool = migrated_pool(url);
    let call_id = id();
    actix::System::new().block_on({
        let pool = pool.clone();
        let call_id = call_id.clone();
        async move {
            let store = Store::new(pool.clone()).start();
            store.do_send(started(&call_id, "CA400", at(12, 0)));
            store.send(Flush).await.unwrap().unwrap();
            // Outage of one table: every write to it fails, for now.
            let hide = "ALTER TABLE transcript_entries RENAME TO transcript_entries_away";
            pool.get().unwrap().batch_execute(hide).unwrap();
            for seq in 0..3 {
                store.do_send(transcript(&call_id, seq, "user", &format!("line {seq}")));
            }
            let flushed = store.send(Flush).await.unwrap();
            assert!(
                matches!(flushed, Err(StoreError::BatchFailed(_))),
                "{flushed:?}"
            );
            let during = store.send(Stats).await.unwrap();
            assert_eq!(during.pending + during.in_flight, 3);
            assert!(during.failures >= 1);

            let restore = "ALTER TABLE transcript_entries_away RENAME TO transcript_entries";
            pool.get().unwrap().batch_execute(restore).unwrap();
            store.send(Flush).await.unwrap().unwrap();
            let after = store.send(Stats).await.unwrap();
            assert_eq!(
                (after.pending, after.dropped, after.writes_written),
                (0, 0, 4)
            );
        }
    });
    let mut conn = pool.get().unwrap();
    let lines: Vec<String> = transcripts::for_call(&mut conn, &call_id)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(lines, vec!["line 0", "line 1", "line 2"]);
}

fn booking(tenant: &str, customer_id: &str, starts_at: NaiveDateTime) -> AppointmentRow {
    AppointmentRow {
        id: id(),
        tenant_id: tenant.to_owned(),
        customer_id: customer_id.to_owned(),
        service: "haircut".to_owned(),
        starts_at,
        ends_at: starts_at + chrono::Duration::minutes(30),
        status: "booked".to_owned(),
        call_id: None,
        created_at: Utc::now().naive_utc(),
        calendar_href: None,
        calendar_etag: None,
    }
}

fn customer(pool: &Pool, tenant: &str, phone: &str) -> String {
    let mut conn = pool.get().unwrap();
    let now = Utc::now().naive_utc();
    customers::upsert_by_phone(&mut conn, tenant, phone, Some("Ada"), None, now)
        .unwrap()
        .id
}

fn booked_slot_conflicts_until_cancelled(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let ada = customer(&pool, "acme", "+15551230001");
    let bob = customer(&pool, "acme", "+15551230002");
    let mut conn = pool.get().unwrap();
    let first = booking("acme", &ada, at(14, 0));
    appointments::insert(&mut conn, &first).unwrap();

    let second = appointments::insert(&mut conn, &booking("acme", &bob, at(14, 0)));
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    // Another tenant's identical slot is independent.
    let other = customer(&pool, "globex", "+15551230001");
    appointments::insert(&mut conn, &booking("globex", &other, at(14, 0))).unwrap();

    assert!(appointments::cancel(&mut conn, "acme", &first.id).unwrap());
    assert!(!appointments::cancel(&mut conn, "acme", &first.id).unwrap());
    let rebooked = booking("acme", &bob, at(14, 0));
    appointments::insert(&mut conn, &rebooked).unwrap();

    let day = appointments::booked_between(&mut conn, "acme", at(0, 0), at(23, 59)).unwrap();
    let ids: Vec<&str> = day.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, vec![rebooked.id.as_str()]);
}

fn racing_bookings_of_one_slot_have_one_winner(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let ada = customer(&pool, "acme", "+15551230001");
    let bob = customer(&pool, "acme", "+15551230002");
    for slot in 0..5 {
        let starts_at = at(9 + slot, 30);
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [ada.clone(), bob.clone()]
            .into_iter()
            .map(|customer_id| {
                let pool = pool.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    let row = booking("acme", &customer_id, starts_at);
                    barrier.wait();
                    appointments::insert(&mut conn, &row)
                })
            })
            .collect();
        let results: Vec<Result<(), StoreError>> =
            racers.into_iter().map(|r| r.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "slot {slot}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Conflict(_)))),
            "slot {slot}: loser must see Conflict: {results:?}"
        );
        let mut conn = pool.get().unwrap();
        let booked = appointments::booked_between(
            &mut conn,
            "acme",
            starts_at,
            starts_at + chrono::Duration::minutes(1),
        )
        .unwrap();
        assert_eq!(booked.len(), 1);
    }
}

fn close_in_progress_interrupts_live_calls_only(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let mut conn = pool.get().unwrap();
    let new_call = |id: &str, status: CallStatus| NewCall {
        id: id.to_owned(),
        tenant_id: None,
        carrier: "twilio".to_owned(),
        carrier_call_sid: Some(format!("CA{id}")),
        stream_sid: None,
        from_number: None,
        to_number: None,
        status: status.as_str().to_owned(),
        model_provider: None,
        started_at: at(8, 0),
        ended_at: None,
        duration_ms: None,
        ended_reason: None,
        link_restarts: 0,
        node_id: None,
    };
    calls::insert_started(&mut conn, &new_call("live1", CallStatus::InProgress)).unwrap();
    calls::insert_started(&mut conn, &new_call("live2", CallStatus::InProgress)).unwrap();
    calls::insert_started(&mut conn, &new_call("done", CallStatus::InProgress)).unwrap();
    let end = calls::CallEnd {
        ended_at: at(8, 5),
        duration_ms: 300_000,
        reason: "caller_hangup".into(),
        status: CallStatus::Completed,
        link_restarts: 0,
        turn_latency_p50_ms: None,
        turn_latency_max_ms: None,
        answered_by: None,
    };
    calls::mark_ended(&mut conn, "done", &end).unwrap();

    assert_eq!(
        calls::close_in_progress(&mut conn, "process_restart", None).unwrap(),
        2
    );
    assert_eq!(
        calls::close_in_progress(&mut conn, "process_restart", None).unwrap(),
        0
    );

    for id in ["live1", "live2"] {
        let call = calls::get(&mut conn, id).unwrap().unwrap();
        assert_eq!(call.call_status(), Some(CallStatus::Interrupted), "{id}");
        assert_eq!(call.ended_reason.as_deref(), Some("process_restart"));
        assert!(call.ended_at.is_some() && call.duration_ms.unwrap_or(-1) > 0);
    }
    let done = calls::get(&mut conn, "done").unwrap().unwrap();
    assert_eq!(done.call_status(), Some(CallStatus::Completed));
    assert_eq!(done.ended_reason.as_deref(), Some("caller_hangup"));
    assert_eq!(calls::list_recent(&mut conn, None, 2).unwrap().len(), 2);
}

/// While a table is unusable, batches go to the spool file (fsynced,
/// counted as settled, so `Flush` answers `Ok`), later writes follow them
/// there, and once the database is back the spool is replayed in order and
/// emptied. Replaying the same spool again adds no duplicates.
fn outage_writes_are_spooled_and_replayed_exactly_once(url: &str, _backend: &str) {
    use diesel::connection::SimpleConnection;
    use switchboard::store::spool;
    let pool = migrated_pool(url);
    let dir = tempfile::tempdir().unwrap();
    let spool_path = dir.path().join("spool.jsonl");
    let call_id = id();
    let saved = actix::System::new().block_on({
        let pool = pool.clone();
        let call_id = call_id.clone();
        let spool_path = spool_path.clone();
        async move {
            let store = Store::new(pool.clone())
                .with_spool(spool_path.clone(), 0, Duration::from_millis(100))
                .start();
            let hide = "ALTER TABLE transcript_entries RENAME TO transcript_entries_away";
            pool.get().unwrap().batch_execute(hide).unwrap();
            store.do_send(started(&call_id, "CA700", at(13, 0)));
            for seq in 0..3 {
                store.do_send(transcript(&call_id, seq, "user", &format!("line {seq}")));
            }
            store.send(Flush).await.unwrap().unwrap();
            // Written while the spool is not empty: follows it, keeps order.
            store.do_send(RecordCallEnded {
                call_id: call_id.clone(),
                end: calls::CallEnd {
                    ended_at: at(13, 2),
                    duration_ms: 120_000,
                    reason: "caller_hangup".to_owned(),
                    status: CallStatus::Completed,
                    link_restarts: 0,
                    turn_latency_p50_ms: None,
                    turn_latency_max_ms: None,
                    answered_by: None,
                },
            });
            store.send(Flush).await.unwrap().unwrap();
            let during = store.send(Stats).await.unwrap();
            assert_eq!((during.spooled, during.pending), (5, 0), "{during:?}");
            assert_eq!(spool::depth(&spool_path).unwrap(), 5);
            let saved = std::fs::read(&spool_path).unwrap();

            let restore = "ALTER TABLE transcript_entries_away RENAME TO transcript_entries";
            pool.get().unwrap().batch_execute(restore).unwrap();
            let mut waited = Duration::ZERO;
            loop {
                let stats = store.send(Stats).await.unwrap();
                if stats.spooled == 0 {
                    assert_eq!(stats.replayed, 5, "{stats:?}");
                    break;
                }
                assert!(
                    waited < Duration::from_secs(10),
                    "spool never replayed: {stats:?}"
                );
                actix_rt::time::sleep(Duration::from_millis(50)).await;
                waited += Duration::from_millis(50);
            }
            saved
        }
    });
    assert_eq!(spool::depth(&spool_path).unwrap(), 0);
    // A second replay of the same lines (say, a crash before the file was
    // emptied) changes nothing.
    std::fs::write(&spool_path, &saved).unwrap();
    let again = spool::replay(&pool, &spool_path, Duration::from_secs(1)).unwrap();
    assert_eq!((again.applied, again.rejected), (5, 0));
    let mut conn = pool.get().unwrap();
    let lines: Vec<String> = transcripts::for_call(&mut conn, &call_id)
        .unwrap()
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert_eq!(lines, ["line 0", "line 1", "line 2"]);
    let call = calls::get(&mut conn, &call_id).unwrap().unwrap();
    assert_eq!(call.call_status(), Some(CallStatus::Completed));
    assert_eq!(call.ended_reason.as_deref(), Some("caller_hangup"));
}

/// A PostgreSQL TestApp removes its schema when dropped: after a passing test,
/// and when the test panics with the app alive.
#[actix_rt::test]
async fn test_app_drops_its_postgres_schema_also_on_panic() {
    let app = TestApp::start_with(Db::Postgres, |_| {}).await;
    let name = app.pg.as_ref().map(|s| s.name().to_owned()).unwrap();
    assert!(db::pg_schema_exists(&name));
    app.stop().await;
    assert!(
        !db::pg_schema_exists(&name),
        "{name} left behind after stop"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let failing = actix_rt::spawn(async move {
        let app = TestApp::start_with(Db::Postgres, |_| {}).await;
        tx.send(app.pg.as_ref().map(|s| s.name().to_owned()).unwrap())
            .unwrap();
        panic!("a failing test, with its TestApp alive");
    });
    assert!(failing.await.is_err(), "the task panicked");
    let name = rx.recv().unwrap();
    assert!(
        !db::pg_schema_exists(&name),
        "{name} left behind by a panic"
    );
}

/// A restarted node closes only its own calls; a sweep closes only the calls
/// of nodes that are not alive (and calls with no node).
fn restart_and_sweep_close_only_their_nodes_calls(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    let mut conn = pool.get().unwrap();
    for (id, node) in [
        ("a1", Some("node-a")),
        ("a2", Some("node-a")),
        ("b1", Some("node-b")),
        ("c1", Some("node-c")),
        ("x1", None),
    ] {
        let call = NewCall {
            id: id.to_owned(),
            tenant_id: None,
            carrier: "twilio".to_owned(),
            carrier_call_sid: None,
            stream_sid: None,
            from_number: None,
            to_number: None,
            status: CallStatus::InProgress.as_str().to_owned(),
            model_provider: None,
            started_at: at(8, 0),
            ended_at: None,
            duration_ms: None,
            ended_reason: None,
            link_restarts: 0,
            node_id: node.map(str::to_owned),
        };
        calls::insert_started(&mut conn, &call).unwrap();
    }
    assert_eq!(
        calls::close_in_progress(&mut conn, "interrupted", Some("node-a")).unwrap(),
        2
    );
    let status = |conn: &mut store::DbConnection, id: &str| {
        calls::get(conn, id).unwrap().unwrap().call_status()
    };
    assert_eq!(status(&mut conn, "b1"), Some(CallStatus::InProgress));
    let alive = vec!["node-b".to_owned()];
    let mut closed = calls::close_orphaned(&mut conn, "interrupted", &alive).unwrap();
    closed.sort();
    assert_eq!(closed, vec!["c1".to_owned(), "x1".to_owned()]);
    assert_eq!(status(&mut conn, "b1"), Some(CallStatus::InProgress));
    assert_eq!(status(&mut conn, "c1"), Some(CallStatus::Interrupted));
    let row = calls::get(&mut conn, "c1").unwrap().unwrap();
    assert_eq!(row.node_id.as_deref(), Some("node-c"));
    assert!(calls::close_orphaned(&mut conn, "interrupted", &alive)
        .unwrap()
        .is_empty());
}

/// Tenant `acme` as start-up upserts it, named `name`.
fn tenant_row(name: &str) -> store::TenantRow {
    store::TenantRow {
        id: "acme".into(),
        name: name.into(),
        config_json: "{}".into(),
        updated_at: Utc::now().naive_utc(),
    }
}

/// Four edits of one tenant's session settings race (as four nodes'
/// `PUT /api/tenants/{id}/session` would; one pooled connection each): each
/// is applied to the one before, none is lost, and the version counts them.
/// A tenant that is not there gets `None`.
fn racing_session_edits_all_count_and_outlive_the_process(url: &str, _backend: &str) {
    let pool = migrated_pool(url);
    {
        let mut conn = pool.get().unwrap();
        store::tenants::upsert(&mut conn, &tenant_row("Acme")).unwrap();
        assert_eq!(store::tenants::sessions(&mut conn).unwrap(), vec![]);
    }
    let barrier = Arc::new(Barrier::new(4));
    let racers: Vec<_> = (0..4)
        .map(|i| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                barrier.wait();
                store::tenants::edit_session(&mut conn, "acme", |held| {
                    format!("{}{i}", held.unwrap_or(""))
                })
            })
        })
        .collect();
    for racer in racers {
        let edited = racer.join().unwrap().expect("edit committed");
        assert!(edited.is_some());
    }
    let mut conn = pool.get().unwrap();
    let stored = store::tenants::sessions(&mut conn).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].version, 4, "{stored:?}");
    let mut digits: Vec<char> = stored[0].json.chars().collect();
    digits.sort_unstable();
    assert_eq!(digits.into_iter().collect::<String>(), "0123");
    // Start-up upserts the configured tenants again: the edits stay.
    store::tenants::upsert(&mut conn, &tenant_row("Acme Dental")).unwrap();
    assert_eq!(store::tenants::sessions(&mut conn).unwrap(), stored);
    assert_eq!(
        store::tenants::edit_session(&mut conn, "nobody", |_| "{}".into()).unwrap(),
        None
    );
}
