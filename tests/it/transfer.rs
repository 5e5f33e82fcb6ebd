//! `transferToOnCall` on Twilio: after the hand-off line has played, the live call
//! is updated through the Twilio REST API (a local stand-in here) with `<Dial>` to
//! the on-call number, whose `<Number url>` screens whoever answers and whose
//! `action` ends the call once the legs were bridged (the way back after a
//! failed transfer is in `transfer_way_back.rs`).

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use switchboard::carrier::twilio::signature;
use switchboard::config::Config;
use switchboard::far_end::TwilioCall;
use switchboard::tenant::TenantConfig;

use crate::support::scripted::{short_turn, write_script};
use crate::support::stub::HttpStub;
use crate::support::{admin_request, Db, TestApp};
use awc::http::Method;

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "test-auth-token";
pub const ON_CALL: &str = "+15550100002";

/// Twilio REST at `api_base` with credentials, and the example tenant with
/// [`ON_CALL`] as its on-call number.
pub fn with_twilio_and_on_call(c: &mut Config, api_base: &str) {
    c.twilio.account_sid = ACCOUNT.into();
    c.twilio.api_base = api_base.to_string();
    c.twilio.auth_token = Some(TOKEN.into());
    let mut tenant = TenantConfig::example();
    tenant.transfer_numbers = vec![ON_CALL.into()];
    c.tenants = vec![tenant];
}

/// The operator's transfer of `call` (Twilio call `call_sid`) was made: the
/// Twilio stand-in got exactly one call update, for that call; then the test,
/// as Twilio, ends the stream (`stop`, close). The update's form.
pub async fn assert_transferred(
    call: &mut TwilioCall,
    twilio: &HttpStub,
    call_sid: &str,
) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while twilio.requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no call update");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json")
    );
    call.stop().await.expect("stop");
    requests[0].form()
}

