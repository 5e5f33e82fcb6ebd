//! A warm transfer on Twilio, with the test playing Twilio: the REST update
//! replaces the call's TwiML with `<Dial action timeout><Number url>`, the
//! stream ends (`stop`, close) without ending the call, the screening prompt
//! and its key are posted signed, and the `<Dial action>` decides: bridged,
//! the call ends `transferred` with the bridged length; not bridged (no
//! answer, busy, declined at screening), its `<Connect><Stream>` answer opens
//! a stream that continues the same call — one row, the conversation replayed
//! into a new model session with the failure's line, the receptionist
//! speaking first and taking a message the owner is told about.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::carrier::twilio::twiml;
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};

use crate::notify::{notified_tenant, use_stand_ins};
use crate::support::scripted::{short_turn, turn_with_tool, write_script};
use crate::support::stub::HttpStub;
use crate::support::{Db, TestApp, ADMIN, CALLER};
use crate::transfer::{live_call_id, post_signed, ON_CALL, TOKEN};

/// How the test, as Twilio, ends the transfer's dial.
#[derive(Clone, Copy, Debug)]
enum DialEnding {
    NoAnswer,
    Busy,
    /// The on-call person answers and presses 2 at screening.
    Declined,
}

/// A running transfer: the app, its Twilio stand-in and the call.
struct Transfer {
    app: TestApp,
    twilio: HttpStub,
    feed: LogFeed,
    call_sid: String,
    call_id: String,
    _dir: tempfile::TempDir,
}

/// Starts a tenant with an on-call number whose owner is told by SMS, calls
/// it through the signed webhook, and has the caller ask for the on-call
/// person (scripted `transferToOnCall`); returns once the call's TwiML was
/// replaced with the transfer's, after checking that TwiML, and the stream
/// was ended as Twilio ends it.
async fn transfer_started() -> Transfer {
    let twilio = HttpStub::start(|_, n| {
        (
            201,
            json!({"sid": format!("SM{n:032}"), "status": "queued"}),
        )
    })
    .await;
    let sendgrid = HttpStub::start(|_, _| (202, json!({}))).await;
    let dir = tempfile::tempdir().unwrap();
    let script = write_script(
        dir.path(),
        &[
            ("transferToOnCall", json!({"reason": "burst pipe"})),
            (
                "takeMessage",
                json!({"callerName": "Dana Smith", "callerPhone": CALLER, "message": "Pipe burst in the kitchen.", "urgency": "urgent"}),
            ),
        ],
    );
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        use_stand_ins(c, &twilio, &sendgrid);
        c.twilio.auth_token = Some(TOKEN.into());
        let mut tenant = notified_tenant("");
        tenant.transfer_numbers = vec![ON_CALL.into()];
        c.tenants = vec![tenant];
    })
    .await;
    let setup = app.through_signed_webhook(app.call_setup(), TOKEN).await;
    let call_sid = setup.call_sid.clone();
    let feed = LogFeed::connect(&app.logs_url(&call_sid), Some(ADMIN))
        .await
        .unwrap();
    let mut call = TwilioCall::connect(setup).await.expect("call connects");
    let call_id = live_call_id(&app, "twilio", Some(&call_sid)).await;
    call.stream_mulaw(&short_turn()).await.unwrap();
    let update_path = format!("/Calls/{call_sid}.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    let update = loop {
        if let Some(r) = twilio
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with(&update_path))
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no transfer: {:?}",
            feed.events()
        );
        call.send_silence(100).await.unwrap();
    };
    let expected = twiml::dial_with_screening(
        ON_CALL,
        &app.http_url(&format!("/twiml/dial-action?call={call_id}")),
        20,
        &app.http_url(&format!("/twiml/screen?call={call_id}")),
    );
    assert_eq!(update.form(), [("Twiml".to_string(), expected)]);
    // Twilio ends the stream once the call's TwiML is replaced.
    call.stop().await.unwrap();
    drop(call);
    Transfer {
        app,
        twilio,
        feed,
        call_sid,
        call_id,
        _dir: dir,
    }
}

impl Transfer {
    fn url(&self, path: &str) -> String {
        self.app.http_url(&format!("{path}?call={}", self.call_id))
    }

