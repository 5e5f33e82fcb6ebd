//! Voicemail when the model is gone for good: instead of an apology and a
//! hang-up, the caller leaves a message after the tone. On a Twilio line with
//! REST credentials Twilio records it (`<Say>` + `<Record>`; its signed status
//! callback makes switchboard fetch the WAV); otherwise switchboard records the
//! caller from the media stream itself. Either way the voicemail lands in the
//! owner's inbox with its audio, the owner is told at once, and the call ends
//! `voicemail`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard::audio::wav::read_wav_bytes;
use switchboard::carrier::twilio::signature;
use switchboard::tenant::{OwnerNotify, TenantConfig};

use crate::support::stub::HttpStub;
use crate::support::{admin_request, caller_mulaw, Db, TestApp, ADMIN, CALLER};

const ACCOUNT: &str = "AC00000000000000000000000000000023";
const AUTH_TOKEN: &str = "voicemail-test-auth-token";
const SENDGRID_KEY: &str = "SG.voicemail-key";
const OWNER_PHONE: &str = "+15550100009";
const OWNER_EMAIL: &str = "owner@acme.example";
const RECORDING_SID: &str = "RE0123456789abcdef0123456789abcdef";

/// The example tenant, telling its owner by SMS and email at any hour.
fn notified_tenant() -> TenantConfig {
    let mut t = TenantConfig::example();
    t.notify = OwnerNotify {
        sms: vec![OWNER_PHONE.into()],
        email: vec![OWNER_EMAIL.into()],
        ..OwnerNotify::default()
    };
    t
}

/// The model is unreachable from the start and restarts give up quickly.
fn model_gone(c: &mut switchboard::config::Config) {
    c.model.restart_attempts = 1;
    c.model.restart_backoff_ms = 100;
    c.model.connect_timeout_secs = 2;
    c.calls.voicemail_end_silence_ms = 2000;
    c.tenants = vec![notified_tenant()];
    c.notify.poll_ms = 100;
}

