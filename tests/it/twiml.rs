//! The Twilio voice webhook: TwiML that connects the call to our media stream, and
//! signature enforcement on the webhook and the stream upgrade.

use switchboard::carrier::twilio::{signature, twiml};
use switchboard::far_end::{CallSetup, ClientError, TwilioCall};

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
        body.contains("<Connect><Stream url=\"wss://voice.example.com/media-stream/"),
        "the call's own stream URL: {body}"
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
async fn replayed_webhooks_and_captured_stream_signatures_open_nothing() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://voice.example.com".into();
        c.calls.prewarm = true;
    })
    .await;
    let call_sid = "CA00000000000000000000000000000077";
    let params = form(call_sid);
    let sig = signature::compute(TOKEN, "https://voice.example.com/twiml", &params);
    let sessions = app.sim().connections_total();
    // One signed webhook, sent five times: one answer, one model session.
    let (status, first) = post_twiml(&app, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{first}");
    // The per-call stream URL carries an expiry in whole seconds, so a replay
    // a second later names the same call with a later expiry: compared without it.
    let without_grant = |xml: &str| -> String {
        let start = xml.find("/media-stream/").expect("per-call stream URL");
        let end = start + xml[start..].find('"').expect("end of the URL");
        format!("{}{}", &xml[..start], &xml[end..])
    };
    for _ in 0..4 {
        let (status, again) = post_twiml(&app, &params, Some(&sig)).await;
        assert_eq!(status, 200);
        assert_eq!(
            without_grant(&again),
            without_grant(&first),
            "a replay gets the same TwiML"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.sim().connections_total() == sessions {
        assert!(
            std::time::Instant::now() < deadline,
            "no pre-warmed session"
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    actix_rt::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.sim().connections_total(),
        sessions + 1,
        "replays opened model sessions"
    );
    let answer = twiml::parse_connect_stream(&first).expect("<Connect><Stream>");
    let path = answer
        .url
        .strip_prefix("wss://voice.example.com")
        .expect("public stream URL")
        .to_string();
    assert!(path.starts_with("/media-stream/"), "{path}");

    // Unsigned, or signed over the fixed URL (a captured header): refused.
    let unsigned = TwilioCall::connect(CallSetup::new(app.media_url())).await;
    assert!(matches!(
        unsigned,
        Err(ClientError::Refused { status: 403 })
    ));
    let fixed = signature::compute(TOKEN, "wss://voice.example.com/media-stream", &[]);
    let captured = TwilioCall::connect(
        CallSetup::new(app.media_url()).with_header("X-Twilio-Signature", fixed),
    )
    .await;
    assert!(
        matches!(captured, Err(ClientError::Refused { status: 403 })),
        "a fixed-URL signature opened a stream"
    );
    // A forged grant on a correctly signed URL: refused.
    let forged_path = format!("{}x", &path[..path.len() - 1]);
    let forged_sig =
        signature::compute(TOKEN, &format!("wss://voice.example.com{forged_path}"), &[]);
    let forged = TwilioCall::connect(
        CallSetup::new(format!(
            "{}{}",
            app.media_url().trim_end_matches("/media-stream"),
            forged_path
        ))
        .with_header("X-Twilio-Signature", forged_sig),
    )
    .await;
    assert!(matches!(forged, Err(ClientError::Refused { status: 403 })));

    // The real flow: the TwiML's URL, signed as Twilio signs it. Tenant and
    // caller come from the webhook, not from the stream's own parameters.
    let local = format!(
        "{}{}",
        app.media_url().trim_end_matches("/media-stream"),
        path
    );
    let stream_sig = signature::compute(TOKEN, &answer.url, &[]);
    let mut setup =
        CallSetup::new(local.clone()).with_header("X-Twilio-Signature", stream_sig.clone());
    setup.call_sid = call_sid.into();
    for (name, value) in &answer.parameters {
        let value = if name == "from" {
            "+15550109999".to_string()
        } else {
            value.clone()
        };
        setup = setup.with_parameter(name.clone(), value);
    }
    let mut call = TwilioCall::connect(setup).await.expect("per-call stream");
    call.send_silence(300).await.expect("audio");
    call.stop().await.expect("hang up");
    let ended = app
        .wait_call_ended(call_sid, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(ended["call"]["from_number"], CALLER, "{ended}");

    // The same per-call URL naming another call in its `start`: closed.
    let mut other = CallSetup::new(local).with_header("X-Twilio-Signature", stream_sig);
    other.call_sid = "CA00000000000000000000000000000078".into();
    let other = TwilioCall::connect(other).await.expect("upgrade");
    let closed = other.wait_closed(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        closed.map(|(code, _)| code),
        Some(1008),
        "a stream for another call was served"
    );
    assert_eq!(app.sim().connections_total(), sessions + 1);
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

/// GET `path_and_query` with an optional `X-Twilio-Signature`; status and body.
async fn get_webhook(
    app: &TestApp,
    path_and_query: &str,
    signature: Option<&str>,
) -> (u16, String) {
    let client = awc::Client::default();
    let mut req = client.get(app.http_url(path_and_query));
    if let Some(sig) = signature {
        req = req.insert_header(("X-Twilio-Signature", sig));
    }
    let mut resp = req.send().await.expect("GET");
    let status = resp.status().as_u16();
    let text = String::from_utf8_lossy(&resp.body().await.expect("body")).into_owned();
    (status, text)
}

#[actix_rt::test]
async fn get_webhooks_are_signed_over_the_url_with_its_query() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://voice.example.com".into();
    })
    .await;
    // Voice webhook configured as HTTP GET: parameters in the query, none appended.
    let query = serde_urlencoded::to_string(form("CA00000000000000000000000000000043")).unwrap();
    let path = format!("/twiml?{query}");
    let sig = signature::compute(TOKEN, &format!("https://voice.example.com{path}"), &[]);
    let (status, body) = get_webhook(&app, &path, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<Parameter name=\"tenant\" value=\"acme-dental\"/>"),
        "{body}"
    );
    let forged = path.replace(
        "CA00000000000000000000000000000043",
        "CA00000000000000000000000000000044",
    );
    assert_eq!(get_webhook(&app, &forged, Some(&sig)).await.0, 403);
    assert_eq!(get_webhook(&app, &path, None).await.0, 403);

    // Messaging webhook configured as HTTP GET.
    let sms = serde_urlencoded::to_string([
        ("MessageSid", "SM00000000000000000000000000000043"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", DIALLED),
        ("Body", "Are you open on Saturday?"),
        ("NumMedia", "0"),
    ])
    .unwrap();
    let path = format!("/sms/inbound?{sms}");
    let sig = signature::compute(TOKEN, &format!("https://voice.example.com{path}"), &[]);
    let (status, body) = get_webhook(&app, &path, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Message>"), "{body}");
    assert_eq!(get_webhook(&app, &path, Some("AAAA")).await.0, 403);
    app.stop().await;
}

#[actix_rt::test]
async fn webhook_url_with_a_quote_validates_however_it_was_signed() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://voice.example.com".into();
    })
    .await;
    let params = form("CA00000000000000000000000000000045");
    let post = |path: &'static str, sig: String| {
        let params = params.clone();
        let app = &app;
        async move {
            let client = awc::Client::default();
            let resp = client
                .post(app.http_url(path))
                .insert_header(("X-Twilio-Signature", sig))
                .send_form(&params)
                .await
                .expect("POST");
            resp.status().as_u16()
        }
    };
    let quoted = "https://voice.example.com/twiml?office=O'Brien";
    let escaped = "https://voice.example.com/twiml?office=O%27Brien";
    // twilio-node normalises with WHATWG URL before signing ('' becomes %27);
    // twilio-python signs the URL as given.
    let node_sig = signature::compute(TOKEN, url::Url::parse(quoted).unwrap().as_str(), &params);
    let python_sig = signature::compute(TOKEN, quoted, &params);
    for sig in [node_sig, python_sig] {
        assert_eq!(
            post("/twiml?office=O%27Brien", sig.clone()).await,
            200,
            "{escaped}"
        );
        assert_eq!(
            post("/twiml?office=O'Brien", sig.clone()).await,
            200,
            "{quoted}"
        );
    }
    assert_eq!(
        post(
            "/twiml?office=O%27Brian",
            signature::compute(TOKEN, escaped, &params)
        )
        .await,
        403
    );
    app.stop().await;
}

