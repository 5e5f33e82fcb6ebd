//! Erasing one caller (issue 26), on SQLite and PostgreSQL: a caller who
//! called, left a message, booked and texted is erased — through the
//! `switchboard erase` command on SQLite, `DELETE /api/callers/{phone}` on
//! PostgreSQL — and then their number is in no table (PostgreSQL: every row
//! of every table cast to text) and no file (SQLite: the database, its WAL
//! and everything beside them, byte by byte). Another caller's call, message
//! and booking stay, with the erased number replaced where they quoted it;
//! the audit log holds the erasure and its counts, not the number.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{Days, Utc};
use serde_json::Value;
use switchboard::carrier::twilio::signature;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};
use switchboard::store::{appointments, caller_messages, calls, transcripts};

use crate::messaging::{pool, post_sms, sms_form};
use crate::support::scripted::turn_with_tool;
use crate::support::{files_holding, Db, TestApp, ADMIN, CALLER, DIALLED};
use switchboard::tenant::recording::RecordingMode;

const TOKEN: &str = "twilio-test-auth-token";
/// The caller who stays.
const OTHER: &str = "+15550100077";
/// The erased number without its `+`, as a careless copy would hold it.
const DIGITS: &str = "5550100001";

/// Every call's first turn quotes the erased caller's number and takes a
/// message; the second books a cleaning three days ahead.
pub(crate) fn script(dir: &Path) -> std::path::PathBuf {
    let day = Utc::now().date_naive() + Days::new(3);
    let text = format!(
        r#"[[turns]]
user_transcript = "Please call me back at {CALLER} about my crown."

[turns.function_call]
name = "takeMessage"
arguments = {{ callerName = "Dana Smith", message = "The crown came off.", urgency = "normal" }}

[turns.reply]
clip = "fallback.wav"
text = "Done: takeMessage."

[[turns]]
user_transcript = "And book me a cleaning."

[turns.function_call]
name = "createBooking"
arguments = {{ customerName = "Dana Smith", service = "cleaning", dateTime = "{day}T10:00" }}

[turns.reply]
clip = "fallback.wav"
text = "Done: createBooking."

[fallback]
clip = "fallback.wav"
text = "Sorry, could you say that again?"
"#
    );
    let path = dir.join("script.toml");
    std::fs::write(&path, text).expect("script");
    path
}

pub(crate) async fn start(db: Db, script: std::path::PathBuf) -> TestApp {
    TestApp::start_with(db, |c| {
        c.simulator.script = script;
        c.twilio.auth_token = Some(TOKEN.into());
        c.messaging.auto_reply = "Thanks, we got your message.".into();
        c.tenants[0].recording.mode = RecordingMode::All;
    })
    .await
}