    /// The on-call person answers: the screening prompt is asked for.
    async fn screen(&self) -> String {
        let (status, body) = post_signed(
            &self.url("/twiml/screen"),
            &[
                ("CallSid", "CA00000000000000000000000000000002"),
                ("CallStatus", "in-progress"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The on-call person presses `digit`.
    async fn press(&self, digit: &str) -> String {
        let (status, body) = post_signed(
            &self.url("/twiml/screen-result"),
            &[
                ("CallSid", "CA00000000000000000000000000000002"),
                ("Digits", digit),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Twilio's `<Dial action>` request.
    async fn dial_action(&self, form: &[(&str, &str)]) -> String {
        let mut all = vec![
            ("AccountSid", crate::transfer::ACCOUNT),
            ("CallSid", self.call_sid.as_str()),
            ("DialCallSid", "CA00000000000000000000000000000002"),
        ];
        all.extend_from_slice(form);
        let (status, body) = post_signed(&self.url("/twiml/dial-action"), &all).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The calls stored for this call's CallSid.
    async fn rows(&self) -> usize {
        let (_, body) = self.app.get_json("/api/calls").await;
        body.as_array()
            .map(|calls| {
                calls
                    .iter()
                    .filter(|c| c["carrier_call_sid"] == self.call_sid.as_str())
                    .count()
            })
            .unwrap_or_default()
    }
}

/// The conversation items the simulator was sent: `(role, text)` in order.
fn replayed_lines(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "conversation.item.create" && e["item"]["type"] == "message")
        .map(|e| {
            (
                e["item"]["role"].as_str().unwrap_or_default().to_string(),
                e["item"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

async fn a_failed_transfer_comes_back_to_the_receptionist(ending: DialEnding) {
    let t = transfer_started().await;
    let (status, why) = match ending {
        DialEnding::NoAnswer => ("no-answer", "nobody answered"),
        DialEnding::Busy => ("busy", "the line was busy"),
        DialEnding::Declined => {
            let prompt = t.screen().await;
            assert!(prompt.contains("<Gather numDigits=\"1\""), "{prompt}");
            assert!(prompt.contains("Reason: burst pipe."), "{prompt}");
            assert!(prompt.contains("Press 1 to take the call."), "{prompt}");
            let declined = t.press("2").await;
            assert!(declined.ends_with("<Hangup/></Response>"), "{declined}");
            ("completed", "the on-call person could not take the call")
        }
    };
    let answer = t
        .dial_action(&[("DialCallStatus", status), ("DialCallDuration", "0")])
        .await;
    let stream = twiml::parse_connect_stream(&answer).expect("a way-back stream");
    let mut setup = CallSetup::new(stream.url);
    setup.call_sid = t.call_sid.clone();
    setup.account_sid = crate::transfer::ACCOUNT.into();
    setup.custom_parameters = stream.parameters;
    let mut back = TwilioCall::connect(setup.signed(TOKEN))
        .await
        .expect("the way-back stream connects");
    // The receptionist speaks first on the new stream.
    assert!(
        back.wait_for_audio(300, Duration::from_secs(10)).await,
        "no receptionist audio on the way back: {:?}",
        t.feed.events()
    );
    turn_with_tool(&mut back, &t.feed, "takeMessage").await;
    back.stop().await.unwrap();
    let record = t
        .app
        .wait_call_ended(&t.call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(record["call"]["ended_reason"], "caller_hangup", "{record}");
    assert_eq!(record["call"]["id"], t.call_id.as_str(), "{record}");
    assert_eq!(t.rows().await, 1, "one call row");

    // The new session got the conversation so far, then the failure's line.
    let lines = replayed_lines(&t.app.model_client_events());
    let earlier = lines
        .iter()
        .position(|(role, text)| {
            role == "user" && text == "Caller turn 1 asking for transferToOnCall."
        })
        .unwrap_or_else(|| panic!("no replayed caller line: {lines:?}"));
    let failure =
        format!("The transfer to the on-call person failed: {why}. Offer to take a message.");
    let told = lines
        .iter()
        .position(|(role, text)| role == "system" && *text == failure)
        .unwrap_or_else(|| panic!("no failure line: {lines:?}"));
    assert!(earlier < told, "{lines:?}");

    // The message reached the owner.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !t.twilio.requests().iter().any(|r| {
        r.path.ends_with("/Messages.json")
            && r.form()
                .iter()
                .any(|(k, v)| k == "Body" && v.contains("Pipe burst in the kitchen."))
    }) {
        assert!(
            Instant::now() < deadline,
            "owner not notified: {:?}",
            t.twilio.requests()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    t.app.stop().await;
}

#[actix_rt::test]
async fn an_unanswered_transfer_comes_back_and_takes_a_message() {
    a_failed_transfer_comes_back_to_the_receptionist(DialEnding::NoAnswer).await;
}

#[actix_rt::test]
async fn a_busy_transfer_comes_back_and_takes_a_message() {
    a_failed_transfer_comes_back_to_the_receptionist(DialEnding::Busy).await;
}

#[actix_rt::test]
async fn a_transfer_declined_at_screening_comes_back_and_takes_a_message() {
    a_failed_transfer_comes_back_to_the_receptionist(DialEnding::Declined).await;
}

#[actix_rt::test]
async fn an_accepted_transfer_ends_transferred_with_its_bridged_length() {
    let t = transfer_started().await;
    let prompt = t.screen().await;
    assert!(
        prompt.contains(&format!(
            "Transferred call for Acme Dental from {}",
            spaced(CALLER)
        )),
        "{prompt}"
    );
    assert_eq!(t.press("1").await, twiml::empty());
    let answer = t
        .dial_action(&[
            ("DialCallStatus", "completed"),
            ("DialCallDuration", "42"),
            ("DialBridged", "true"),
        ])
        .await;
    assert_eq!(answer, twiml::hangup());
    let record = t
        .app
        .wait_call_ended(&t.call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["ended_reason"], "transferred: burst pipe",
        "{record}"
    );
    let transcript = record["transcript"].as_array().unwrap();
    assert!(
        transcript.iter().any(
            |l| l["role"] == "system" && l["text"] == "Bridged to the on-call person for 42 s."
        ),
        "{record}"
    );
    assert_eq!(t.rows().await, 1);
    // The call is over: a late webhook for it is a clear 404.
    let (status, _) = post_signed(
        &t.url("/twiml/dial-action"),
        &[("DialCallStatus", "completed")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post_signed(&t.url("/twiml/screen"), &[]).await;
    assert_eq!(status, 404);
    // Unsigned, or without its call: refused.
    let unsigned = awc::Client::default()
        .post(t.url("/twiml/dial-action"))
        .send_form(&[("DialCallStatus", "no-answer")])
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let (status, _) = post_signed(
        &t.app.http_url("/twiml/dial-action"),
        &[("DialCallStatus", "busy")],
    )
    .await;
    assert_eq!(status, 400);
    t.app.stop().await;
}

/// A number as the screening prompt reads it, digit by digit.
fn spaced(number: &str) -> String {
    number
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}
