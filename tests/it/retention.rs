//! Retention (issue 26), on SQLite and PostgreSQL with an injected clock:
//! calls, messages and a text stored now are purged by a pass run as of 31
//! days later under `retention_days = 30` — transcripts and voicemail audio
//! and the calls' recordings gone, tool arguments and message bodies
//! `[expired]` — while the call rows
//! keep their metadata and summaries (`retention_days_summary = 60`), and a
//! pass as of 29 days later touches nothing. A tenant without a policy is
//! never touched. On PostgreSQL a pass finds the purge lock held (another
//! node purging) and skips; `switchboard purge --dry-run` previews.

use std::process::Command;

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use switchboard::retention::purge_tenants;
use switchboard::store::retention::{Outcome, Purged, EXPIRED, PURGE_LOCK};
use switchboard::store::{
    caller_messages, calls, schema, text_messages, tool_invocations, transcripts,
};
use switchboard::tenant::TenantConfig;

use crate::erasure::{recording_of, script, seed};
use crate::messaging::pool;
use crate::support::{Db, TestApp};

fn with_policy(app: &TestApp) -> Vec<TenantConfig> {
    let mut acme = app.running.as_ref().unwrap().state.config.tenants[0].clone();
    acme.retention_days = Some(30);
    acme.retention_days_summary = Some(60);
    let mut other = TenantConfig::example();
    other.id = "grok-plumbing".into();
    vec![acme, other]
}

fn purged(outcome: &[(String, Outcome)]) -> Purged {
    assert_eq!(
        outcome.len(),
        1,
        "only the tenant with a policy: {outcome:?}"
    );
    assert_eq!(outcome[0].0, "acme-dental");
    match &outcome[0].1 {
        Outcome::Done(p) => p.clone(),
        Outcome::Busy => panic!("the purge lock was free"),
    }
}

async fn retention_as_of_a_later_clock(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::erasure::start(db, script(dir.path())).await;
    let (first, second) = seed(&app).await;
    let files = [
        recording_of(&app, &first).await,
        recording_of(&app, &second).await,
    ];
    let mut conn = pool(&app).get().unwrap();
    // Summaries as the owner's notifications would have left them.
    for id in [&first, &second] {
        diesel::update(schema::calls::table.find(id))
            .set(schema::calls::summary.eq("Dana Smith left a message."))
            .execute(&mut *conn)
            .unwrap();
    }
    let tenants = with_policy(&app);
    let recordings = app.recordings_dir();
    let now: NaiveDateTime = Utc::now().naive_utc();

    // 29 days on: everything is younger than its cutoff.
    let early = purge_tenants(
        &mut conn,
        &tenants,
        &recordings,
        now + Duration::days(29),
        false,
    )
    .unwrap();
    assert_eq!(purged(&early), Purged::default());
    assert!(files.iter().all(|f| f.exists()), "younger recordings stay");
    // 31 days on: a dry run counts what the pass then removes.
    let later = now + Duration::days(31);
    let preview = purged(&purge_tenants(&mut conn, &tenants, &recordings, later, true).unwrap());
    let done = purged(&purge_tenants(&mut conn, &tenants, &recordings, later, false).unwrap());
    assert_eq!(preview, done);
    assert!(done.transcript_lines >= 4, "{done:?}");
    assert_eq!(done.tool_calls, 3, "{done:?}");
    assert_eq!(done.caller_messages, 2, "{done:?}");
    assert_eq!(done.text_messages, 2, "{done:?}");
    assert_eq!(done.recordings, 2, "{done:?}");
    for file in &files {
        assert!(!file.exists(), "{} expired", file.display());
    }
    assert_eq!(done.summaries, 0, "summaries are kept 60 days: {done:?}");

    for id in [&first, &second] {
        assert!(transcripts::for_call(&mut conn, id).unwrap().is_empty());
        let call = calls::get(&mut conn, id)
            .unwrap()
            .expect("the call row stays");
        assert!(call.duration_ms.is_some() && call.from_number.is_some());
        assert_eq!(call.summary.as_deref(), Some("Dana Smith left a message."));
        assert_eq!(call.recording_file, None);
        assert_eq!(call.recording_file, None);
        for tool in tool_invocations::for_call(&mut conn, id).unwrap() {
            assert_eq!(tool.arguments, EXPIRED);
            assert_eq!(tool.result, None);
        }
    }
    for m in caller_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap() {
        assert_eq!(m.message, EXPIRED);
    }
    for m in text_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap() {
        assert_eq!(m.body, EXPIRED);
    }
    // A second pass has nothing left; 61 days on, the summaries go.
    let again = purged(&purge_tenants(&mut conn, &tenants, &recordings, later, false).unwrap());
    assert_eq!(again, Purged::default());
    let summaries = purged(
        &purge_tenants(
            &mut conn,
            &tenants,
            &recordings,
            now + Duration::days(61),
            false,
        )
        .unwrap(),
    );
    assert_eq!(summaries.summaries, 2, "{summaries:?}");
    assert_eq!(
        calls::get(&mut conn, &first).unwrap().unwrap().summary,
        None
    );
    drop(conn);
    app.stop().await;
}

