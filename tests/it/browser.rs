//! Browser softphone edge: token and origin checks before the upgrade, frame size
//! limits, and a call over `/browser` with PCM16 24 kHz audio both ways.

use std::time::Duration;

use actix_codec::Framed;
use awc::error::WsClientError;
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use switchboard::audio::format::{encode_pcm, AudioFormat};
use switchboard::audio::wav::read_wav;

use crate::support::{asset, TestApp, ADMIN};

pub async fn new_session(app: &TestApp) -> String {
    let mut resp = awc::Client::default()
        .post(app.http_url("/api/sessions"))
        .bearer_auth(ADMIN)
        .send_json(&serde_json::json!({"tenant": "acme-dental"}))
        .await
        .expect("POST /api/sessions");
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.expect("JSON");
    assert!(body["sessionId"].as_str().unwrap_or("").starts_with("BR"));
    assert_eq!(body["expiresIn"], 60);
    body["token"].as_str().expect("token").to_string()
}

pub fn origin(app: &TestApp) -> String {
    app.http_url("").trim_end_matches('/').to_string()
}

pub async fn open(
    app: &TestApp,
    token: &str,
    origin: Option<&str>,
) -> Result<Framed<BoxedSocket, Codec>, u16> {
    let mut req = awc::Client::new()
        .ws(format!(
            "{}?token={token}",
            app.http_url("/browser").replacen("http", "ws", 1)
        ))
        .max_frame_size(1 << 20);
    if let Some(o) = origin {
        req = req.origin(o);
    }
    match req.connect().await {
        Ok((_, framed)) => Ok(framed),
        Err(WsClientError::InvalidResponseStatus(status)) => Err(status.as_u16()),
        Err(e) => panic!("unexpected upgrade error: {e}"),
    }
}

/// The close code the server ends the socket with (None = no close within 5 s).
async fn close_code(framed: &mut Framed<BoxedSocket, Codec>) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, framed.next()).await {
        if let Ok(Frame::Close(reason)) = frame {
            return reason.map(|r| u16::from(r.code));
        }
    }
    None
}

#[actix_rt::test]
async fn browser_tokens_and_origins_are_checked_before_upgrade() {
    let app = TestApp::start().await;
    let unauth = awc::Client::default()
        .post(app.http_url("/api/sessions"))
        .send()
        .await
        .expect("POST");
    assert_eq!(
        unauth.status().as_u16(),
        401,
        "sessions need the admin token"
    );

    let token = new_session(&app).await;
    assert_eq!(
        open(&app, &token, Some("https://evil.example")).await.err(),
        Some(403)
    );
    assert_eq!(open(&app, &token, None).await.err(), Some(403));
    assert_eq!(
        open(&app, "not-a-token", Some(&origin(&app))).await.err(),
        Some(401)
    );

    // A wrong origin must not have spent the token; the first good upgrade does.
    let mut socket = open(&app, &token, Some(&origin(&app)))
        .await
        .expect("upgrade");
    assert_eq!(
        open(&app, &token, Some(&origin(&app))).await.err(),
        Some(401),
        "token reuse"
    );
    socket
        .send(Message::Text(r#"{"type":"hangup"}"#.into()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1000));
    app.stop().await;
}

#[actix_rt::test]
async fn oversized_browser_frames_close_with_1009() {
    let app = TestApp::start().await;
    let mut socket = open(&app, &new_session(&app).await, Some(&origin(&app)))
        .await
        .expect("upgrade");
    socket
        .send(Message::Binary(vec![0u8; 100 * 1024 + 2].into()))
        .await
        .expect("send");
    assert_eq!(
        close_code(&mut socket).await,
        Some(1009),
        "audio over 100 KB"
    );

    let mut socket = open(&app, &new_session(&app).await, Some(&origin(&app)))
        .await
        .expect("upgrade");
    let big = format!(r#"{{"type":"mark","name":"{}"}}"#, "x".repeat(11 * 1024));
    socket.send(Message::Text(big.into())).await.expect("send");
    assert_eq!(close_code(&mut socket).await, Some(1009), "JSON over 10 KB");
    app.stop().await;
}

#[actix_rt::test]
async fn browser_call_hears_the_receptionist_and_sees_the_transcript() {
    let app = TestApp::start().await;
    let mut socket = open(&app, &new_session(&app).await, Some(&origin(&app)))
        .await
        .expect("upgrade");
    let pcm = read_wav(&asset("assets/audio/caller-booking.wav")).expect("wav");
    let audio = encode_pcm(AudioFormat::Pcm24k, &pcm).expect("24 kHz PCM");
    let silence = vec![0u8; 9600]; // 200 ms
    for chunk in audio
        .chunks(9600)
        .chain(std::iter::repeat_n(&silence[..], 10))
    {
        socket
            .send(Message::Binary(bytes::Bytes::copy_from_slice(chunk)))
            .await
            .expect("send audio");
    }
    let mut reply_bytes = 0usize;
    let mut assistant = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while assistant.is_none() || reply_bytes < 48_000 {
        let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, socket.next()).await else {
            break;
        };
        match frame {
            Frame::Binary(b) => reply_bytes += b.len(),
            Frame::Text(t) => {
                let v: Value = serde_json::from_slice(&t).expect("JSON");
                if v["type"] == "mark" {
                    socket
                        .send(Message::Text(t.slice(..).try_into().expect("utf8")))
                        .await
                        .expect("echo mark");
                }
                if v["type"] == "transcript" && v["role"] == "assistant" {
                    assistant = v["text"].as_str().map(str::to_string);
                }
            }
            _ => {}
        }
        // Keep the line alive like a microphone would.
        socket
            .send(Message::Binary(bytes::Bytes::from_static(&[0u8; 960])))
            .await
            .expect("send");
    }
    assert!(
        assistant
            .as_deref()
            .unwrap_or("")
            .contains("Tuesday morning"),
        "assistant transcript: {assistant:?}"
    );
    assert!(
        reply_bytes >= 48_000,
        "only {reply_bytes} bytes of reply audio (< 1 s)"
    );
    app.stop().await;
}
