//! Text channels over real HTTP/WebSocket on loopback: the Twilio SMS webhook
//! (signature, idempotent retries, TwiML reply), SendGrid Inbound Parse, the Node
//! client gateway's authentication and error handling, its webhook form (no ids:
//! the model's reply as the answer, resends answered once), and the text agent's
//! tool loop against a local OpenAI-compatible chat server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use awc::ws::{Codec, Frame, Message};
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::carrier::twilio::signature;
use switchboard::messaging::tokens;
use switchboard::store::{self, appointments, node_clients, text_messages};

use crate::support::{Db, TestApp, CALLER, DIALLED};

const TOKEN: &str = "twilio-test-auth-token";
pub(crate) const AUTO: &str = "Thanks, we got your message.";

pub(crate) fn sms_form(sid: &str, body: &str) -> Vec<(String, String)> {
    [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", DIALLED),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", CALLER),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub(crate) async fn post_sms(
    app: &TestApp,
    params: &[(String, String)],
    sig: Option<&str>,
) -> (u16, String) {
    let mut req = awc::Client::default()
        .post(app.http_url("/sms/inbound"))
        .timeout(Duration::from_secs(20))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"));
    if let Some(sig) = sig {
        req = req.insert_header(("X-Twilio-Signature", sig));
    }
    let mut resp = req
        .send_body(serde_urlencoded::to_string(params).unwrap())
        .await
        .expect("POST /sms/inbound");
    let status = resp.status().as_u16();
    let body = resp.body().await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub(crate) fn pool(app: &TestApp) -> store::Pool {
    app.running.as_ref().unwrap().state.pool.clone()
}

pub(crate) fn tenant_messages(app: &TestApp) -> Vec<store::MessageRow> {
    let mut conn = pool(app).get().unwrap();
    text_messages::for_tenant(&mut conn, "acme-dental", 100).unwrap()
}

#[actix_rt::test]
async fn retried_message_sid_is_answered_once_on_sqlite() {
    retried_message_sid_is_answered_once(Db::Sqlite).await;
}

#[actix_rt::test]
async fn retried_message_sid_is_answered_once_on_postgres() {
    retried_message_sid_is_answered_once(Db::Postgres).await;
}

async fn retried_message_sid_is_answered_once(db: Db) {
    let app = TestApp::start_with(db, |c| {
        c.twilio.auth_token = Some(TOKEN.into());
        c.server.public_url = "https://sms.example.com".into();
        c.messaging.auto_reply = AUTO.into();
    })
    .await;
    let params = sms_form(
        "SM0123456789abcdef0123456789abcdef",
        "Are you open Saturday?",
    );
    let sig = signature::compute(TOKEN, "https://sms.example.com/sms/inbound", &params);
    let (status, first) = post_sms(&app, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{first}");
    assert!(
        first.contains(&format!("<Message>{AUTO}</Message>")),
        "{first}"
    );
    let rows = tenant_messages(&app);
    let inbound: Vec<_> = rows.iter().filter(|m| m.direction == "inbound").collect();
    assert_eq!(inbound.len(), 1, "{rows:?}");
    assert_eq!(inbound[0].body, "Are you open Saturday?");
    assert!(inbound[0].customer_id.is_some(), "not linked to a customer");
    assert_eq!(rows.len(), 2, "one inbound and one reply: {rows:?}");

    // Twilio retries the same MessageSid: same reply, nothing new stored.
    let (status, again) = post_sms(&app, &params, Some(&sig)).await;
    assert_eq!(status, 200);
    assert_eq!(again, first);
    assert_eq!(tenant_messages(&app).len(), 2);

    // A bad signature is refused and stores nothing.
    let other = sms_form("SM0000000000000000000000000000beef", "hi");
    let (status, _) = post_sms(&app, &other, Some(&sig)).await;
    assert_eq!(status, 403);
    let (status, _) = post_sms(&app, &other, None).await;
    assert_eq!(status, 403);
    assert_eq!(tenant_messages(&app).len(), 2);
    app.stop().await;
}

/// One request to the mail-send stand-in: its `Authorization` header and JSON body.
type MailSend = (Option<String>, Value);

#[actix_rt::test]
async fn sendgrid_parse_post_is_stored_and_answered_by_mail_send() {
    let sent: Arc<Mutex<Vec<MailSend>>> = Arc::default();
    let captured = sent.clone();
    let sendgrid = HttpServer::new(move || {
        let captured = captured.clone();
        App::new().route(
            "/v3/mail/send",
            web::post().to(move |req: actix_web::HttpRequest, body: web::Json<Value>| {
                let auth = req
                    .headers()
                    .get("Authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                captured.lock().unwrap().push((auth, body.into_inner()));
                async { HttpResponse::Accepted().finish() }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let base = format!("http://{}", sendgrid.addrs()[0]);
    let server = sendgrid.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.messaging.email_secret = Some("parse-secret".into());
        c.messaging.email_max_bytes = 8 * 1024;
        c.messaging.auto_reply = AUTO.into();
        c.sendgrid.api_base = base.clone();
        c.sendgrid.api_key = Some("SG.test".into());
    })
    .await;
    let part = |name: &str, value: &str| {
        format!("--xYzZY\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let body = [
        part(
            "headers",
            "Message-ID: <order-1234@sender.example>\r\nSubject: Order 1234",
        ),
        part("from", "Ana Example <ana@sender.example>"),
        part("to", "desk@acme.example"),
        part("subject", "Order 1234"),
        part("text", "Where is my order?"),
        part(
            "envelope",
            r#"{"to":["desk@acme.example"],"from":"ana@sender.example"}"#,
        ),
        part("attachments", "0"),
        "--xYzZY--\r\n".to_string(),
    ]
    .concat();
    let post = |url: String, body: String| async move {
        let resp = awc::Client::default()
            .post(url)
            .insert_header(("Content-Type", "multipart/form-data; boundary=xYzZY"))
            .send_body(body)
            .await
            .expect("POST /email/inbound");
        resp.status().as_u16()
    };
    assert_eq!(
        post(app.http_url("/email/inbound"), body.clone()).await,
        401
    );
    let url = app.http_url("/email/inbound?secret=parse-secret");
    assert_eq!(post(url.clone(), body.clone()).await, 200);
    assert_eq!(post(url.clone(), body.clone()).await, 200, "retry");
    let big = format!("{}{}--xYzZY--\r\n", part("text", &"x".repeat(9000)), "");
    assert_eq!(post(url, big).await, 413);

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sent.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one reply for one email: {sent:?}");
    assert_eq!(sent[0].0.as_deref(), Some("Bearer SG.test"));
    assert_eq!(
        sent[0].1["personalizations"][0]["to"][0]["email"],
        "ana@sender.example"
    );
    assert_eq!(sent[0].1["subject"], "Re: Order 1234");
    assert_eq!(sent[0].1["content"][0]["value"], AUTO);
    let rows = tenant_messages(&app);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().any(|m| m.channel == "email"
        && m.direction == "inbound"
        && m.provider_id.as_deref() == Some("<order-1234@sender.example>")));
    app.stop().await;
    handle.stop(false).await;
}

pub(crate) type Ws = actix_codec::Framed<awc::BoxedSocket, Codec>;

pub(crate) async fn ws_connect(app: &TestApp, token: Option<&str>) -> Result<Ws, u16> {
    let mut req = awc::Client::default().ws(format!(
        "ws://{}/supervisor",
        app.running.as_ref().unwrap().addr()
    ));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    match req.connect().await {
        Ok((_, ws)) => Ok(ws),
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Err(s.as_u16()),
        Err(e) => panic!("ws connect: {e}"),
    }
}

/// The next text message as JSON, or the close code.
pub(crate) async fn next(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Frame::Text(t)))) => return Ok(serde_json::from_slice(&t).unwrap()),
            Ok(Some(Ok(Frame::Close(reason)))) => return Err(reason.map(|r| u16::from(r.code))),
            Ok(Some(Ok(_))) => continue,
            other => panic!("no frame: {other:?}"),
        }
    }
}

pub(crate) async fn send(ws: &mut Ws, v: &str) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub(crate) fn add_client(app: &TestApp, expires_in: Option<chrono::Duration>) -> (String, String) {
    let mut conn = pool(app).get().unwrap();
    let (row, token) = tokens::create_client(
        &mut conn,
        "test",
        &["acme-dental".to_string()],
        expires_in.map(|d| (Utc::now() + d).naive_utc()),
    )
    .unwrap();
    (row.id, token)
}

#[actix_rt::test]
async fn node_gateway_refuses_bad_tokens_and_survives_bad_frames() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.messaging.auth_timeout_secs = 1;
        c.messaging.max_message_bytes = 4096;
    })
    .await;
    let (id, token) = add_client(&app, None);
    let (_, expired) = add_client(&app, Some(chrono::Duration::seconds(-5)));
    let (revoked_id, revoked) = add_client(&app, None);
    node_clients::revoke(
        &mut pool(&app).get().unwrap(),
        &revoked_id,
        Utc::now().naive_utc(),
    )
    .unwrap();

    assert_eq!(ws_connect(&app, Some("sbn_wrong")).await.err(), Some(401));
    assert_eq!(ws_connect(&app, Some(&expired)).await.err(), Some(401));
    assert_eq!(ws_connect(&app, Some(&revoked)).await.err(), Some(401));

    // Without a header: a wrong auth message gets auth_result success:false, then
    // 1008; no auth message in time closes with 1008.
    let mut ws = ws_connect(&app, None).await.unwrap();
    send(&mut ws, r#"{"type":"auth","token":"sbn_wrong"}"#).await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        json!({"type":"auth_result","success":false,"message":"unknown token"})
    );
    assert_eq!(next(&mut ws).await.err(), Some(Some(1008)));
    let mut ws = ws_connect(&app, None).await.unwrap();
    assert_eq!(next(&mut ws).await.err(), Some(Some(1008)), "auth timeout");
    let mut ws = ws_connect(&app, None).await.unwrap();
    send(
        &mut ws,
        &format!(r#"{{"type":"auth","id":"a1","token":"{expired}"}}"#),
    )
    .await;
    let refused = next(&mut ws).await.unwrap();
    assert_eq!(
        (&refused["id"], &refused["success"]),
        (&json!("a1"), &json!(false)),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("token expired"),
        "{refused}"
    );
    assert_eq!(next(&mut ws).await.err(), Some(Some(1008)), "expired");

    // A good auth message, then bad frames: each gets its error, the socket stays up.
    let mut ws = ws_connect(&app, None).await.unwrap();
    send(
        &mut ws,
        &format!(r#"{{"type":"auth","id":"a1","token":"{token}"}}"#),
    )
    .await;
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(
        (hello["type"].as_str(), hello["client_id"].as_str()),
        (Some("authenticated"), Some(id.as_str()))
    );
    for (frame, code) in [
        ("{not json", "malformed_json"),
        (r#"{"type":"fax_received","id":"f1"}"#, "unknown_type"),
        (
            r#"{"type":"sms_received","id":"s1","from":"+15550100001"}"#,
            "invalid_message",
        ),
        (r#"{"type":"delivered","id":"nope"}"#, "unknown_delivery"),
    ] {
        send(&mut ws, frame).await;
        let e = next(&mut ws).await.unwrap();
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}: {e}"
        );
    }
    send(&mut ws, r#"{"type":"ping","id":"p1"}"#).await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        json!({"type":"pong","id":"p1"})
    );

    // An oversized message closes with 1009; the server keeps serving others.
    let huge = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(5000));
    send(&mut ws, &huge).await;
    assert_eq!(next(&mut ws).await.err(), Some(Some(1009)));
    let mut again = ws_connect(&app, Some(&token)).await.unwrap();
    assert_eq!(next(&mut again).await.unwrap()["type"], "authenticated");
    send(&mut again, r#"{"type":"ping","id":2}"#).await;
    assert_eq!(
        next(&mut again).await.unwrap(),
        json!({"type":"pong","id":"2"})
    );
    app.stop().await;
}

/// A scripted OpenAI-compatible chat server on loopback: answers each
/// `/v1/chat/completions` with the next scripted body (the last one repeats) and
/// records the requests.
struct ChatServer {
    base: String,
    requests: Arc<Mutex<Vec<Value>>>,
    handle: actix_web::dev::ServerHandle,
}

impl ChatServer {
    fn start(script: Vec<Value>) -> ChatServer {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let seen = requests.clone();
        let script = Arc::new(script);
        let turn = Arc::new(AtomicUsize::new(0));
        let server = HttpServer::new(move || {
            let (seen, script, turn) = (seen.clone(), script.clone(), turn.clone());
            App::new().route(
                "/v1/chat/completions",
                web::post().to(move |body: web::Json<Value>| {
                    seen.lock().unwrap().push(body.into_inner());
                    let i = turn.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
                    let reply = script[i].clone();
                    async move { HttpResponse::Ok().json(reply) }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://{}/v1", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        ChatServer {
            base,
            requests,
            handle,
        }
    }
}

fn tool_call(id: &str, name: &str, args: Value) -> Value {
    json!({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":id,"type":"function","function":{"name":name,"arguments":args.to_string()}}]},"finish_reason":"tool_calls"}]})
}

fn text(content: &str) -> Value {
    json!({"id":"chatcmpl-2","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":content},"finish_reason":"stop"}]})
}

#[actix_rt::test]
async fn text_agent_books_from_an_sms_and_stops_at_the_iteration_limit() {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let day = Utc::now().with_timezone(&tz).date_naive() + chrono::Days::new(3);
    let chat = ChatServer::start(vec![
        tool_call(
            "call_1",
            "createBooking",
            json!({"customerName":"Dana Smith","customerPhone":CALLER,"service":"cleaning","dateTime":format!("{day}T10:00")}),
        ),
        text("You're booked for a cleaning at 10:00. See you then!"),
    ]);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.text_model.base_url = chat.base.clone();
        c.text_model.api_key = Some("sk-test".into());
        c.messaging.auto_reply = AUTO.into();
        let mut tenant = switchboard::tenant::TenantConfig::example();
        for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            tenant.business_hours.insert(d.into(), "09:00-17:00".into());
        }
        c.tenants = vec![tenant];
    })
    .await;
    let (status, twiml) = post_sms(
        &app,
        &sms_form(
            "SM00000000000000000000000000000001",
            "Hi, it's Dana Smith. Can I get a cleaning at 10 am in three days?",
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("booked for a cleaning at 10:00. See you then!</Message>"),
        "{twiml}"
    );
    let mut conn = pool(&app).get().unwrap();
    let from = day.and_hms_opt(0, 0, 0).unwrap();
    let booked = appointments::booked_between(
        &mut conn,
        "acme-dental",
        from,
        from + chrono::Duration::days(2),
    )
    .unwrap();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].service, "cleaning");
    let requests = chat.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let offered: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(
        offered.contains(&"createBooking") && offered.contains(&"takeMessage"),
        "{offered:?}"
    );
    assert!(!offered.contains(&"hangUp"), "{offered:?}");
    let last = requests[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "tool");
    assert!(
        !last["content"].as_str().unwrap().contains("\"error\""),
        "{last}"
    );
    drop(conn);
    app.stop().await;
    chat.handle.stop(false).await;

    // A model that never stops calling tools: the loop ends at max_iterations and
    // the customer gets the auto-reply.
    let looping = ChatServer::start(vec![tool_call(
        "call_x",
        "lookupCustomer",
        json!({"phone": CALLER}),
    )]);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.text_model.base_url = looping.base.clone();
        c.text_model.api_key = Some("sk-test".into());
        c.text_model.max_iterations = 3;
        c.messaging.auto_reply = AUTO.into();
    })
    .await;
    let (status, twiml) = post_sms(
        &app,
        &sms_form("SM00000000000000000000000000000002", "Who am I?"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains(&format!("<Message>{AUTO}</Message>")),
        "{twiml}"
    );
    assert_eq!(looping.requests.lock().unwrap().len(), 3);
    app.stop().await;
    looping.handle.stop(false).await;
}