/// The call's recording file, once its recorder has closed it (a moment
/// after the call ends).
pub(crate) async fn recording_of(app: &TestApp, call_id: &str) -> std::path::PathBuf {
    let dir = app.recordings_dir();
    for _ in 0..100 {
        let mut conn = pool(app).get().unwrap();
        if let Some(file) = calls::get(&mut conn, call_id)
            .unwrap()
            .unwrap()
            .recording_file
        {
            let path = dir.join(file);
            assert!(path.exists(), "{}", path.display());
            return path;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("call {call_id}: no recording after 10 s");
}

/// A call from `from` through `turns` of the script; its call id.
async fn call_from(app: &TestApp, from: &str, turns: &[&str]) -> String {
    let setup = CallSetup::new(app.media_url())
        .with_parameter("from", from)
        .with_parameter("to", DIALLED);
    // The line has an auth token: Twilio signs the webhook and the stream.
    let setup = app.through_signed_webhook(setup, TOKEN).await;
    let feed = LogFeed::connect(&app.logs_url(&setup.call_sid), Some(ADMIN))
        .await
        .expect("feed");
    let mut call = TwilioCall::connect(setup).await.expect("call");
    let sid = call.call_sid().to_string();
    for tool in turns {
        turn_with_tool(&mut call, &feed, tool).await;
    }
    call.stop().await.expect("hang up");
    let record = app.wait_call_ended(&sid, Duration::from_secs(10)).await;
    record["call"]["id"].as_str().expect("call id").to_string()
}

/// The caller's and another caller's calls, messages, booking and a text.
pub(crate) async fn seed(app: &TestApp) -> (String, String) {
    let erased = call_from(app, CALLER, &["takeMessage", "createBooking"]).await;
    let kept = call_from(app, OTHER, &["takeMessage"]).await;
    for call in [&erased, &kept] {
        recording_of(app, call).await;
    }
    let params = sms_form("SM0123456789abcdef0123456789abcdef", "Is my crown ready?");
    let sig = signature::compute(TOKEN, &app.http_url("/sms/inbound"), &params);
    let (status, body) = post_sms(app, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");
    (erased, kept)
}

/// What stays: the other caller's call, message and transcript (the
/// erased number replaced), the erased caller's call row without numbers,
/// the booked slot, and the audit entry.
fn assert_the_rest_stays(app: &TestApp, erased: &str, kept: &str, recordings: [&Path; 2]) {
    assert!(!recordings[0].exists(), "the erased caller's recording");
    assert!(recordings[1].exists(), "the other caller's recording");
    let mut conn = pool(app).get().unwrap();
    let other = calls::get(&mut conn, kept).unwrap().expect("kept call");
    assert_eq!(other.from_number.as_deref(), Some(OTHER));
    let lines = transcripts::for_call(&mut conn, kept).unwrap();
    let said = lines
        .iter()
        .find(|l| l.role == "user")
        .expect("caller line");
    assert_eq!(said.text, "Please call me back at [erased] about my crown.");
    let messages = caller_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].caller_phone.as_deref(), Some(OTHER));
    let row = calls::get(&mut conn, erased)
        .unwrap()
        .expect("erased call row");
    assert_eq!(row.from_number, None);
    assert_eq!(row.summary, None);
    assert_eq!(row.recording_file, None);
    assert!(row.duration_ms.is_some(), "the call's metadata stays");
    assert!(transcripts::for_call(&mut conn, erased).unwrap().is_empty());
    let day = Utc::now().date_naive();
    let slots = appointments::booked_between(
        &mut conn,
        "acme-dental",
        day.and_hms_opt(0, 0, 0).unwrap(),
        (day + Days::new(5)).and_hms_opt(0, 0, 0).unwrap(),
    )
    .unwrap();
    assert_eq!(slots.len(), 1, "the booked slot keeps its time: {slots:?}");
    assert_eq!(slots[0].call_id, None);
    let audit = switchboard::store::audit::list(&mut conn, Some("acme-dental"), 10, 0)
        .unwrap()
        .0;
    let entry = audit
        .iter()
        .find(|a| a.action == "caller.erase")
        .unwrap_or_else(|| panic!("{audit:?}"));
    assert!(
        entry
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("caller messages 1"),
        "{entry:?}"
    );
}

#[actix_rt::test]
async fn the_erase_command_leaves_no_trace_of_the_number_in_any_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(Db::Sqlite, script(dir.path())).await;
    let (erased, kept) = seed(&app).await;
    let files = [
        recording_of(&app, &erased).await,
        recording_of(&app, &kept).await,
    ];
    assert!(!files_holding(app.dir.path(), DIGITS).is_empty(), "seeded");

    let config = app.cli_config(dir.path(), "");
    let bad = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .args(["erase", "--tenant", "acme-dental", "--phone", "5550100001"])
        .output()
        .expect("run switchboard");
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(said.contains("phone"), "{said}");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&config)
        .args(["erase", "--tenant", "acme-dental", "--phone", CALLER])
        .output()
        .expect("run switchboard");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("erased: calls 1,"), "{printed}");

    assert_the_rest_stays(&app, &erased, &kept, [&files[0], &files[1]]);
    assert_eq!(files_holding(app.dir.path(), DIGITS), Vec::<String>::new());
    app.stop().await;
}

#[actix_rt::test]
async fn the_erase_route_leaves_no_trace_of_the_number_in_any_postgres_table() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(Db::Postgres, script(dir.path())).await;
    let (erased, kept) = seed(&app).await;
    let files = [
        recording_of(&app, &erased).await,
        recording_of(&app, &kept).await,
    ];
    assert!(rows_holding(&app.db_url, DIGITS) > 0, "seeded");

    let erase = |path: &str| {
        let url = app.http_url(path);
        async move {
            let mut resp = awc::Client::default()
                .delete(url)
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("DELETE");
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (resp.status().as_u16(), body)
        }
    };
    // An admin names the tenant; a number that is not E.164 is refused.
    let (status, body) = erase("/api/callers/%2B15550100001").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = erase("/api/callers/5550100001?tenant=acme-dental").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = erase("/api/callers/%2B15550100001?tenant=no-such").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = erase("/api/callers/%2B15550100001?tenant=acme-dental").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["erased"]["calls"], 1, "{body}");
    assert_eq!(body["erased"]["caller_messages"], 1, "{body}");
    assert_eq!(body["erased"]["text_messages"], 2, "{body}");
    assert_eq!(body["erased"]["recordings"], 1, "{body}");

    assert_the_rest_stays(&app, &erased, &kept, [&files[0], &files[1]]);
    assert_eq!(rows_holding(&app.db_url, DIGITS), 0);
    app.stop().await;
}

/// Rows of every table in the test's schema whose text form holds `needle`.
fn rows_holding(db_url: &str, needle: &str) -> i64 {
    use diesel::sql_types::{BigInt, Text};
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        table_name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = diesel::PgConnection::establish(db_url).expect("postgres");
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .load(&mut conn)
    .expect("tables");
    assert!(tables.len() > 10, "the schema's tables");
    tables
        .iter()
        .map(|t| {
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM \"{0}\" AS r WHERE r::text LIKE '%' || $1 || '%'",
                t.table_name
            ))
            .bind::<Text, _>(needle)
            .get_result::<Count>(&mut conn)
            .expect("scan")
            .n
        })
        .sum()
}
