//! Issue 25: each business sees only its own data. Two tenants share one
//! server: A (Acme Dental) and B (Grok Plumbing), each with a stored call, a
//! taken message, a voicemail, a booking, a notification, an SMS and a live
//! call. The router's own route table (`http::routes::table`) is walked for
//! every route × {anonymous, owner of A, staff of A, owner of B, A's
//! read-only token, admin}: each answer is the status the route's access
//! level and the object's tenant call for, B's data never appears in an
//! answer to A's principals (nor A's in B's), and another tenant's object is
//! answered exactly like one that does not exist. A route this test has no
//! decision for fails it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use awc::http::Method;
use chrono::Utc;
use serde_json::{json, Value};
use switchboard::accounts::{tokens, users, Access, Role};
use switchboard::far_end::{CallSetup, LogFeed, TwilioCall};
use switchboard::store::{self, DbConnection};
use switchboard::tenant::TenantConfig;

use crate::support::{TestApp, ADMIN, DIALLED};

const A: &str = "acme-dental";
const B: &str = "grok-plumbing";
const B_NUMBER: &str = "+15550200000";
/// The password of every test account.
const PASSWORD: &str = "correct horse battery staple";

/// What a tenant's seeded data is recognised by in any answer.
struct Marks {
    tenant: &'static str,
    /// In caller names, messages, bodies.
    word: &'static str,
    /// The caller's number.
    caller: &'static str,
}

const A_MARKS: Marks = Marks {
    tenant: A,
    word: "alphamark",
    caller: "+15550111111",
};
const B_MARKS: Marks = Marks {
    tenant: B,
    word: "bravomark",
    caller: "+15550222222",
};

/// The objects of one tenant the routes are asked about.
#[derive(Debug, Clone)]
struct Seed {
    call: String,
    message: String,
    voicemail: String,
    live_call: String,
}

fn tenant_b() -> TenantConfig {
    let mut t = TenantConfig::example();
    t.id = B.into();
    t.name = "Grok Plumbing".into();
    t.phone_numbers = vec![B_NUMBER.into()];
    t
}

fn wav() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/audio/voicemail-prompt.wav"
    ))
    .expect("wav")
}

