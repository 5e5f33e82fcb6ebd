//! `transferToOnCall` on Twilio: after the hand-off line has played, the live call
//! is updated through the Twilio REST API (a local stand-in here) with `<Dial>` to
//! the on-call number and a whisper URL that announces the call to whoever answers.

use std::time::Duration;

use base64::Engine;
use serde_json::json;
use switchboard::carrier::twilio::signature;
use switchboard::events::CallEvent;
use switchboard::tenant::TenantConfig;

use crate::support::scripted::{short_turn, write_script};
use crate::support::stub::HttpStub;
use crate::support::{talk_silence_until, Db, TestApp};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";
const ON_CALL: &str = "+15550100002";

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
        c.twilio.account_sid = ACCOUNT.into();
        c.twilio.api_base = api_base;
        c.twilio.auth_token = Some(TOKEN.into());
        let mut tenant = TenantConfig::example();
        tenant.transfer_numbers = vec![ON_CALL.into()];
        c.tenants = vec![tenant];
    })
    .await;
    let setup = app.call_setup().signed(TOKEN);
    let call_sid = setup.call_sid.clone();
    let feed = switchboard::caller::LogFeed::connect(
        &app.logs_url(&call_sid),
        Some(crate::support::ADMIN),
    )
    .await
    .unwrap();
    let mut call = switchboard::caller::TwilioCall::connect(setup)
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
