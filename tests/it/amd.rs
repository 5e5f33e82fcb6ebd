//! Answering machine detection on outbound calls: `POST /api/calls` asks Twilio
//! (a local stand-in for api.twilio.com) for `MachineDetection=DetectMessageEnd`
//! with an asynchronous callback to `/twiml/amd`; a signed `AnsweredBy=
//! machine_end_beep` there replaces the live call's TwiML with the tenant's
//! voicemail and `<Hangup/>`, and the call ends `answering_machine`; a person
//! (`human`) goes on talking to the receptionist. The verdict is stored in
//! `calls.answered_by`.

use std::time::Duration;

use awc::http::Method;
use serde_json::json;
use switchboard::carrier::twilio::signature;
use switchboard::far_end::TwilioCall;

use crate::support::stub::HttpStub;
use crate::support::{admin_request, Db, TestApp, ADMIN, CALLER};
use crate::transfer::{live_call_id, ACCOUNT, TOKEN};

/// The sid the Twilio stand-in gives the outbound call.
const CALL_SID: &str = "CA00000000000000000000000000000a4d";

/// A switchboard with Twilio REST pointed at a stand-in that answers every
/// request with the call [`CALL_SID`]; the stand-in too.
async fn start() -> (TestApp, HttpStub) {
    let twilio = HttpStub::start(|_, _| (201, json!({"sid": CALL_SID, "status": "queued"}))).await;
    let api_base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.account_sid = ACCOUNT.into();
        c.twilio.api_base = api_base;
        c.twilio.auth_token = Some(TOKEN.into());
    })
    .await;
    (app, twilio)
}

/// `POST /api/calls` to [`CALLER`], then the customer answers: the signed
/// voice webhook and the media stream it names, as Twilio does. The open
/// stream, and the AMD callback URL Twilio was given.
async fn place_and_answer(app: &TestApp, twilio: &HttpStub) -> (TwilioCall, String) {
    let mut resp = awc::Client::default()
        .post(app.http_url("/api/calls"))
        .bearer_auth(ADMIN)
        .send_json(&json!({"tenant": "acme-dental", "to": CALLER}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["call_sid"], CALL_SID);
    let create = twilio.requests()[0].form();
    let field = |name: &str| {
        create
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in {create:?}"))
    };
    assert_eq!(field("MachineDetection"), "DetectMessageEnd");
    assert_eq!(field("AsyncAmd"), "true");
    assert_eq!(field("AsyncAmdStatusCallbackMethod"), "POST");
    let amd_url = field("AsyncAmdStatusCallback");
    assert_eq!(amd_url, app.http_url("/twiml/amd?tenant=acme-dental"));

    let mut setup = app.call_setup();
    setup.call_sid = CALL_SID.into();
    setup.account_sid = ACCOUNT.into();
    let setup = app.through_signed_webhook(setup, TOKEN).await;
    let call = TwilioCall::connect(setup).await.expect("stream connects");
    live_call_id(app, "twilio", Some(CALL_SID)).await;
    (call, amd_url)
}

/// Posts Twilio's AMD callback for [`CALL_SID`] to `url`, signed with `token`.
async fn post_amd(url: &str, answered_by: &str, token: &str) -> u16 {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT),
        ("AnsweredBy", answered_by),
        ("CallSid", CALL_SID),
        ("MachineDetectionDuration", "2430"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let resp = awc::Client::default()
        .post(url)
        .insert_header((
            "X-Twilio-Signature",
            signature::compute(token, url, &params),
        ))
        .send_form(&params)
        .await
        .unwrap();
    resp.status().as_u16()
}

#[actix_rt::test]
async fn an_answering_machine_gets_the_voicemail_and_the_call_ends() {
    let (app, twilio) = start().await;
    let (mut call, amd_url) = place_and_answer(&app, &twilio).await;

    // Twilio's signature is checked, and the verdict must be one Twilio documents.
    assert_eq!(
        post_amd(&amd_url, "machine_end_beep", "wrong-token").await,
        403
    );
    assert_eq!(post_amd(&amd_url, "robot", TOKEN).await, 400);
    assert_eq!(
        twilio.requests().len(),
        1,
        "nothing sent for refused callbacks"
    );

    assert_eq!(post_amd(&amd_url, "machine_end_beep", TOKEN).await, 204);
    let requests = twilio.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        requests[1].path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json")
    );
    let form = requests[1].form();
    assert_eq!(
        form,
        vec![(
            "Twiml".to_string(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Hello, this is the \
             receptionist at Acme Dental. We're returning your call; please call us back at \
             1 5 5 5 0 1 0 0 0 0 0. Goodbye.</Say><Hangup/></Response>"
                .to_string()
        )]
    );
    // Twilio ends the stream when the new TwiML takes over.
    call.stop().await.unwrap();
    let record = app.wait_call_ended(CALL_SID, Duration::from_secs(10)).await;
    assert_eq!(record["call"]["ended_reason"], "answering_machine");
    assert_eq!(record["call"]["answered_by"], "machine_end_beep");
    app.stop().await;
    twilio.stop().await;
}

#[actix_rt::test]
async fn a_person_answering_goes_on_talking_to_the_receptionist() {
    let (app, twilio) = start().await;
    let (mut call, amd_url) = place_and_answer(&app, &twilio).await;

    assert_eq!(post_amd(&amd_url, "human", TOKEN).await, 204);
    assert_eq!(twilio.requests().len(), 1, "no TwiML update for a person");
    // Still live, still streaming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, live) = admin_request(Method::GET, &app.http_url("/api/calls/live")).await;
    assert_eq!(live["calls"][0]["call_sid"], CALL_SID, "{live}");
    call.send_silence(200).await.unwrap();

    call.stop().await.unwrap();
    let record = app.wait_call_ended(CALL_SID, Duration::from_secs(10)).await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup");
    assert_eq!(record["call"]["answered_by"], "human");

    // A verdict that comes after the call ended is still written to its row.
    assert_eq!(post_amd(&amd_url, "unknown", TOKEN).await, 204);
    let (_, record) = app.get_json(&format!("/api/calls/{CALL_SID}")).await;
    assert_eq!(record["call"]["answered_by"], "unknown");
    app.stop().await;
    twilio.stop().await;
}