/// One tenant's stored rows, every text carrying its marks, and a recording
/// of its call in `recordings`.
fn seed_rows(conn: &mut DbConnection, m: &Marks, recordings: &Path) -> (String, String, String) {
    let now = Utc::now().naive_utc();
    let call = uuid::Uuid::new_v4().to_string();
    store::calls::insert_started(
        conn,
        &store::NewCall {
            id: call.clone(),
            tenant_id: Some(m.tenant.into()),
            carrier: "twilio".into(),
            carrier_call_sid: Some(format!("CA{}", uuid::Uuid::new_v4().simple())),
            stream_sid: None,
            from_number: Some(m.caller.into()),
            to_number: Some(DIALLED.into()),
            status: "completed".into(),
            model_provider: None,
            started_at: now - chrono::Duration::minutes(5),
            ended_at: Some(now - chrono::Duration::minutes(4)),
            duration_ms: Some(60_000),
            ended_reason: Some("caller_hangup".into()),
            link_restarts: 0,
            node_id: None,
        },
    )
    .expect("call");
    let file = format!("{}/2026-12-05/{call}.wav", m.tenant);
    std::fs::create_dir_all(recordings.join(m.tenant).join("2026-12-05")).expect("folder");
    std::fs::write(recordings.join(&file), wav()).expect("recording");
    store::calls::set_recording(conn, &call, &file, None).expect("recording noted");
    let message = |id: String, kind: &str| store::CallerMessageRow {
        id,
        tenant_id: m.tenant.into(),
        call_id: Some(call.clone()),
        kind: kind.into(),
        caller_name: format!("Dana {}", m.word),
        caller_phone: Some(m.caller.into()),
        message: format!("Please call back about the {} invoice", m.word),
        urgency: "normal".into(),
        created_at: now,
        status: "new".into(),
        handled_by: None,
        handled_at: None,
    };
    let taken = uuid::Uuid::new_v4().to_string();
    store::caller_messages::insert(conn, &message(taken.clone(), "message")).expect("message");
    let voicemail = uuid::Uuid::new_v4().to_string();
    store::voicemails::insert(
        conn,
        &message(voicemail.clone(), "voicemail"),
        &store::VoicemailRow {
            message_id: voicemail.clone(),
            call_id: Some(call.clone()),
            source: "local".into(),
            recording_sid: None,
            content_type: "audio/wav".into(),
            duration_ms: 1000,
            audio: wav(),
            created_at: now,
        },
    )
    .expect("voicemail");
    let customer = store::customers::upsert_by_phone(
        conn,
        m.tenant,
        m.caller,
        Some(&format!("Dana {}", m.word)),
        None,
        now,
    )
    .expect("customer");
    let starts = now + chrono::Duration::days(3);
    store::appointments::insert(
        conn,
        &store::AppointmentRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: m.tenant.into(),
            customer_id: customer.id,
            service: "cleaning".into(),
            starts_at: starts,
            ends_at: starts + chrono::Duration::hours(1),
            status: "booked".into(),
            call_id: Some(call.clone()),
            created_at: now,
            calendar_href: None,
            calendar_etag: None,
        },
    )
    .expect("appointment");
    store::notifications::enqueue(
        conn,
        &[store::NotificationRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: m.tenant.into(),
            event_key: format!("message_taken:{taken}"),
            event: "message_taken".into(),
            urgent: false,
            channel: "sms".into(),
            recipient: "+15550999999".into(),
            subject: format!("Message from Dana {}", m.word),
            body: format!("Dana {} called from {}", m.word, m.caller),
            call_id: Some(call.clone()),
            status: "sent".into(),
            attempts: 1,
            next_attempt_at: now,
            last_error: None,
            provider_id: None,
            created_at: now,
            sent_at: Some(now),
        }],
    )
    .expect("notification");
    store::text_messages::insert(
        conn,
        &store::MessageRow {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: Some(m.tenant.into()),
            channel: "sms".into(),
            direction: "inbound".into(),
            provider_id: Some(format!("SM{}", uuid::Uuid::new_v4().simple())),
            customer_id: None,
            from_addr: m.caller.into(),
            to_addr: DIALLED.into(),
            subject: None,
            body: format!("Is the {} quote ready?", m.word),
            in_reply_to: None,
            created_at: now,
        },
    )
    .expect("sms");
    (call, taken, voicemail)
}

/// A principal of the matrix and how its requests are signed.
#[derive(Debug, Clone)]
enum Who {
    Anonymous,
    /// A session cookie from `POST /api/login` (sent with our own `Origin`).
    Cookie(&'static str, String),
    /// `Authorization: Bearer …`.
    Bearer(&'static str, String),
}

impl Who {
    fn name(&self) -> &'static str {
        match self {
            Who::Anonymous => "anonymous",
            Who::Cookie(n, _) | Who::Bearer(n, _) => n,
        }
    }
}

/// What a principal is in the matrix: who, whose objects it asks about,
/// which tenant's marks must never appear in its answers, and what it passes.
struct Asker {
    who: Who,
    /// The tenant whose objects are in the path (`A` for all but the admin,
    /// who is asked about B's, which it sees like any other).
    target: &'static str,
    /// Sees the target's objects.
    sees_target: bool,
    /// The marks that must not appear in its answers.
    foreign: Option<&'static Marks>,
    /// The levels it passes (Public and Read for everyone authenticated).
    handle: bool,
    manage: bool,
}

/// Sends `method path` as `who`; status and body text.
async fn send(
    app: &TestApp,
    who: &Who,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let url = app.http_url(path);
    let mut req = awc::Client::default().request(method.clone(), &url);
    match who {
        Who::Anonymous => {}
        Who::Cookie(_, cookie) => {
            req = req
                .insert_header(("Cookie", format!("sb_session={cookie}")))
                .insert_header(("Origin", app.http_url("")));
        }
        Who::Bearer(_, token) => req = req.bearer_auth(token),
    }
    let sent = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    };
    let mut resp = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(4 << 20).await.expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Signs `email` in; the session cookie's value.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let mut resp = awc::Client::default()
        .post(app.http_url("/api/login"))
        .send_json(&json!({"email": email, "password": PASSWORD}))
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 200, "{email} signs in");
    let header = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{email}: no session cookie"))
        .to_string();
    let cookie = actix_web::cookie::Cookie::parse(header.clone()).expect("cookie parses");
    assert_eq!(cookie.name(), "sb_session", "{header}");
    assert_eq!(cookie.http_only(), Some(true), "HttpOnly: {header}");
    assert_eq!(
        cookie.same_site(),
        Some(actix_web::cookie::SameSite::Strict),
        "SameSite=Strict: {header}"
    );
    assert_eq!(cookie.path(), Some("/"), "{header}");
    assert_ne!(
        cookie.secure(),
        Some(true),
        "plain http here: not Secure: {header}"
    );
    let _ = resp.body().await;
    cookie.value().to_string()
}

