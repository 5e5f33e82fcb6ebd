//! Operator actions against a local actix-web server standing in for the Twilio
//! REST API (exact requests asserted: path, Basic auth, form fields), and session
//! settings pushed to new and live calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use serde_json::{json, Value};

use switchboard::carrier::twilio::twiml;
use switchboard::far_end::{CallSetup, TwilioCall};

use crate::support::{Db, TestApp, ADMIN, CALLER, DIALLED};

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const AUTH_TOKEN: &str = "twilio-test-token";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: String,
    form: Vec<(String, String)>,
}

/// A fake Twilio REST API: records every POST, answers `{"sid": …}` (CA… for calls,
/// RE… for recordings).
struct FakeTwilio {
    seen: Arc<Mutex<Vec<Seen>>>,
    base: String,
    server: actix_web::dev::ServerHandle,
}

impl FakeTwilio {
    async fn start() -> FakeTwilio {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let data = web::Data::new(seen.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).default_service(web::to(
                |req: HttpRequest, body: web::Bytes, seen: web::Data<Arc<Mutex<Vec<Seen>>>>| async move {
                    let path = req.path().to_string();
                    seen.lock().expect("lock").push(Seen {
                        path: path.clone(),
                        authorization: req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string(),
                        form: serde_urlencoded::from_bytes(&body).expect("form body"),
                    });
                    let sid = if path.contains("/Recordings") { "RE0000000000000000000000000000000a" } else { "CA0000000000000000000000000000000b" };
                    HttpResponse::Created().json(json!({"sid": sid, "status": "queued"}))
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        FakeTwilio {
            seen,
            base,
            server: handle,
        }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.form
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{AUTH_TOKEN}"))
    )
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let mut resp = awc::Client::default()
        .post(app.http_url(path))
        .bearer_auth(ADMIN)
        .send_json(&body)
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn app_with_twilio(twilio: &FakeTwilio) -> TestApp {
    let base = twilio.base.clone();
    TestApp::start_with(Db::Sqlite, move |c| {
        c.twilio.api_base = base;
        c.twilio.account_sid = ACCOUNT.into();
        c.twilio.auth_token = Some(AUTH_TOKEN.into());
    })
    .await
}

/// Plays Twilio at the answer of an outbound call: posts the voice webhook to
/// the `Url` the call was created with (`Direction=outbound-api`: `From` is the
/// tenant's number, `To` the customer), signed as Twilio signs it; the TwiML.
async fn answered_webhook(url: &str, call_sid: &str) -> String {
    let form: Vec<(String, String)> = [
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT),
        ("From", DIALLED),
        ("To", CALLER),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = switchboard::carrier::twilio::signature::compute(AUTH_TOKEN, url, &form);
    let mut resp = awc::Client::default()
        .post(url)
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .insert_header(("X-Twilio-Signature", signature))
        .send_body(serde_urlencoded::to_string(&form).expect("form"))
        .await
        .expect("POST the call's Url");
    assert_eq!(resp.status().as_u16(), 200);
    String::from_utf8_lossy(&resp.body().await.expect("TwiML")).into_owned()
}

#[actix_rt::test]
async fn outbound_call_is_prewarmed_at_its_answer_and_streams_back() {
    let twilio = FakeTwilio::start().await;
    let base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, move |c| {
        c.twilio.api_base = base;
        c.twilio.account_sid = ACCOUNT.into();
        c.twilio.auth_token = Some(AUTH_TOKEN.into());
        c.calls.greet_caller = true;
    })
    .await;
    let (status, body) = post(
        &app,
        "/api/calls",
        json!({"tenant": "acme-dental", "to": CALLER}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let call_sid = "CA0000000000000000000000000000000b";
    assert_eq!(body["call_sid"], call_sid);

    let seen = twilio.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
    );
    assert_eq!(req.authorization, basic());
    assert_eq!(field(req, "To"), Some(CALLER));
    assert_eq!(field(req, "From"), Some(DIALLED));
    assert_eq!(field(req, "Method"), Some("POST"));
    assert_eq!(field(req, "Twiml"), None, "Url and Twiml are exclusive");
    let url = field(req, "Url").expect("Url");
    assert_eq!(url, app.http_url("/twiml"));

    // The customer answers: Twilio fetches the TwiML, and the model link
    // starts then, before the stream opens.
    let sessions = app.sim().connections_total();
    let twiml = answered_webhook(url, call_sid).await;
    let answer = twiml::parse_connect_stream(&twiml).expect("<Connect><Stream>");
    assert!(
        answer.url.starts_with(&format!("{}/", app.media_url())),
        "the call's own stream URL: {twiml}"
    );
    let param = |name: &str| {
        answer
            .parameters
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("tenant").as_deref(), Some("acme-dental"), "{twiml}");
    assert_eq!(param("from").as_deref(), Some(CALLER), "{twiml}");
    assert_eq!(param("to").as_deref(), Some(DIALLED), "{twiml}");
    assert_eq!(param("direction").as_deref(), Some("outbound"), "{twiml}");
    assert!(param("prewarm").is_some(), "not pre-warmed: {twiml}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app.sim().connections_total() == sessions {
        assert!(
            std::time::Instant::now() < deadline,
            "no model session before the stream"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }

    // The stream attaches to that call: the greeting plays, no second session.
    let mut setup = CallSetup::new(answer.url.clone());
    setup.call_sid = call_sid.to_string();
    for (name, value) in &answer.parameters {
        setup = setup.with_parameter(name.clone(), value.clone());
    }
    let mut call = TwilioCall::connect(setup.signed(AUTH_TOKEN))
        .await
        .expect("stream connects");
    assert!(
        call.wait_for_audio(200, Duration::from_secs(10)).await,
        "no greeting"
    );
    assert_eq!(app.sim().connections_total(), sessions + 1);
    call.stop().await.expect("stop");
    let record = app.wait_call_ended(call_sid, Duration::from_secs(10)).await;
    assert_eq!(record["call"]["from_number"], CALLER, "{record}");
    assert_eq!(record["call"]["stream_sid"], call.stream_sid(), "{record}");

    let (status, _) = post(
        &app,
        "/api/calls",
        json!({"tenant": "acme-dental", "to": "555"}),
    )
    .await;
    assert_eq!(status, 400, "not E.164");
    assert_eq!(twilio.requests().len(), 1);
    twilio.server.stop(true).await;
    app.stop().await;
}

#[actix_rt::test]
async fn recording_starts_and_stops_through_twilio_and_is_stored() {
    let twilio = FakeTwilio::start().await;
    let app = app_with_twilio(&twilio).await;
    let setup = app
        .through_signed_webhook(app.call_setup(), AUTH_TOKEN)
        .await;
    let call_sid = setup.call_sid.clone();
    let mut call = switchboard::far_end::TwilioCall::connect(setup)
        .await
        .expect("call connects");
    // Wait until the call row exists.
    let mut call_id = String::new();
    for _ in 0..50 {
        let (status, body) = app.get_json(&format!("/api/calls/{call_sid}")).await;
        if status == 200 {
            call_id = body["call"]["id"].as_str().unwrap_or_default().to_string();
            break;
        }
        let _ = call.send_silence(100).await;
    }
    assert!(!call_id.is_empty(), "call row not written");

    let (status, body) = post(
        &app,
        &format!("/api/calls/{call_id}/recording"),
        json!({"action": "start"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recording_sid"], "RE0000000000000000000000000000000a");
    let (status, body) = post(
        &app,
        &format!("/api/calls/{call_id}/recording"),
        json!({"action": "stop"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "stopped");

    let seen = twilio.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}/Recordings.json")
    );
    assert_eq!(seen[0].authorization, basic());
    assert_eq!(
        seen[1].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}/Recordings/RE0000000000000000000000000000000a.json")
    );
    assert_eq!(field(&seen[1], "Status"), Some("stopped"));

    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["recording_sid"],
        "RE0000000000000000000000000000000a"
    );
    twilio.server.stop(true).await;
    app.stop().await;
}

#[actix_rt::test]
async fn session_settings_reach_new_and_live_calls() {
    let app = TestApp::start().await;
    let mut resp = awc::Client::default()
        .put(app.http_url("/api/tenants/acme-dental/session"))
        .bearer_auth(ADMIN)
        .send_json(&json!({"voice": "cedar", "eagerness": "high"}))
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 200);
    let merged: Value = resp.json().await.expect("JSON");
    assert_eq!(merged["voice"], "cedar");

    let (mut call, _feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
    let mut call_id = String::new();
    for _ in 0..50 {
        let (status, body) = app.get_json(&format!("/api/calls/{call_sid}")).await;
        if status == 200 {
            call_id = body["call"]["id"].as_str().unwrap_or_default().to_string();
            break;
        }
        let _ = call.send_silence(100).await;
    }
    let (status, _) = post(
        &app,
        &format!("/api/calls/{call_id}/session"),
        json!({"instructions": "Answer in Spanish."}),
    )
    .await;
    assert_eq!(status, 202);
    let _ = call.send_silence(300).await;
    let updates: Vec<Value> = app
        .model_client_events()
        .into_iter()
        .filter(|e| e["type"] == "session.update")
        .collect();
    assert!(updates.len() >= 2, "no live session.update: {updates:?}");
    let first = &updates[0]["session"];
    assert_eq!(first["audio"]["output"]["voice"], "cedar");
    assert_eq!(
        first["audio"]["input"]["turn_detection"]["type"],
        "semantic_vad"
    );
    assert_eq!(
        first["audio"]["input"]["turn_detection"]["eagerness"],
        "high"
    );
    let last = &updates[updates.len() - 1]["session"];
    assert!(last["instructions"]
        .as_str()
        .unwrap_or("")
        .contains("Answer in Spanish."));
    for update in &updates {
        crate::support::schema::assert_client_event(update);
    }
    let (status, _) = post(
        &app,
        "/api/calls/no-such-call/session",
        json!({"voice": "marin"}),
    )
    .await;
    assert_eq!(status, 404);
    call.stop().await.expect("stop");
    app.stop().await;
}

#[actix_rt::test]
async fn live_calls_are_listed_and_an_operator_hangs_one_up() {
    let app = TestApp::start().await;
    let (mut call, _feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
    let mut entry = Value::Null;
    for _ in 0..50 {
        let (status, body) = app.get_json("/api/calls/live").await;
        assert_eq!(status, 200, "{body}");
        if let Some(e) = body["calls"]
            .as_array()
            .and_then(|calls| calls.iter().find(|e| e["call_sid"] == call_sid.as_str()))
        {
            assert_eq!(body["nodes"], json!([]), "a single node lists no nodes");
            entry = e.clone();
            break;
        }
        let _ = call.send_silence(100).await;
    }
    assert_eq!(entry["carrier"], "twilio", "{entry}");
    assert_eq!(entry["tenant"], "acme-dental", "{entry}");
    let id = entry["call_id"].as_str().expect("listed").to_string();

    let (status, body) = post(&app, &format!("/api/calls/{id}/hangup"), Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert!(call.wait_closed(Duration::from_secs(5)).await.is_some());
    let record = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    assert_eq!(record["call"]["ended_reason"], "operator_hangup");
    let (_, body) = app.get_json("/api/calls/live").await;
    assert_eq!(body["calls"], json!([]), "{body}");
    let (status, _) = post(&app, &format!("/api/calls/{id}/hangup"), Value::Null).await;
    assert_eq!(status, 404);
}

/// `PUT /api/tenants/{id}/session` as an owner sends it from the dashboard.
pub async fn put_tenant_session(app: &TestApp, body: Value) -> Value {
    let mut resp = awc::Client::default()
        .put(app.http_url("/api/tenants/acme-dental/session"))
        .bearer_auth(ADMIN)
        .send_json(&body)
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("JSON")
}

/// The voice of the first `session.update` `app`'s model saw once a call has
/// started on it.
pub async fn voice_of_a_new_call(app: &TestApp) -> Value {
    let before = app.model_client_events().len();
    let (mut call, _feed) = app.dial().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let update = loop {
        let update = app
            .model_client_events()
            .into_iter()
            .skip(before)
            .find(|e| e["type"] == "session.update");
        if let Some(update) = update {
            break update;
        }
        assert!(std::time::Instant::now() < deadline, "no session.update");
        let _ = call.send_silence(100).await;
    };
    call.stop().await.expect("stop");
    update["session"]["audio"]["output"]["voice"].clone()
}

#[actix_rt::test]
async fn tenant_session_settings_are_stored_and_outlive_a_restart() {
    let pg = crate::support::db::PgSchema::new();
    let app = TestApp::start_on(pg.url(), |_| {}).await;
    put_tenant_session(&app, json!({"voice": "cedar"})).await;
    let merged = put_tenant_session(&app, json!({"eagerness": "high"})).await;
    assert_eq!(merged["voice"], "cedar", "edits merge: {merged}");
    assert_eq!(voice_of_a_new_call(&app).await, "cedar");
    app.stop().await;

    let restarted = TestApp::start_on(pg.url(), |_| {}).await;
    assert_eq!(voice_of_a_new_call(&restarted).await, "cedar");
    restarted.stop().await;
}
