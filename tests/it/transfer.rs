//! `transferToOnCall` on Twilio: after the hand-off line has played, the live call
//! is updated through the Twilio REST API (a local stand-in here) with `<Dial>` to
//! the on-call number and a whisper URL that announces the call to whoever answers.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use switchboard::carrier::twilio::signature;
use switchboard::config::Config;
use switchboard::events::CallEvent;
use switchboard::far_end::TwilioCall;
use switchboard::tenant::TenantConfig;

use crate::support::scripted::{short_turn, write_script};
use crate::support::stub::HttpStub;
use crate::support::{admin_request, talk_silence_until, Db, TestApp};
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
/// stream ended and the Twilio stand-in got exactly one call update, for
/// that call. The update's form.
pub async fn assert_transferred(
    call: &TwilioCall,
    twilio: &HttpStub,
    call_sid: &str,
) -> Vec<(String, String)> {
    assert!(
        call.wait_closed(Duration::from_secs(5)).await.is_some(),
        "the stream was not ended by the transfer"
    );
    let requests = twilio.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}.json")
    );
    requests[0].form()
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
async fn transfer_dials_the_on_call_number_with_a_whisper() {
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
    call.stream_mulaw(&short_turn()).await.unwrap();
    let ended = talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::CallEnded { .. })
    })
    .await;
    assert!(ended.is_some(), "call not handed off: {:?}", feed.events());

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
    let whisper = format!(
        "{}/twiml/whisper?tenant=acme-dental&reason=burst+pipe+%26+flooding",
        app.http_url("")
    );
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial><Number url=\"{}\">{ON_CALL}</Number></Dial></Response>",
        whisper.replace('&', "&amp;")
    );
    assert_eq!(form[0].1, expected);

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
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["text"], "Done: transferToOnCall.");
    assert_eq!(last["interrupted"], false);

    // The person answering hears who is calling and why (Twilio signs that request too).
    let signature = signature::compute(TOKEN, &whisper, &[]);
    let mut resp = awc::Client::default()
        .post(&whisper)
        .insert_header(("X-Twilio-Signature", signature))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap();
    assert!(
        body.contains(
            "<Say>Transferred call from the Acme Dental receptionist: burst pipe &amp; flooding."
        ),
        "{body}"
    );
    let unsigned = awc::Client::default().post(&whisper).send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
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
    let call = TwilioCall::connect(setup)
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
    let form = assert_transferred(&call, &twilio, &call_sid).await;
    let whisper = format!(
        "{}/twiml/whisper?tenant=acme-dental&amp;reason=caller+asked+for+Dr+Lee",
        app.http_url("")
    );
    assert_eq!(form[0].0, "Twiml");
    assert!(
        form[0].1.contains(&format!(
            "<Dial><Number url=\"{whisper}\">{ON_CALL}</Number></Dial>"
        )),
        "{form:?}"
    );
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