/// How a route is asked about: the path with the target's object in it, and
/// a body that is valid for it.
fn request_for(route: &str, method: &Method, seed: &Seed, tenant: &str) -> (String, Option<Value>) {
    let path = route
        .replace("{grant}", "no-such-grant")
        // A number nobody called from: erasing it leaves the seed intact.
        .replace("{phone}", "%2B15550177777")
        .replace("{id}", "{ID}");
    let id = match (method.as_str(), route) {
        ("POST", "/api/calls/{id}/hangup")
        | ("POST", "/api/calls/{id}/transfer")
        | ("POST", "/api/calls/{id}/session")
        | ("POST", "/api/calls/{id}/recording") => seed.live_call.clone(),
        ("GET", "/api/calls/{id}") | ("GET", "/api/calls/{id}/recording") => seed.call.clone(),
        ("PATCH", "/api/caller-messages/{id}") => seed.message.clone(),
        ("GET", "/api/caller-messages/{id}/audio") => seed.voicemail.clone(),
        ("PUT", "/api/tenants/{id}/session") => tenant.to_string(),
        _ => String::new(),
    };
    let path = path.replace("{ID}", &id);
    let body = match (method.as_str(), route) {
        ("POST", "/api/calls") => Some(json!({"tenant": tenant, "to": "+15550133333"})),
        ("POST", "/api/sessions") => Some(json!({"tenant": tenant})),
        ("POST", "/api/calls/{id}/transfer") => Some(json!({"reason": "billing question"})),
        ("POST", "/api/calls/{id}/session") => Some(json!({"instructions": "Be brief."})),
        ("POST", "/api/calls/{id}/recording") => Some(json!({"action": "start"})),
        ("PATCH", "/api/caller-messages/{id}") => Some(json!({"status": "read"})),
        ("PUT", "/api/tenants/{id}/session") => Some(json!({"instructions": "Be brief."})),
        _ => None,
    };
    (path, body)
}

/// The same request about an object that does not exist (another tenant's
/// must be answered exactly so).
fn request_for_nothing(route: &str, method: &Method, tenant: &str) -> (String, Option<Value>) {
    let none = Seed {
        call: "00000000-0000-4000-8000-000000000000".into(),
        message: "00000000-0000-4000-8000-000000000001".into(),
        voicemail: "00000000-0000-4000-8000-000000000002".into(),
        live_call: "00000000-0000-4000-8000-000000000003".into(),
    };
    let tenant = if tenant.is_empty() {
        "no-such-tenant"
    } else {
        tenant
    };
    request_for(route, method, &none, tenant)
}

