//! The Twilio voice webhook: TwiML that connects the call to our media stream, and
//! signature enforcement on the webhook and the stream upgrade.

use switchboard::carrier::twilio::client::{CallSetup, ClientError, TwilioCall};
use switchboard::carrier::twilio::signature;

use crate::support::{Db, TestApp, CALLER, DIALLED};

const TOKEN: &str = "twilio-test-auth-token";

fn form(call_sid: &str) -> Vec<(String, String)> {
    [
        ("CallSid", call_sid),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", DIALLED),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ToCity", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn post_twiml(
    app: &TestApp,
    params: &[(String, String)],
    signature: Option<&str>,
) -> (u16, String) {
    let client = awc::Client::default();
    let mut req = client
        .post(app.http_url("/twiml"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
    if let Some(sig) = signature {
        req = req.insert_header(("X-Twilio-Signature", sig));
    }
    let body = serde_urlencoded::to_string(params).expect("form");
    let mut resp = req.send_body(body).await.expect("POST /twiml");
    let status = resp.status().as_u16();
    let text = String::from_utf8_lossy(&resp.body().await.expect("body")).into_owned();
    (status, text)
}

#[actix_rt::test]
async fn signed_voice_webhook_gets_connect_stream_twiml() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://voice.example.com".into();
    })
    .await;
    let params = form("CA00000000000000000000000000000042");
    let sig = signature::compute(TOKEN, "https://voice.example.com/twiml", &params);
    let (status, body) = post_twiml(&app, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Connect><Stream url=\"wss://voice.example.com/media-stream\">"),
        "{body}"
    );
    assert!(
        body.contains("<Parameter name=\"tenant\" value=\"acme-dental\"/>"),
        "{body}"
    );
    assert!(
        body.contains(&format!("<Parameter name=\"from\" value=\"{CALLER}\"/>")),
        "{body}"
    );

    // A forged or missing signature is refused.
    let (status, _) = post_twiml(&app, &params, Some("bm90IGEgc2lnbmF0dXJl")).await;
    assert_eq!(status, 403);
    let (status, _) = post_twiml(&app, &params, None).await;
    assert_eq!(status, 403);
    // A tampered form (different caller) no longer matches the signature.
    let mut tampered = params.clone();
    tampered[2].1 = "+15550109999".into();
    let (status, _) = post_twiml(&app, &tampered, Some(&sig)).await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[actix_rt::test]
async fn media_stream_upgrade_requires_a_valid_signature_when_configured() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://voice.example.com".into();
    })
    .await;
    let unsigned = TwilioCall::connect(CallSetup::new(app.media_url())).await;
    assert!(
        matches!(unsigned, Err(ClientError::Refused { status: 403 })),
        "unsigned upgrade was accepted"
    );
    let sig = signature::compute(TOKEN, "wss://voice.example.com/media-stream", &[]);
    let signed =
        TwilioCall::connect(CallSetup::new(app.media_url()).with_header("X-Twilio-Signature", sig))
            .await;
    assert!(signed.is_ok(), "signed upgrade refused: {:?}", signed.err());
    app.stop().await;
}

#[actix_rt::test]
async fn oversized_webhook_body_is_refused() {
    let app = TestApp::start().await;
    let client = awc::Client::default();
    let body = format!("Body={}", "x".repeat(switchboard::http::MAX_FORM_BYTES + 1));
    let resp = client
        .post(app.http_url("/twiml"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body(body)
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 413);
    app.stop().await;
}