/// Posts `form` to `url` signed as Twilio signs it with [`TOKEN`]; the
/// status and body.
pub async fn post_signed(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let params: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let sig = signature::compute(TOKEN, url, &params);
    let mut resp = awc::Client::default()
        .post(url)
        .insert_header(("X-Twilio-Signature", sig))
        .send_form(&params)
        .await
        .expect("POST webhook");
    let status = resp.status().as_u16();
    let body = resp.body().await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Twilio's side of a transfer the on-call person takes, against `app` (the
/// node carrying call `call_id`): they press 1 at screening, the legs are
/// bridged, and the `<Dial action>` reports the bridged call (42 s).
pub async fn bridge(app: &TestApp, call_id: &str) {
    let url = |path: &str| app.http_url(&format!("{path}?call={call_id}"));
    let (status, body) = post_signed(&url("/twiml/screen-result"), &[("Digits", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_signed(
        &url("/twiml/dial-action"),
        &[
            ("DialCallStatus", "completed"),
            ("DialCallDuration", "42"),
            ("DialBridged", "true"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A browser call started on `host` cannot be transferred: `operator`'s
/// `POST /api/calls/{id}/transfer` gets 409 with the carrying node's reason.
pub async fn assert_browser_call_is_not_transferred(host: &TestApp, operator: &TestApp) {
    let token = crate::browser::new_session(host).await;
    let _socket = crate::browser::open(host, &token, Some(&crate::browser::origin(host)))
        .await
        .expect("browser call");
    let id = live_call_id(operator, "browser", None).await;
    let (status, body) = post_transfer(operator, &id, r#"{"reason":"x"}"#).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("only possible on phone calls")),
        "{body}"
    );
}

#[actix_rt::test]
async fn transfer_dials_the_on_call_number_with_screening() {
    let twilio = HttpStub::start(|_, _| (200, json!({"sid": "CA", "status": "in-progress"}))).await;
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        &[(
            "transferToOnCall",
            json!({"reason": "burst pipe & flooding"}),
        )],
    );
    let api_base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        with_twilio_and_on_call(c, &api_base);
    })
    .await;
    let setup = app.through_signed_webhook(app.call_setup(), TOKEN).await;
    let call_sid = setup.call_sid.clone();
    let feed = switchboard::far_end::LogFeed::connect(
        &app.logs_url(&call_sid),
        Some(crate::support::ADMIN),
    )
    .await
    .unwrap();
    let mut call = switchboard::far_end::TwilioCall::connect(setup)
        .await
        .expect("signed call connects");
    let call_id = live_call_id(&app, "twilio", Some(&call_sid)).await;
    call.stream_mulaw(&short_turn()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while twilio.requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "call not handed off: {:?}",
            feed.events()
        );
        call.send_silence(100).await.unwrap();
    }

    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{TOKEN}"));
    assert_eq!(
        req.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let form = req.form();
    assert_eq!(form.len(), 1, "{form:?}");
    assert_eq!(form[0].0, "Twiml");
    let action = app.http_url(&format!("/twiml/dial-action?call={call_id}"));
    let screen = app.http_url(&format!("/twiml/screen?call={call_id}"));
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"{action}\" timeout=\"20\"><Number url=\"{screen}\">{ON_CALL}</Number></Dial></Response>"
    );
    assert_eq!(form[0].1, expected);
    // Twilio ends the stream; the call waits for the dial.
    call.stop().await.unwrap();

    // The person answering hears who is calling and why (Twilio signs that request too).
    let (status, body) = post_signed(&screen, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Say>Transferred call for Acme Dental from + 1 5 5 5 0 1 0 0 0 0 1. Reason: burst pipe &amp; flooding. The caller said: Caller turn 1 asking for transferToOnCall. Press 1 to take the call.</Say>"),
        "{body}"
    );
    let unsigned = awc::Client::default().post(&screen).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    bridge(&app, &call_id).await;

    // The hand-off line played in full before the transfer.
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["ended_reason"],
        "transferred: burst pipe & flooding"
    );
    let last = record["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|l| l["role"] == "assistant")
        .unwrap()
        .clone();
    assert_eq!(last["text"], "Done: transferToOnCall.");
    assert_eq!(last["interrupted"], false);
    app.stop().await;
    twilio.stop().await;
}

/// The live call whose carrier call id is `call_sid` (or, with `None`, the
/// first of `carrier`), as `GET /api/calls/live` lists it; its switchboard id.
pub async fn live_call_id(app: &TestApp, carrier: &str, call_sid: Option<&str>) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = admin_request(Method::GET, &app.http_url("/api/calls/live")).await;
        let found = body["calls"].as_array().and_then(|calls| {
            calls.iter().find(|c| {
                c["carrier"] == carrier && call_sid.is_none_or(|sid| c["call_sid"] == sid)
            })
        });
        if let Some(call) = found {
            return call["call_id"].as_str().expect("call id").to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live {carrier} call: {body}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn post_transfer(app: &TestApp, id: &str, body: &str) -> (u16, serde_json::Value) {
    let mut resp = awc::Client::default()
        .post(app.http_url(&format!("/api/calls/{id}/transfer")))
        .bearer_auth(crate::support::ADMIN)
        .insert_header(("Content-Type", "application/json"))
        .send_body(body.to_string())
        .await
        .expect("POST transfer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[actix_rt::test]
async fn an_operator_transfers_a_phone_call_now_and_a_browser_call_is_refused() {
    let twilio = HttpStub::start(|_, _| (200, json!({"sid": "CA", "status": "in-progress"}))).await;
    let api_base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, |c| with_twilio_and_on_call(c, &api_base)).await;
    let setup = app.through_signed_webhook(app.call_setup(), TOKEN).await;
    let call_sid = setup.call_sid.clone();
    let mut call = TwilioCall::connect(setup)
        .await
        .expect("signed call connects");
    let id = live_call_id(&app, "twilio", Some(&call_sid)).await;

    for bad in ["{}", r#"{"reason":"  "}"#, r#"{"reason":1}"#, "not json"] {
        let (status, body) = post_transfer(&app, &id, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = post_transfer(
        &app,
        "00000000-0000-4000-8000-000000000000",
        r#"{"reason":"x"}"#,
    )
    .await;
    assert_eq!(status, 404);
    assert!(twilio.requests().is_empty());

    // No hand-off line from the model: the call's TwiML is replaced at once.
    let (status, body) = post_transfer(&app, &id, r#"{"reason":"caller asked for Dr Lee"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "transferring");
    let form = assert_transferred(&mut call, &twilio, &call_sid).await;
    assert_eq!(form[0].0, "Twiml");
    assert!(
        form[0].1.contains(&format!(
            "<Number url=\"{}\">{ON_CALL}</Number>",
            app.http_url(&format!("/twiml/screen?call={id}"))
        )),
        "{form:?}"
    );
    // While it rings, a second transfer is refused.
    let (status, body) = post_transfer(&app, &id, r#"{"reason":"again"}"#).await;
    assert_eq!(status, 409, "{body}");
    bridge(&app, &id).await;
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["ended_reason"], "transferred: caller asked for Dr Lee",
        "{record}"
    );
    let (status, _) = post_transfer(&app, &id, r#"{"reason":"again"}"#).await;
    assert_eq!(status, 404, "an ended call is not live");

    // A browser call has no phone line to hand over.
    assert_browser_call_is_not_transferred(&app, &app).await;
    assert_eq!(twilio.requests().len(), 1);
    app.stop().await;
}