/// Every route and the decision this test expects for it; the router's table
/// must list exactly these.
fn decisions() -> BTreeMap<(String, &'static str), Access> {
    use Access::*;
    let all: &[(&str, &str, Access)] = &[
        ("POST", "/twiml", Public),
        ("GET", "/twiml", Public),
        ("GET", "/media-stream", Public),
        ("GET", "/media-stream/{grant}", Public),
        ("POST", "/twiml/voicemail/done", Public),
        ("POST", "/twiml/voicemail/recording", Public),
        ("POST", "/twiml/amd", Public),
        ("POST", "/twiml/screen", Public),
        ("POST", "/twiml/screen-result", Public),
        ("POST", "/twiml/dial-action", Public),
        ("GET", "/jambonz", Public),
        ("POST", "/openai/webhook", Public),
        ("GET", "/browser", Public),
        ("POST", "/api/sessions", Manage),
        ("POST", "/sms/inbound", Public),
        ("GET", "/sms/inbound", Public),
        ("POST", "/email/inbound", Public),
        ("GET", "/supervisor", Public),
        ("GET", "/health", Public),
        ("GET", "/metrics", Public),
        ("GET", "/tools", Public),
        ("GET", "/", Public),
        ("POST", "/api/login", Public),
        ("POST", "/api/logout", Read),
        ("GET", "/api/me", Read),
        ("GET", "/api/audit", Manage),
        ("GET", "/logs", Read),
        ("POST", "/api/logs/ticket", Read),
        ("GET", "/api/calls", Read),
        ("POST", "/api/calls", Manage),
        ("GET", "/api/calls/live", Read),
        ("POST", "/api/calls/{id}/hangup", Manage),
        ("POST", "/api/calls/{id}/transfer", Handle),
        ("POST", "/api/calls/{id}/session", Manage),
        ("POST", "/api/calls/{id}/recording", Manage),
        ("GET", "/api/calls/{id}/recording", Read),
        ("GET", "/api/calls/{id}", Read),
        ("GET", "/api/tenants", Read),
        ("PUT", "/api/tenants/{id}/session", Manage),
        ("GET", "/api/messages", Read),
        ("GET", "/api/caller-messages", Read),
        ("PATCH", "/api/caller-messages/{id}", Handle),
        ("GET", "/api/caller-messages/{id}/audio", Read),
        ("GET", "/api/appointments", Read),
        ("GET", "/api/notifications", Read),
        ("GET", "/api/settings", Read),
        ("GET", "/calendar/{feed}", Public),
        ("DELETE", "/api/callers/{phone}", Manage),
    ];
    all.iter()
        .map(|(m, p, a)| ((m.to_string(), *p), *a))
        .collect()
}

/// Routes about one object of a tenant (the rest are collections, filtered).
fn is_object_route(method: &Method, route: &str) -> bool {
    route.contains("{id}")
        || (method == Method::POST && ["/api/calls", "/api/sessions"].contains(&route))
}

fn assert_no_marks(answer: &str, marks: &Marks, context: &str) {
    for needle in [marks.word, marks.caller, marks.tenant] {
        assert!(
            !answer.contains(needle),
            "{context}: the answer carries another tenant's {needle:?}: {answer}"
        );
    }
}