#[actix_rt::test]
async fn retention_purges_only_what_is_past_its_cutoff_on_sqlite() {
    retention_as_of_a_later_clock(Db::Sqlite).await;
}

#[actix_rt::test]
async fn retention_purges_only_what_is_past_its_cutoff_on_postgres() {
    retention_as_of_a_later_clock(Db::Postgres).await;
}

#[actix_rt::test]
async fn a_node_finding_the_purge_lock_taken_skips_the_pass() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::erasure::start(Db::Postgres, script(dir.path())).await;
    let tenants = with_policy(&app);
    let recordings = app.recordings_dir();
    let later = Utc::now().naive_utc() + Duration::days(31);
    // Another node's purge holds the lock (session-level here, as long as
    // this connection lives).
    let mut other_node = pool(&app).get().unwrap();
    diesel::sql_query(format!("SELECT pg_advisory_lock({PURGE_LOCK})"))
        .execute(&mut other_node)
        .unwrap();
    let mut conn = pool(&app).get().unwrap();
    let skipped = purge_tenants(&mut conn, &tenants, &recordings, later, false).unwrap();
    assert_eq!(skipped, vec![("acme-dental".to_string(), Outcome::Busy)]);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({PURGE_LOCK})"))
        .execute(&mut other_node)
        .unwrap();
    let ran = purge_tenants(&mut conn, &tenants, &recordings, later, false).unwrap();
    assert!(matches!(ran[0].1, Outcome::Done(_)), "{ran:?}");
    drop((conn, other_node));
    app.stop().await;
}

#[actix_rt::test]
async fn the_purge_command_previews_and_then_purges() {
    let dir = tempfile::tempdir().unwrap();
    let app = crate::erasure::start(Db::Sqlite, script(dir.path())).await;
    seed(&app).await;
    // Zero days: everything stored before now is past its cutoff.
    let config = app.cli_config(
        dir.path(),
        "\n[[tenants]]\nid = \"acme-dental\"\nname = \"Acme Dental\"\n\
         phone_numbers = [\"+15550100000\"]\nretention_days = 0\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--config")
            .arg(&config)
            .arg("purge")
            .args(args)
            .output()
            .expect("run switchboard");
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{printed}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed
    };
    let preview = run(&["--dry-run"]);
    assert!(
        preview.contains("acme-dental: would purge transcript lines ")
            && preview.contains("caller messages 2,"),
        "{preview}"
    );
    let mut conn = pool(&app).get().unwrap();
    let before = caller_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap();
    assert_ne!(before[0].message, EXPIRED, "a dry run changes nothing");
    let done = run(&[]);
    assert!(
        done.contains("acme-dental: purged transcript lines "),
        "{done}"
    );
    assert!(done.contains("caller messages 2,"), "{done}");
    assert!(done.contains("recordings 2,"), "{done}");
    for m in caller_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap() {
        assert_eq!(m.message, EXPIRED);
    }
    drop(conn);
    app.stop().await;
}