#[actix_rt::test]
async fn ultravox_tenant_is_not_streamed_to_the_direct_model_link() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.tenants[0].provider = Some(switchboard::model::provider::Provider::Ultravox);
    })
    .await;
    let (status, body) = post_twiml(&app, &form("CA00000000000000000000000000000046"), None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Say>") && body.contains("<Hangup/>"),
        "{body}"
    );
    assert!(!body.contains("<Stream"), "{body}");
    app.stop().await;
}

#[test]
fn start_up_warns_about_ws_stream_urls_and_names_tenants_without_a_key() {
    let dir = tempfile::tempdir().expect("dir");
    let config = crate::support::child::write_config(
        dir.path(),
        &crate::support::db::sqlite_url(dir.path()),
        "",
    );
    let server = crate::support::child::ChildServer::spawn(
        dir.path(),
        &config,
        &[
            ("SWITCHBOARD_SERVER__PUBLIC_URL", "http://voice.example.com"),
            // Every door shut, so the public URL passes the start-up audit.
            ("SWITCHBOARD_TWILIO__AUTH_TOKEN", "twiml-warning-token"),
            ("SWITCHBOARD_JAMBONZ__USERNAME", "jambonz"),
            ("SWITCHBOARD_JAMBONZ__PASSWORD", "twiml-warning-password"),
        ],
    );
    let log = server.log();
    assert!(
        log.contains("server.public_url http://voice.example.com is not https")
            && log.contains("wss://")
            && log.contains("31922"),
        "{log}"
    );
    assert!(
        log.contains(
            "tenant acme-dental: provider openai has no API key; set OPENAI_API_KEY \
             (or SWITCHBOARD_MODEL__API_KEY)"
        ),
        "{log}"
    );
    server.kill();
}