/// Waits until `/api/calls/live` (admin) lists the call of `call_sid`; its id.
async fn live_call_id(app: &TestApp, call_sid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = app.get_json("/api/calls/live").await;
        if let Some(e) = body["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["call_sid"] == call_sid)
        {
            return e["call_id"].as_str().expect("id").to_string();
        }
        assert!(
            Instant::now() < deadline,
            "call {call_sid} never live: {body}"
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A live Twilio-shaped call from `m.caller` to `to`.
async fn live_call(app: &TestApp, m: &Marks, to: &str) -> (TwilioCall, String) {
    let setup = CallSetup::new(app.media_url())
        .with_parameter("from", m.caller)
        .with_parameter("to", to);
    let call = TwilioCall::connect(setup).await.expect("call connects");
    let id = live_call_id(app, call.call_sid()).await;
    (call, id)
}

async fn two_tenants() -> TestApp {
    TestApp::start_with(crate::support::Db::Sqlite, |c| {
        c.tenants.push(tenant_b());
        c.calls.carrier_idle_timeout_secs = 120;
    })
    .await
}

/// Accounts of both tenants and A's read-only token; the token.
fn accounts(app: &TestApp) -> String {
    let pool = app.running.as_ref().expect("running").state.pool.clone();
    let mut conn = pool.get().expect("conn");
    let known = vec![A.to_string(), B.to_string()];
    let now = Utc::now().naive_utc();
    for (email, tenant, role) in [
        ("owner@acme.test", Some(A), Role::Owner),
        ("staff@acme.test", Some(A), Role::Staff),
        ("owner@grok.test", Some(B), Role::Owner),
        ("root@switchboard.test", None, Role::Admin),
    ] {
        users::add(&mut conn, email, tenant, role, PASSWORD, &known, now).expect("user");
    }
    let (_, token) = tokens::create(&mut conn, A, "reports", true, now).expect("token");
    token
}

#[actix_rt::test]
async fn every_route_answers_each_principal_within_its_scope() {
    let app = two_tenants().await;
    let token_a = accounts(&app);
    let (a_rows, b_rows) = {
        let pool = app.running.as_ref().expect("running").state.pool.clone();
        let mut conn = pool.get().expect("conn");
        let recordings = app
            .running
            .as_ref()
            .expect("running")
            .state
            .config
            .recording
            .dir
            .clone();
        (
            seed_rows(&mut conn, &A_MARKS, &recordings),
            seed_rows(&mut conn, &B_MARKS, &recordings),
        )
    };
    let (_call_a, live_a) = live_call(&app, &A_MARKS, DIALLED).await;
    let (_call_b, live_b) = live_call(&app, &B_MARKS, B_NUMBER).await;
    let seed = |(call, message, voicemail): (String, String, String), live_call: String| Seed {
        call,
        message,
        voicemail,
        live_call,
    };
    let seeds: BTreeMap<&str, Seed> = [(A, seed(a_rows, live_a)), (B, seed(b_rows, live_b))]
        .into_iter()
        .collect();

    // The router's table is exactly the routes this test has a decision for.
    let expected = decisions();
    let table = switchboard::http::routes::table();
    let listed: BTreeMap<(String, &'static str), Access> = table
        .iter()
        .map(|r| ((r.method.to_string(), r.path), r.access))
        .collect();
    assert_eq!(table.len(), listed.len(), "a route is declared twice");
    for (route, access) in &listed {
        assert_eq!(
            expected.get(route),
            Some(access),
            "route {route:?} is declared {access:?}; this test has no such decision for it"
        );
    }
    for route in expected.keys() {
        assert!(
            listed.contains_key(route),
            "route {route:?} is gone from the router"
        );
    }

    let askers = vec![
        Asker {
            who: Who::Anonymous,
            target: A,
            sees_target: false,
            foreign: Some(&A_MARKS),
            handle: false,
            manage: false,
        },
        Asker {
            who: Who::Cookie("owner of B", sign_in(&app, "owner@grok.test").await),
            target: A,
            sees_target: false,
            foreign: Some(&A_MARKS),
            handle: true,
            manage: true,
        },
        Asker {
            who: Who::Cookie("staff of A", sign_in(&app, "staff@acme.test").await),
            target: A,
            sees_target: true,
            foreign: Some(&B_MARKS),
            handle: true,
            manage: false,
        },
        Asker {
            who: Who::Bearer("A's read-only token", token_a.clone()),
            target: A,
            sees_target: true,
            foreign: Some(&B_MARKS),
            handle: false,
            manage: false,
        },
        Asker {
            who: Who::Cookie("owner of A", sign_in(&app, "owner@acme.test").await),
            target: A,
            sees_target: true,
            foreign: Some(&B_MARKS),
            handle: true,
            manage: true,
        },
        Asker {
            who: Who::Bearer("admin", ADMIN.into()),
            target: B,
            sees_target: true,
            foreign: None,
            handle: true,
            manage: true,
        },
    ];

    // Collections first, then objects; hang-up and sign-out last (they end
    // what the others ask about).
    let mut routes: Vec<_> = table
        .iter()
        .filter(|r| r.access != Access::Public)
        .cloned()
        .collect();
    let rank = |r: &switchboard::http::routes::RouteSpec| match r.path {
        "/api/logout" => 3,
        "/api/calls/{id}/hangup" => 2,
        p if is_object_route(&r.method, p) => 1,
        _ => 0,
    };
    routes.sort_by_key(rank);

    let mut checked = 0;
    for route in &routes {
        for asker in &askers {
            let context = format!("{} {} as {}", route.method, route.path, asker.who.name());
            let seed = &seeds[asker.target];
            let (path, body) = request_for(route.path, &route.method, seed, asker.target);
            let (status, answer) = send(&app, &asker.who, route.method.clone(), &path, body).await;
            checked += 1;
            if let Some(marks) = asker.foreign {
                assert_no_marks(&answer, marks, &context);
            }
            let passes = match route.access {
                Access::Public | Access::Read => true,
                Access::Handle => asker.handle,
                Access::Manage => asker.manage,
            };
            if let Who::Anonymous = asker.who {
                assert_eq!(status, 401, "{context}: {answer}");
                continue;
            }
            if !passes {
                assert_eq!(status, 403, "{context}: {answer}");
                continue;
            }
            if is_object_route(&route.method, route.path) && !asker.sees_target {
                // Another tenant's object: the same answer as no object at all.
                let (none_path, none_body) = request_for_nothing(route.path, &route.method, "");
                let (none_status, none_answer) = send(
                    &app,
                    &asker.who,
                    route.method.clone(),
                    &none_path,
                    none_body,
                )
                .await;
                assert_eq!(status, 404, "{context}: {answer}");
                assert_eq!(status, none_status, "{context}: {answer} vs {none_answer}");
                let error = |a: &str| {
                    serde_json::from_str::<Value>(a)
                        .ok()
                        .map(|v| v["error"].clone())
                };
                assert_eq!(error(&answer), error(&none_answer), "{context}");
                continue;
            }
            assert!(
                ![401, 403, 404].contains(&status),
                "{context}: refused its own object: {status} {answer}"
            );
        }
    }
    assert_eq!(checked, routes.len() * askers.len());
    assert!(
        routes.len() >= 20,
        "only {} routes need a principal",
        routes.len()
    );

    // A list asked for the other tenant by name is empty, not the other's
    // (signed in again: the matrix ended with signing out).
    let owner_a = &Who::Cookie("owner of A", sign_in(&app, "owner@acme.test").await);
    for list in [
        "/api/caller-messages",
        "/api/appointments",
        "/api/notifications",
    ] {
        let (status, answer) = send(
            &app,
            owner_a,
            Method::GET,
            &format!("{list}?tenant={B}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{list}: {answer}");
        let body: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(body["total"], 0, "{list}: {body}");
    }
    // Each tenant's own lists do carry its data (the filter is not "nothing").
    let (_, mine) = send(&app, owner_a, Method::GET, "/api/caller-messages", None).await;
    assert!(mine.contains(A_MARKS.word), "{mine}");

    // The admin hung up B's call and the owner of A hung up A's; each is in the
    // audit log with its actor, and A's owner sees only A's entries.
    let (_, audit) = app.get_json("/api/audit?limit=200").await;
    let entries = audit["items"].as_array().cloned().unwrap_or_default();
    let hang_up = |actor: &str, tenant: &str| {
        entries.iter().any(|e| {
            e["action"] == "call.hang_up" && e["actor"] == actor && e["tenant_id"] == tenant
        })
    };
    assert!(hang_up("owner@acme.test", A), "{audit}");
    assert!(hang_up("admin token", B), "{audit}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "message.marked" && e["actor"] == "staff@acme.test"),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "sign_in.succeeded" && e["actor"] == "owner@grok.test"),
        "{audit}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_cookie_request_needs_our_origin_and_a_signed_out_cookie_is_worthless() {
    let app = two_tenants().await;
    accounts(&app);
    let cookie = sign_in(&app, "owner@acme.test").await;
    let client = awc::Client::default();
    let post_logout = |origin: Option<&str>| {
        let mut req = client
            .post(app.http_url("/api/logs/ticket"))
            .insert_header(("Cookie", format!("sb_session={cookie}")));
        if let Some(o) = origin {
            req = req.insert_header(("Origin", o.to_string()));
        }
        req.send()
    };
    for origin in [
        None,
        Some("http://127.0.0.1:1"),
        Some("null"),
        Some("https://evil.example"),
    ] {
        let resp = post_logout(origin).await.expect("post");
        assert_eq!(resp.status().as_u16(), 403, "origin {origin:?}");
    }
    let ours = app.http_url("");
    let resp = post_logout(Some(&ours)).await.expect("post");
    assert_eq!(resp.status().as_u16(), 201, "our own origin");
    // A GET needs no Origin.
    let who = Who::Cookie("owner of A", cookie.clone());
    let (status, me) = send(&app, &who, Method::GET, "/api/me", None).await;
    assert_eq!(status, 200, "{me}");
    let me: Value = serde_json::from_str(&me).expect("json");
    assert_eq!(me["name"], "owner@acme.test");
    assert_eq!(me["role"], "owner");
    assert_eq!(me["tenant"], A);

    // Signed out, the same cookie is refused everywhere.
    let (status, _) = send(&app, &who, Method::POST, "/api/logout", None).await;
    assert_eq!(status, 200);
    let (status, answer) = send(&app, &who, Method::GET, "/api/calls", None).await;
    assert_eq!(status, 401, "{answer}");
    app.stop().await;
}

#[actix_rt::test]
async fn the_log_feed_of_owner_a_carries_only_a_s_calls() {
    let app = two_tenants().await;
    let token_a = accounts(&app);
    let feed_a = LogFeed::connect(&app.http_url("/logs").replace("http", "ws"), Some(&token_a))
        .await
        .expect("A's feed");
    let feed_all = LogFeed::connect(&app.http_url("/logs").replace("http", "ws"), Some(ADMIN))
        .await
        .expect("admin feed");
    let (mut call_b, _) = live_call(&app, &B_MARKS, B_NUMBER).await;
    let (mut call_a, _) = live_call(&app, &A_MARKS, DIALLED).await;
    // The admin hears both calls start; then both end.
    for sid in [call_b.call_sid(), call_a.call_sid()] {
        feed_all
            .wait_for(
                |e| {
                    e.call_sid() == Some(sid)
                        && matches!(e, switchboard::events::CallEvent::CallStarted { .. })
                },
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|| panic!("admin feed: {sid} started"));
    }
    call_b.stop().await.expect("B hangs up");
    call_a.stop().await.expect("A hangs up");
    for sid in [call_b.call_sid(), call_a.call_sid()] {
        feed_all
            .wait_for(
                |e| {
                    e.call_sid() == Some(sid)
                        && matches!(e, switchboard::events::CallEvent::CallEnded { .. })
                },
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|| panic!("admin feed: {sid} ended"));
    }
    feed_a
        .wait_for(
            |e| {
                e.call_sid() == Some(call_a.call_sid())
                    && matches!(e, switchboard::events::CallEvent::CallEnded { .. })
            },
            Duration::from_secs(10),
        )
        .await
        .expect("A's feed hears A's call end");
    let heard = feed_a.events();
    assert!(
        heard
            .iter()
            .any(|e| e.call_sid() == Some(call_a.call_sid())),
        "A's feed: {heard:?}"
    );
    assert!(
        heard
            .iter()
            .all(|e| e.call_sid() != Some(call_b.call_sid())),
        "A's feed carried B's call: {heard:?}"
    );
    let text = format!("{heard:?}");
    assert!(!text.contains(B_MARKS.caller), "{text}");
    app.stop().await;
}

#[test]
fn routes_are_added_only_through_the_route_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src/http") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".rs") || name == "routes.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // Unit tests build their own little apps.
        let served = text.split("#[cfg(test)]").next().unwrap_or("");
        for needle in [".route(", "web::resource(", ".service(", "web::scope("] {
            if served.contains(needle) {
                found.push(format!("{name}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "routes added around http::routes::Routes (no access decision): {found:?}"
    );
}
