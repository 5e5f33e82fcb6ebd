//! `switchboard loadtest` machinery in CI: a handful of calls for a few seconds
//! through switchboard and through the floor relay, asserting correctness only
//! (every call completed, no frame lost or out of order, turns answered and
//! their latency recorded on the call rows and in /metrics) — never timing.

use std::time::Duration;

use switchboard::loadtest::{self, model::StampingModel, Options};

use crate::support::{Db, TestApp, DIALLED};

const CALLS: u32 = 4;

#[actix_rt::test]
async fn loadtest_smoke_completes_every_call_without_losing_frames() {
    let model = StampingModel::start("127.0.0.1:0", 1).expect("stamping model starts");
    let model_url = model.url();
    let app = TestApp::start_with(Db::Sqlite, |c| c.model.url = model_url).await;

    let mut opts = Options::new(app.media_url());
    opts.calls = CALLS;
    opts.duration = Duration::from_secs(3);
    opts.ramp = Duration::from_millis(400);
    opts.speech = Duration::from_millis(400);
    opts.silence = Duration::from_millis(1200);
    opts.settle = Duration::ZERO;
    opts.custom_parameters = vec![("to".into(), DIALLED.into())];
    opts.floor_exe = Some(env!("CARGO_BIN_EXE_switchboard").into());
    opts.floor_workers = 1;
    let report = loadtest::run(&opts, Some(&model), "smoke".into())
        .await
        .expect("load test runs");
    let table = report.table();

    assert_eq!(report.runs.len(), 2, "switchboard and floor runs\n{table}");
    for run in &report.runs {
        assert!(run.is_clean(), "{} run not clean\n{table}", run.target);
        assert_eq!(run.completed, u64::from(CALLS), "{table}");
        let c2m = run.carrier_to_model.as_ref().expect("c→m measured");
        let m2c = run.model_to_carrier.as_ref().expect("m→c measured");
        // 3.2 s of caller audio per call (two 1.6 s cycles), 1 s reply per turn.
        assert_eq!(c2m.frames_sent, u64::from(CALLS) * 160, "{table}");
        assert_eq!(c2m.frames_received, c2m.frames_sent, "{table}");
        assert_eq!(run.turns, u64::from(CALLS) * 2, "{table}");
        assert_eq!(m2c.frames_sent, run.turns * 50, "{table}");
        assert_eq!(m2c.frames_received, m2c.frames_sent, "{table}");
        assert_eq!(run.first_audio.count, u64::from(CALLS), "{table}");
    }
    // switchboard marks every chunk and the caller echoes each after play-out.
    let sb = &report.runs[0];
    assert_eq!(sb.marks_echoed, sb.turns * 50, "{table}");

    // Turn latency (speech_stopped → first assistant frame to the carrier) is on
    // every call row and in the /metrics histogram, one sample per turn.
    let (_, calls) = app.get_json("/api/calls").await;
    let rows = calls.as_array().expect("call list");
    assert_eq!(rows.len(), CALLS as usize, "{calls}");
    for row in rows {
        let p50 = row["turn_latency_p50_ms"].as_i64().expect("p50 recorded");
        let max = row["turn_latency_max_ms"].as_i64().expect("max recorded");
        assert!(p50 <= max, "{row}");
    }
    let metrics = awc::Client::default()
        .get(app.http_url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .body()
        .await
        .expect("metrics body");
    let metrics = String::from_utf8_lossy(&metrics);
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_turn_latency_seconds_count "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert_eq!(count, Some(sb.turns), "{metrics}");

    model.stop().await;
    app.stop().await;
}