/// Waits for the inbox to list a message; returns the page.
async fn wait_for_voicemail(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = app.get_json("/api/caller-messages").await;
        assert_eq!(status, 200, "{page}");
        if page["total"].as_i64().unwrap_or(0) > 0 {
            return page;
        }
        assert!(Instant::now() < deadline, "no voicemail in the inbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET` of the voicemail's `audio_url`: status, content type, body.
async fn fetch_audio(app: &TestApp, audio_url: &str) -> (u16, String, Vec<u8>) {
    let mut resp = awc::Client::default()
        .get(app.http_url(audio_url))
        .insert_header(("Authorization", format!("Bearer {ADMIN}")))
        .send()
        .await
        .expect("audio");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.body().limit(16 << 20).await.expect("body").to_vec();
    (resp.status().as_u16(), content_type, body)
}

#[actix_rt::test]
async fn switchboard_records_the_voicemail_itself_when_the_carrier_cannot() {
    let sendgrid = HttpStub::start(|_, _| (202, json!({}))).await;
    let base = sendgrid.base.clone();
    let app = TestApp::start_with(Db::Sqlite, move |c| {
        model_gone(c);
        c.sendgrid.api_base = base;
        c.sendgrid.api_key = Some(SENDGRID_KEY.into());
        c.sendgrid.from_address = "desk@acme.example".into();
    })
    .await;
    app.sim().set_refuse_connections(true);
    let (mut call, _feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    // The prompt plays (6.4 s ending in the tone); the caller waits for it.
    let prompt_bytes = 6000 * 8;
    let deadline = Instant::now() + Duration::from_secs(30);
    while call.played_audio().len() < prompt_bytes {
        assert!(Instant::now() < deadline, "no voicemail prompt");
        call.send_silence(100).await.expect("line open");
    }
    call.send_silence(1000).await.expect("line open");
    // The message, then silence until the recording ends the call.
    call.stream_mulaw(&caller_mulaw("caller-message"))
        .await
        .expect("message");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !call.is_closed() {
        assert!(Instant::now() < deadline, "the recording never ended");
        let _ = call.send_silence(100).await;
    }

    let ended = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    let reason = ended["call"]["ended_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("voicemail: "), "{reason}");

    let page = wait_for_voicemail(&app).await;
    assert_eq!(page["total"], 1, "{page}");
    let message = &page["items"][0];
    assert_eq!(message["kind"], "voicemail", "{message}");
    assert_eq!(message["urgency"], "urgent");
    assert_eq!(message["caller_phone"], CALLER);
    assert_eq!(message["call_id"], ended["call"]["id"]);
    let (status, content_type, wav) =
        fetch_audio(&app, message["audio_url"].as_str().expect("audio_url")).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "audio/wav");
    let pcm = read_wav_bytes(&wav).expect("a WAV file");
    assert_eq!(pcm.sample_rate, 8000);
    // The caller's message (about 6 s) is in it, trailing silence trimmed.
    let ms = pcm.duration_ms();
    assert!((4000..=9000).contains(&ms), "{ms} ms recorded");

    // The owner hears of it by email at once (urgent).
    let deadline = Instant::now() + Duration::from_secs(10);
    // (The call's summary is mailed too, in either order.)
    loop {
        let mails: Vec<Value> = sendgrid.requests().iter().map(|r| r.json()).collect();
        if mails.iter().any(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.to_lowercase().contains("voicemail"))
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "owner not emailed: {mails:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
    sendgrid.stop().await;
}

/// What Twilio sends to `recordingStatusCallback` when the recording is ready.
fn recording_status(call_sid: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT),
        ("CallSid", call_sid),
        ("RecordingSid", RECORDING_SID),
        (
            "RecordingUrl",
            &format!(
                "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING_SID}"
            ),
        ),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "6"),
        ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Posts `form` to `url` signed as Twilio signs it (or with `signature`).
async fn post_signed(
    url: &str,
    form: &[(String, String)],
    signature: Option<&str>,
) -> (u16, String) {
    let sig = signature
        .map(str::to_string)
        .unwrap_or_else(|| signature::compute(AUTH_TOKEN, url, form));
    let mut resp = awc::Client::default()
        .post(url)
        .insert_header(("X-Twilio-Signature", sig))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body(serde_urlencoded::to_string(form).expect("form"))
        .await
        .expect("webhook");
    let body = resp.body().await.expect("body");
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[actix_rt::test]
async fn twilio_records_the_voicemail_and_its_signed_callback_files_it() {
    let recording =
        std::fs::read(crate::support::asset("assets/audio/caller-message.wav")).expect("recording");
    let served = recording.clone();
    let twilio = HttpStub::start_raw(move |r, n| {
        if r.method == "GET"
            && r.path
                .ends_with(&format!("/Recordings/{RECORDING_SID}.wav"))
        {
            return (200, "audio/x-wav", served.clone());
        }
        let sid = if r.path.ends_with("/Messages.json") {
            format!("SM{n:032}")
        } else {
            "CA".into()
        };
        let body = json!({"sid": sid, "status": "queued"}).to_string();
        (201, "application/json", body.into_bytes())
    })
    .await;
    let base = twilio.base.clone();
    let app = TestApp::start_with(Db::Sqlite, move |c| {
        model_gone(c);
        c.twilio.account_sid = ACCOUNT.into();
        c.twilio.auth_token = Some(AUTH_TOKEN.into());
        c.twilio.api_base = base;
    })
    .await;
    app.sim().set_refuse_connections(true);
    let setup = app
        .through_signed_webhook(app.call_setup(), AUTH_TOKEN)
        .await;
    let call_sid = setup.call_sid.clone();
    let mut call = switchboard::far_end::TwilioCall::connect(setup)
        .await
        .expect("call");

    // Twilio is asked to take the voicemail: the call's TwiML is replaced.
    let deadline = Instant::now() + Duration::from_secs(20);
    let update = loop {
        if let Some(r) = twilio
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with(&format!("/Calls/{call_sid}.json")))
        {
            break r;
        }
        assert!(Instant::now() < deadline, "no call update");
        let _ = call.send_silence(100).await;
    };
    let form = update.form();
    let twiml = &form.iter().find(|(k, _)| k == "Twiml").expect("Twiml").1;
    assert!(twiml.contains("<Record "), "{twiml}");
    assert!(twiml.contains("playBeep=\"true\""), "{twiml}");
    let status_url = twiml
        .split("recordingStatusCallback=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("recordingStatusCallback")
        .to_string();
    let action_url = twiml
        .split("action=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("action")
        .to_string();
    // Twilio ends the stream and runs the document.
    call.stop().await.expect("stop");
    let ended = app.wait_call_ended(&call_sid, Duration::from_secs(5)).await;
    let reason = ended["call"]["ended_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("voicemail: "), "{reason}");
    // One call, one row: the call pre-warmed at the webhook, whose model was
    // gone before its stream came, took the stream for the voicemail.
    let (_, calls) = app.get_json("/api/calls").await;
    let rows = calls
        .as_array()
        .or_else(|| calls["calls"].as_array())
        .expect("call list")
        .iter()
        .filter(|c| c["carrier_call_sid"] == call_sid.as_str())
        .count();
    assert_eq!(rows, 1, "{calls}");

    // A forged callback is refused and stores nothing.
    let form = recording_status(&call_sid);
    let (status, _) = post_signed(&status_url, &form, Some("forged")).await;
    assert_eq!(status, 403);
    // The signed one files the recording; Twilio's retry changes nothing.
    for _ in 0..2 {
        let (status, body) = post_signed(&status_url, &form, None).await;
        assert_eq!(status, 204, "{body}");
    }
    let page = wait_for_voicemail(&app).await;
    assert_eq!(page["total"], 1, "{page}");
    let message = &page["items"][0];
    assert_eq!(message["kind"], "voicemail");
    let (status, content_type, wav) =
        fetch_audio(&app, message["audio_url"].as_str().expect("audio_url")).await;
    assert_eq!((status, content_type.as_str()), (200, "audio/wav"));
    assert_eq!(wav, recording, "the stored audio is Twilio's recording");
    // Fetched with the account's credentials, from the recording's own URL.
    let fetch = twilio
        .requests()
        .into_iter()
        .find(|r| r.method == "GET")
        .expect("recording fetched");
    assert_eq!(
        fetch.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING_SID}.wav")
    );
    assert!(fetch.authorization.is_some_and(|a| a.starts_with("Basic ")));

    // The action thanks the caller and hangs up.
    let (status, body) = post_signed(&action_url, &recording_status(&call_sid), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Hangup/>"), "{body}");

    // The owner is texted at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let texted = twilio.requests().into_iter().any(|r| {
            r.path.ends_with("/Messages.json")
                && r.form()
                    .iter()
                    .any(|(k, v)| k == "Body" && v.contains("voicemail"))
        });
        if texted {
            break;
        }
        assert!(Instant::now() < deadline, "owner not texted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An unknown call is a clear 404, not a crash.
    let (status, _) = admin_request(
        awc::http::Method::GET,
        &app.http_url("/api/caller-messages/nope/audio"),
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
    twilio.stop().await;
}