#[actix_rt::test]
async fn silent_node_client_is_pinged_then_dropped() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.messaging.heartbeat_secs = 1;
        c.messaging.client_timeout_secs = 2;
    })
    .await;
    let (_, token) = add_client(&app, None);
    let mut ws = ws_connect(&app, Some(&token)).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "authenticated");
    // This client never answers pings: the server pings it, then drops it (1001).
    let started = std::time::Instant::now();
    let mut pinged = false;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Frame::Ping(_)))) => pinged = true,
            Ok(Some(Ok(Frame::Close(reason)))) => break reason.map(|r| u16::from(r.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close: {other:?}"),
        }
    };
    assert!(pinged, "no keepalive ping before the drop");
    assert_eq!(code, Some(1001));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

/// A chat-completions stand-in for the webhook form: answers `Answer: <last line
/// of the customer's text>`, after `slow` when the text contains "slow"; records
/// every customer text it was asked about.
pub(crate) struct EchoChat {
    pub(crate) base: String,
    asked: Arc<Mutex<Vec<String>>>,
    pub(crate) handle: actix_web::dev::ServerHandle,
}

impl EchoChat {
    pub(crate) fn start(slow: Duration) -> EchoChat {
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = asked.clone();
        let server = HttpServer::new(move || {
            let seen = seen.clone();
            App::new().route(
                "/v1/chat/completions",
                web::post().to(move |body: web::Json<Value>| {
                    let user = body["messages"]
                        .as_array()
                        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                        .and_then(|m| m["content"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().unwrap().push(user.clone());
                    async move {
                        if user.contains("slow") {
                            tokio::time::sleep(slow).await;
                        }
                        let line = user.lines().last().unwrap_or_default();
                        HttpResponse::Ok().json(text(&format!("Answer: {line}")))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://{}/v1", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        EchoChat {
            base,
            asked,
            handle,
        }
    }

    /// How many chat requests were about a text containing `needle`.
    pub(crate) fn times_asked(&self, needle: &str) -> usize {
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.contains(needle))
            .count()
    }
}

/// Connects without a header and authenticates the way existing webhook servers
/// do: `{"type":"auth","token":…}` on open, then `auth_result`.
async fn webhook_connect(app: &TestApp, token: &str) -> Ws {
    let mut ws = ws_connect(app, None).await.unwrap();
    send(&mut ws, &json!({"type":"auth","token":token}).to_string()).await;
    let result = next(&mut ws).await.unwrap();
    assert_eq!(
        (result["type"].as_str(), result["success"].as_bool()),
        (Some("auth_result"), Some(true)),
        "{result}"
    );
    assert!(result.get("id").is_none(), "{result}");
    ws
}

fn sms(message: &str, user: &str) -> String {
    json!({"type":"sms_received","from":CALLER,"to":DIALLED,"message":message,"user":user})
        .to_string()
}

/// The one inbound row with this text, and every reply stored to it.
fn rows_for(app: &TestApp, body: &str) -> (Vec<store::MessageRow>, Vec<store::MessageRow>) {
    let rows = tenant_messages(app);
    let inbound: Vec<_> = rows
        .iter()
        .filter(|m| m.direction == "inbound" && m.body == body)
        .cloned()
        .collect();
    let replies = rows
        .iter()
        .filter(|m| {
            m.direction == "outbound"
                && inbound
                    .iter()
                    .any(|i| m.in_reply_to.as_deref() == Some(i.id.as_str()))
        })
        .cloned()
        .collect();
    (inbound, replies)
}

/// Waits until the reply to the inbound message with this text is stored.
async fn wait_reply_stored(app: &TestApp, body: &str) -> store::MessageRow {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(reply) = rows_for(app, body).1.into_iter().next() {
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reply stored to {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Outbox rows (answers written to webhook-form clients, id-form responses).
pub(crate) fn outbox_rows(app: &TestApp) -> Vec<store::OutboxRow> {
    use diesel::prelude::*;
    use switchboard::store::schema::outbox;
    let mut conn = pool(app).get().unwrap();
    outbox::table
        .select(store::OutboxRow::as_select())
        .load(&mut conn)
        .unwrap()
}

/// The next message must be the `pong` to a bare `ping`: proves nothing else was
/// sent to this client since the last message read.
pub(crate) async fn assert_nothing_else_sent(ws: &mut Ws) {
    send(ws, r#"{"type":"ping"}"#).await;
    assert_eq!(next(ws).await.unwrap(), json!({"type":"pong"}));
}

#[actix_rt::test]
async fn webhook_form_client_gets_the_model_reply_and_resends_are_answered_once_on_sqlite() {
    webhook_form_client_gets_the_model_reply_and_resends_are_answered_once(Db::Sqlite).await;
}

#[actix_rt::test]
async fn webhook_form_client_gets_the_model_reply_and_resends_are_answered_once_on_postgres() {
    webhook_form_client_gets_the_model_reply_and_resends_are_answered_once(Db::Postgres).await;
}

/// An existing webhook server's wire (no ids): the model's reply is the answer,
/// a slower reply gets `message_acknowledged` and is never pushed, a resend (also
/// after a reconnect) is answered from the stored reply — one row per inbound
/// message and one model call each.
async fn webhook_form_client_gets_the_model_reply_and_resends_are_answered_once(db: Db) {
    let chat = EchoChat::start(Duration::from_millis(2500));
    let app = TestApp::start_with(db, |c| {
        c.text_model.base_url = chat.base.clone();
        c.text_model.api_key = Some("sk-test".into());
        c.messaging.sync_reply_ms = 1000;
        c.messaging.auto_reply = AUTO.into();
    })
    .await;
    let (_, token) = add_client(&app, None);
    let mut ws = webhook_connect(&app, &token).await;

    // Answered in time: the agent's words, for the user who asked.
    let quick = "Do you have Tuesday morning free?";
    send(&mut ws, &sms(quick, "u-1")).await;
    let answer = next(&mut ws).await.unwrap();
    assert_eq!(answer["type"], "send_sms_response", "{answer}");
    assert_eq!(answer["message"], format!("Answer: {quick}"));
    assert_eq!(answer["body"], answer["message"]);
    assert_eq!(
        (answer["user"].as_str(), answer["to"].as_str()),
        (Some("u-1"), Some(CALLER))
    );
    assert!(
        answer.get("id").is_none() && answer.get("in_reply_to").is_none(),
        "{answer}"
    );
    // The same SMS again (a client retrying): the same answer, nothing new.
    send(&mut ws, &sms(quick, "u-1")).await;
    let again = next(&mut ws).await.unwrap();
    assert_eq!(again["message"], answer["message"], "{again}");
    assert_eq!(again["message_id"], answer["message_id"]);

    // An email, answered the same way.
    let email = json!({"type":"email_received","from":"dana@example.com","to":"desk@acme.example",
        "subject":"Hours","body":"Are you open Saturday?","user":"dana"});
    send(&mut ws, &email.to_string()).await;
    let mail = next(&mut ws).await.unwrap();
    assert_eq!(mail["type"], "send_email_response", "{mail}");
    assert_eq!(
        (
            mail["to"].as_str(),
            mail["subject"].as_str(),
            mail["body"].as_str(),
            mail["user"].as_str()
        ),
        (
            Some("dana@example.com"),
            Some("Re: Hours"),
            Some("Answer: Are you open Saturday?"),
            Some("dana")
        )
    );

    // Slower than sync_reply_ms: acknowledged; the late reply is stored, not sent.
    let late = "slow: please call me back";
    let asked = std::time::Instant::now();
    send(&mut ws, &sms(late, "u-2")).await;
    let ack = next(&mut ws).await.unwrap();
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["message_type"].as_str(),
            ack["user"].as_str()
        ),
        (Some("message_acknowledged"), Some("sms"), Some("u-2")),
        "{ack}"
    );
    assert!(ack.get("id").is_none(), "{ack}");
    chrono::DateTime::parse_from_rfc3339(ack["timestamp"].as_str().unwrap()).expect("RFC 3339");
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "{:?}",
        asked.elapsed()
    );
    let stored = wait_reply_stored(&app, late).await;
    assert_eq!(stored.body, format!("Answer: {late}"));
    assert_nothing_else_sent(&mut ws).await;
    // Resent after the reply was written: answered from it, no second model call.
    send(&mut ws, &sms(late, "u-2")).await;
    let answer = next(&mut ws).await.unwrap();
    assert_eq!(
        (answer["type"].as_str(), answer["message"].as_str()),
        (Some("send_sms_response"), Some(stored.body.as_str())),
        "{answer}"
    );

    // The client goes away before its answer: nothing is written or recorded as
    // delivered; reconnected, its resend gets the stored reply at once.
    let gone = "slow: are you still there?";
    send(&mut ws, &sms(gone, "u-3")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    ws.send(Message::Close(None)).await.unwrap();
    drop(ws);
    let stored = wait_reply_stored(&app, gone).await;
    let (inbound, _) = rows_for(&app, gone);
    assert_eq!(inbound.len(), 1);
    let written_for = |id: &str| {
        outbox_rows(&app)
            .into_iter()
            .filter(|r| r.payload.contains(id))
            .inspect(|r| assert!(r.delivered_at.is_some(), "{r:?}"))
            .count()
    };
    assert_eq!(
        written_for(&inbound[0].id),
        0,
        "recorded as delivered to a closed socket"
    );
    let mut ws = webhook_connect(&app, &token).await;
    let asked = std::time::Instant::now();
    send(&mut ws, &sms(gone, "u-3")).await;
    let answer = next(&mut ws).await.unwrap();
    assert_eq!(
        answer["message"].as_str(),
        Some(stored.body.as_str()),
        "{answer}"
    );
    assert!(
        asked.elapsed() < Duration::from_millis(900),
        "answered from the store"
    );
    assert_nothing_else_sent(&mut ws).await;
    // Recorded as delivered once written (the router stores it asynchronously).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while written_for(&inbound[0].id) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(written_for(&inbound[0].id), 1);

    // One inbound row and one reply per message, one model call each.
    for text in [quick, "Are you open Saturday?", late, gone] {
        let (inbound, replies) = rows_for(&app, text);
        assert_eq!(
            (inbound.len(), replies.len()),
            (1, 1),
            "{text}: {inbound:?} {replies:?}"
        );
        assert_eq!(chat.times_asked(text), 1, "{text}");
    }
    assert_eq!(tenant_messages(&app).len(), 8);
    app.stop().await;
    chat.handle.stop(false).await;
}

/// Without a text model the webhook form is acknowledged at once (the client
/// answers with its own AI; the auto-reply is not sent), and such a session,
/// which never sends `delivered`, is not handed other clients' outbox responses.
#[actix_rt::test]
async fn webhook_form_without_a_text_model_is_acknowledged_at_once() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.text_model.api_key = None;
        c.messaging.auto_reply = AUTO.into();
    })
    .await;
    let (_, token) = add_client(&app, None);
    let mut webhook = webhook_connect(&app, &token).await;
    let asked = std::time::Instant::now();
    send(&mut webhook, &sms("Open on Sunday?", "u-9")).await;
    let ack = next(&mut webhook).await.unwrap();
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["message_type"].as_str(),
            ack["user"].as_str()
        ),
        (Some("message_acknowledged"), Some("sms"), Some("u-9")),
        "{ack}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let email = json!({"type":"email_received","from":"dana@example.com","to":"desk@acme.example",
        "subject":"Hours","body":"Open on Sunday?","user":"dana"});
    send(&mut webhook, &email.to_string()).await;
    let ack = next(&mut webhook).await.unwrap();
    assert_eq!(ack["message_type"], "email", "{ack}");
    let rows = tenant_messages(&app);
    assert_eq!(rows.len(), 2, "stored, not answered: {rows:?}");
    assert!(rows.iter().all(|m| m.direction == "inbound"));

    // An id-form client of the same tenant gets its (auto-)reply through the
    // outbox; the webhook-form session, though connected, is never sent it.
    let mut ours = ws_connect(&app, Some(&token)).await.unwrap();
    assert_eq!(next(&mut ours).await.unwrap()["type"], "authenticated");
    send(
        &mut ours,
        &json!({"type":"sms_received","id":"s1","from":CALLER,"to":DIALLED,"message":"Hi"})
            .to_string(),
    )
    .await;
    // The id form correlates by id, so the instant auto-reply may overtake the ack.
    let mut two = [
        next(&mut ours).await.unwrap(),
        next(&mut ours).await.unwrap(),
    ];
    two.sort_by_key(|m| m["type"].as_str().unwrap_or_default().to_string());
    assert_eq!(two[0]["type"], "message_acknowledged", "{two:?}");
    assert_eq!(
        (
            two[1]["type"].as_str(),
            two[1]["body"].as_str(),
            two[1]["in_reply_to"].as_str()
        ),
        (Some("send_sms_response"), Some(AUTO), Some("s1"))
    );
    ours.send(Message::Close(None)).await.unwrap();
    drop(ours);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_nothing_else_sent(&mut webhook).await;
    app.stop().await;
}

/// The text agent is bound to the sender the same way a call is to its
/// caller: an SMS from another number asking to cancel Dana's booking gets
/// the refusal, and the booking stays.
#[actix_rt::test]
async fn an_sms_from_another_number_cannot_cancel_a_booking() {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let day = Utc::now().with_timezone(&tz).date_naive() + chrono::Days::new(3);
    let chat = ChatServer::start(vec![
        tool_call(
            "call_1",
            "cancelBooking",
            json!({"customerPhone": CALLER, "appointmentDate": day.to_string()}),
        ),
        text("Sorry, I can only change bookings for the number texting."),
    ]);
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.text_model.base_url = chat.base.clone();
        c.text_model.api_key = Some("sk-test".into());
        let mut tenant = switchboard::tenant::TenantConfig::example();
        for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
            tenant.business_hours.insert(d.into(), "09:00-17:00".into());
        }
        c.tenants = vec![tenant];
    })
    .await;
    let tools = app.running.as_ref().unwrap().state.tools.clone();
    let ctx = switchboard::tools::ToolContext {
        call_id: None,
        call_sid: None,
        tenant: std::sync::Arc::new(app.running.as_ref().unwrap().state.config.tenants[0].clone()),
        caller: Some(CALLER.into()),
        carrier: None,
        conversation: Vec::new(),
    };
    let book = json!({"customerName": "Dana Smith", "service": "cleaning", "dateTime": format!("{day}T10:00")});
    let run =
        switchboard::tools::run_tool(tools, ctx, "b", "createBooking", &book.to_string()).await;
    assert!(!run.is_error, "{}", run.output);

    let mut form = sms_form(
        "SM00000000000000000000000000000091",
        "Cancel my wife's cleaning please",
    );
    for (k, v) in form.iter_mut() {
        if k == "From" {
            *v = "+15550109999".into();
        }
    }
    let (status, _) = post_sms(&app, &form, None).await;
    assert_eq!(status, 200);
    let requests = chat.requests.lock().unwrap().clone();
    let told = requests[1]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(told["role"], "tool");
    assert!(
        told["content"]
            .as_str()
            .unwrap()
            .contains("take a message for the office"),
        "{told}"
    );
    let mut conn = pool(&app).get().unwrap();
    let from = day.and_hms_opt(0, 0, 0).unwrap();
    let booked = appointments::booked_between(
        &mut conn,
        "acme-dental",
        from,
        from + chrono::Duration::days(2),
    )
    .unwrap();
    assert_eq!(booked.len(), 1, "the booking stayed: {booked:?}");
    drop(conn);
    app.stop().await;
    chat.handle.stop(false).await;
}
