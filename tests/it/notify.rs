//! The owner's side: notifications reach local stand-ins of the Twilio Messages
//! API and SendGrid mail-send exactly as those APIs expect, once per event even
//! when the first attempt fails and is retried; quiet hours hold non-urgent
//! ones; the inbox APIs (taken messages, bookings) filter by tenant and page.

use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{Days, NaiveDate, Timelike, Utc};
use serde_json::{json, Value};
use switchboard::far_end::{LogFeed, TwilioCall};
use switchboard::notify::{self, OwnerEvent, OwnerNotify};
use switchboard::store::models::{AppointmentRow, CallerMessageRow};
use switchboard::store::{self, appointments, caller_messages, customers, notifications};
use switchboard::tenant::TenantConfig;

use crate::support::scripted::{turn_with_tool, write_script};
use crate::support::stub::{HttpStub, Recorded};
use crate::support::{Db, TestApp, ADMIN, CALLER};

const ACCOUNT: &str = "AC00000000000000000000000000000016";
const AUTH_TOKEN: &str = "twilio-test-auth-token";
const SENDGRID_KEY: &str = "SG.test-key";
const OWNER_PHONE: &str = "+15550100009";
const OWNER_EMAIL: &str = "owner@acme.example";

fn conn(app: &TestApp) -> store::PooledConnection {
    app.running.as_ref().unwrap().state.pool.get().unwrap()
}

/// The example tenant, open every day, telling its owner by SMS and email.
pub fn notified_tenant(quiet_hours: &str) -> TenantConfig {
    let mut t = TenantConfig::example();
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        t.business_hours.insert(day.into(), "09:00-17:00".into());
    }
    t.notify = OwnerNotify {
        sms: vec![OWNER_PHONE.into()],
        email: vec![OWNER_EMAIL.into()],
        quiet_hours: quiet_hours.into(),
        ..OwnerNotify::default()
    };
    t
}

/// Points Twilio REST and SendGrid at the stand-ins; fast polling and retries.
pub fn use_stand_ins(c: &mut switchboard::config::Config, twilio: &HttpStub, sendgrid: &HttpStub) {
    c.twilio.account_sid = ACCOUNT.into();
    c.twilio.auth_token = Some(AUTH_TOKEN.into());
    c.twilio.api_base = twilio.base.clone();
    c.sendgrid.api_base = sendgrid.base.clone();
    c.sendgrid.api_key = Some(SENDGRID_KEY.into());
    c.sendgrid.from_address = "desk@acme.example".into();
    c.notify.poll_ms = 100;
    c.notify.retry_base_ms = 300;
}

/// Twilio's Message resource answer (201) for request `n`.
fn twilio_created(n: usize) -> Value {
    json!({"sid": format!("SM{n:032}"), "status": "queued"})
}

/// Checks one request is a Messages API create exactly as Twilio documents it.
fn assert_twilio_message(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT}:{AUTH_TOKEN}"));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert!(
        r.content_type
            .as_deref()
            .unwrap_or("")
            .starts_with("application/x-www-form-urlencoded"),
        "{:?}",
        r.content_type
    );
    let form = r.form();
    let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["To", "From", "Body"]);
    assert_eq!(form[0].1, OWNER_PHONE);
    assert_eq!(form[1].1, "+15550100000", "sent from the tenant's number");
}

/// Checks one request is a v3 mail-send exactly as SendGrid documents it.
fn assert_mail_send(r: &Recorded) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v3/mail/send");
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Bearer {SENDGRID_KEY}").as_str())
    );
    let body = r.json();
    assert_eq!(body["personalizations"][0]["to"][0]["email"], OWNER_EMAIL);
    assert_eq!(body["from"]["email"], "desk@acme.example");
    assert!(body["subject"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(body["content"][0]["type"], "text/plain");
}

fn sms_body(r: &Recorded) -> String {
    r.form()
        .into_iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn a_call_notifies_the_owner_once_per_event_through_twilio_and_sendgrid() {
    // Each stand-in fails its first request (Twilio 500, SendGrid 503): those
    // notifications must be retried and still arrive once.
    let twilio = HttpStub::start(|_, n| {
        if n == 0 {
            (
                500,
                json!({"code": 20500, "message": "Internal Server Error", "status": 500}),
            )
        } else {
            (201, twilio_created(n))
        }
    })
    .await;
    let sendgrid = HttpStub::start(|_, n| {
        if n == 0 {
            (503, json!({}))
        } else {
            (202, json!({}))
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let day = Utc::now().date_naive() + Days::new(3);
    let script = write_script(
        dir.path(),
        &[
            (
                "takeMessage",
                json!({"callerName": "Dana Smith", "callerPhone": CALLER, "message": "The crown came off.", "urgency": "urgent"}),
            ),
            (
                "createBooking",
                json!({"customerName": "Dana Smith", "customerPhone": CALLER, "service": "cleaning", "dateTime": format!("{day}T10:00")}),
            ),
        ],
    );
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        c.tenants = vec![notified_tenant("")];
        use_stand_ins(c, &twilio, &sendgrid);
    })
    .await;
    // Signed like Twilio's own upgrade: the auth token is set for the REST API.
    let setup = app
        .through_signed_webhook(app.call_setup(), AUTH_TOKEN)
        .await;
    let feed = LogFeed::connect(&app.logs_url(&setup.call_sid), Some(ADMIN))
        .await
        .unwrap();
    let mut call = TwilioCall::connect(setup).await.unwrap();
    let call_sid = call.call_sid().to_string();
    turn_with_tool(&mut call, &feed, "takeMessage").await;
    turn_with_tool(&mut call, &feed, "createBooking").await;
    call.stop().await.unwrap();
    app.wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;

    // Three events (message, booking, call summary) × two channels, plus the
    // one failed first attempt per stand-in.
    wait_for(
        "4 Twilio and 4 SendGrid requests",
        Duration::from_secs(20),
        || twilio.requests().len() >= 4 && sendgrid.requests().len() >= 4,
    )
    .await;
    // Nothing more arrives: each event went out once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sms = twilio.requests();
    let mail = sendgrid.requests();
    assert_eq!(sms.len(), 4, "{sms:?}");
    assert_eq!(mail.len(), 4, "{mail:?}");
    sms.iter().for_each(assert_twilio_message);
    mail.iter().for_each(assert_mail_send);
    // The failed first request was retried with the same notification.
    assert_eq!(sms_body(&sms[0]), sms_body(&sms[1]));
    assert_eq!(mail[0].json(), mail[1].json());
    let delivered: Vec<String> = sms[1..].iter().map(sms_body).collect();
    assert_eq!(delivered.len(), 3);
    assert!(
        delivered
            .iter()
            .any(|b| b.contains("URGENT message from Dana Smith")
                && b.contains("The crown came off.")),
        "{delivered:?}"
    );
    assert!(
        delivered.iter().any(|b| b.contains("booked cleaning")),
        "{delivered:?}"
    );
    let summary_sms = delivered
        .iter()
        .find(|b| b.contains("Dana Smith (+15550100001) left an urgent message"))
        .unwrap_or_else(|| panic!("no summary: {delivered:?}"));
    assert!(summary_sms.contains("booked cleaning"), "{summary_sms}");

    // The call carries its summary; the notifications are listed as sent,
    // the retried ones after two attempts.
    let (_, record) = app.get_json(&format!("/api/calls/{call_sid}")).await;
    let summary = record["call"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("Dana Smith (+15550100001) left an urgent message"),
        "{summary}"
    );
    let lines: Vec<&str> = record["tool_invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["line"].as_str().unwrap())
        .collect();
    assert!(lines[1].starts_with("Booked cleaning, "), "{lines:?}");
    // The dashboard learns what is set up, and no secret.
    let (_, settings) = app.get_json("/api/settings").await;
    assert_eq!(settings["channels"]["sms"], true, "{settings}");
    assert_eq!(settings["channels"]["email"], true, "{settings}");
    assert_eq!(settings["channels"]["text_model"], false, "{settings}");
    assert!(
        !settings.to_string().contains(AUTH_TOKEN) && !settings.to_string().contains(SENDGRID_KEY)
    );
    let (status, list) = app.get_json("/api/notifications?tenant=acme-dental").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 6, "{list}");
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().all(|n| n["status"] == "sent"), "{list}");
    assert_eq!(
        items.iter().filter(|n| n["attempts"] == 2).count(),
        2,
        "{list}"
    );
    assert!(items
        .iter()
        .filter(|n| n["channel"] == "sms")
        .all(|n| n["provider_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("SM"))));
    app.stop().await;
    twilio.stop().await;
    sendgrid.stop().await;
}

fn taken(id: &str, tenant: &str, urgency: &str, minutes_ago: i64) -> CallerMessageRow {
    CallerMessageRow {
        id: id.into(),
        tenant_id: tenant.into(),
        call_id: Some(format!("call-{id}")),
        kind: "message".into(),
        caller_name: format!("Caller {id}"),
        caller_phone: Some(CALLER.into()),
        message: format!("Message {id}"),
        urgency: urgency.into(),
        created_at: (Utc::now() - chrono::Duration::minutes(minutes_ago)).naive_utc(),
        status: "new".into(),
        handled_by: None,
        handled_at: None,
    }
}

#[actix_rt::test]
async fn quiet_hours_hold_non_urgent_notifications_and_let_urgent_ones_through() {
    let twilio = HttpStub::start(|_, n| (201, twilio_created(n))).await;
    let sendgrid = HttpStub::start(|_, _| (202, json!({}))).await;
    // Quiet from an hour ago to two hours ahead, in the tenant's zone.
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let hour = Utc::now().with_timezone(&tz).hour();
    let quiet = format!("{:02}:00-{:02}:00", (hour + 23) % 24, (hour + 2) % 24);
    let mut tenant = notified_tenant(&quiet);
    tenant.notify.email.clear();
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.tenants = vec![tenant.clone()];
        use_stand_ins(c, &twilio, &sendgrid);
    })
    .await;
    {
        let mut c = conn(&app);
        for (id, urgency) in [("calm", "normal"), ("fire", "urgent")] {
            let row = taken(id, "acme-dental", urgency, 0);
            caller_messages::insert(&mut c, &row).unwrap();
            let added = notify::enqueue(
                &mut c,
                &tenant,
                &OwnerEvent::MessageTaken(row.clone()),
                Utc::now(),
            )
            .unwrap();
            assert_eq!(added, 1);
            // Enqueueing the same event again stores nothing.
            let again =
                notify::enqueue(&mut c, &tenant, &OwnerEvent::MessageTaken(row), Utc::now())
                    .unwrap();
            assert_eq!(again, 0);
        }
    }
    wait_for("the urgent SMS", Duration::from_secs(10), || {
        !twilio.requests().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let sent = twilio.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sms_body(&sent[0]).contains("URGENT message from Caller fire"));
    let (rows, _) = notifications::list(&mut conn(&app), Some("acme-dental"), 10, 0).unwrap();
    let held = rows
        .iter()
        .find(|n| n.event_key == "message_taken:calm")
        .unwrap();
    assert_eq!(held.status, "pending");
    assert_eq!(held.attempts, 0);
    assert!(
        held.next_attempt_at > Utc::now().naive_utc() + chrono::Duration::minutes(59),
        "{held:?}"
    );
    assert_eq!(
        held.next_attempt_at.and_utc().with_timezone(&tz).minute(),
        0
    );
    app.stop().await;
    twilio.stop().await;
    sendgrid.stop().await;
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let client = awc::Client::default();
    let mut req = client.request(method.parse().unwrap(), app.http_url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let mut resp = match body {
        Some(b) => req.send_json(&b).await.unwrap(),
        None => req.send().await.unwrap(),
    };
    let status = resp.status().as_u16();
    let bytes = resp.body().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn inbox_apis_filter_by_tenant_and_page(db: Db) {
    let mut other = TenantConfig::example();
    other.id = "bright-smiles".into();
    other.name = "Bright Smiles".into();
    other.phone_numbers = vec!["+15550100500".into()];
    other.time_zone = "Europe/London".into();
    let app = TestApp::start_with(db, |c| {
        c.tenants = vec![TenantConfig::example(), other.clone()]
    })
    .await;
    let day = NaiveDate::from_ymd_opt(2030, 3, 5).unwrap();
    {
        let mut c = conn(&app);
        for i in 0..5 {
            caller_messages::insert(
                &mut c,
                &taken(&format!("a{i}"), "acme-dental", "normal", 10 * i),
            )
            .unwrap();
        }
        for i in 0..2 {
            caller_messages::insert(
                &mut c,
                &taken(&format!("b{i}"), "bright-smiles", "urgent", i),
            )
            .unwrap();
        }
        let now = Utc::now().naive_utc();
        let dana = customers::upsert_by_phone(
            &mut c,
            "acme-dental",
            CALLER,
            Some("Dana Smith"),
            None,
            now,
        )
        .unwrap();
        let lee = customers::upsert_by_phone(
            &mut c,
            "acme-dental",
            "+15550100002",
            Some("Lee Park"),
            None,
            now,
        )
        .unwrap();
        let bob =
            customers::upsert_by_phone(&mut c, "bright-smiles", CALLER, Some("Bob"), None, now)
                .unwrap();
        // 09:00, 10:00, 11:00 New York on `day` (UTC-5) and the next day; one in London.
        let at = |d: NaiveDate, h: u32| d.and_hms_opt(h + 5, 0, 0).unwrap();
        let rows = [
            (
                "ap1",
                "acme-dental",
                &dana,
                "cleaning",
                at(day, 9),
                "booked",
            ),
            ("ap2", "acme-dental", &lee, "checkup", at(day, 10), "booked"),
            (
                "ap3",
                "acme-dental",
                &dana,
                "cleaning",
                at(day, 11),
                "cancelled",
            ),
            (
                "ap4",
                "acme-dental",
                &lee,
                "cleaning",
                at(day + Days::new(1), 9),
                "booked",
            ),
            (
                "bp1",
                "bright-smiles",
                &bob,
                "cleaning",
                at(day, 9),
                "booked",
            ),
        ];
        for (id, tenant, customer, service, start, status) in rows {
            appointments::insert(
                &mut c,
                &AppointmentRow {
                    id: id.into(),
                    tenant_id: tenant.into(),
                    customer_id: customer.id.clone(),
                    service: service.into(),
                    starts_at: start,
                    ends_at: start + chrono::Duration::minutes(30),
                    status: status.into(),
                    call_id: Some(format!("call-{id}")),
                    created_at: now,
                    calendar_href: None,
                    calendar_etag: None,
                },
            )
            .unwrap();
        }
    }

    // Taken messages: tenant filter, newest first, pages.
    let (status, page) = app
        .get_json("/api/caller-messages?tenant=acme-dental&limit=2")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 5);
    assert_eq!(ids(&page), ["a0", "a1"]);
    assert_eq!(page["items"][0]["call_url"], "/api/calls/call-a0");
    assert_eq!(page["items"][0]["caller_phone"], CALLER);
    assert_eq!(page["items"][0]["status"], "new");
    let (_, page) = app
        .get_json("/api/caller-messages?tenant=acme-dental&limit=2&offset=4")
        .await;
    assert_eq!(ids(&page), ["a4"]);
    let (_, page) = app
        .get_json("/api/caller-messages?tenant=bright-smiles")
        .await;
    assert_eq!(page["total"], 2);
    assert_eq!(ids(&page), ["b0", "b1"]);
    let (_, page) = app.get_json("/api/caller-messages").await;
    assert_eq!(page["total"], 7);

    // Marked handled: kept, and filtered by status.
    let (status, marked) = send(
        &app,
        "PATCH",
        "/api/caller-messages/a1",
        Some(json!({"status": "handled", "by": "Dr Lee"})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["status"], "handled");
    assert_eq!(marked["handled_by"], "Dr Lee");
    let (_, page) = app
        .get_json("/api/caller-messages?tenant=acme-dental&status=new")
        .await;
    assert_eq!(page["total"], 4);
    assert!(!ids(&page).contains(&"a1".to_string()));
    let (_, page) = app.get_json("/api/caller-messages?status=handled").await;
    assert_eq!(ids(&page), ["a1"]);
    let (status, _) = send(
        &app,
        "PATCH",
        "/api/caller-messages/nope",
        Some(json!({"status": "read"})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        "PATCH",
        "/api/caller-messages/a2",
        Some(json!({"status": "done"})),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &app,
        "PATCH",
        "/api/caller-messages/a2",
        Some(json!({"status": "read"})),
        None,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = app.get_json("/api/caller-messages?limit=0").await;
    assert_eq!(status, 400);
    let (status, _) = send(&app, "GET", "/api/appointments", None, None).await;
    assert_eq!(status, 401);

    // Bookings: tenant, day range in the tenant's zone, service, status, caller, pages.
    let (status, page) = app
        .get_json(&format!(
            "/api/appointments?tenant=acme-dental&from={day}&to={}",
            day + Days::new(1)
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["ap1", "ap2", "ap3"]);
    assert_eq!(page["items"][0]["local_start"], format!("{day}T09:00"));
    assert_eq!(page["items"][0]["when"], "Tue 5 Mar 09:00");
    assert_eq!(page["items"][0]["customer"]["name"], "Dana Smith");
    assert_eq!(page["items"][0]["time_zone"], "America/New_York");
    assert_eq!(page["items"][0]["call_url"], "/api/calls/call-ap1");
    let (_, page) = app
        .get_json("/api/appointments?tenant=acme-dental&service=cleaning&status=booked")
        .await;
    assert_eq!(ids(&page), ["ap1", "ap4"]);
    let (_, page) = app
        .get_json("/api/appointments?tenant=acme-dental&caller=%2B15550100002")
        .await;
    assert_eq!(ids(&page), ["ap2", "ap4"]);
    let (_, page) = app
        .get_json("/api/appointments?tenant=acme-dental&limit=1&offset=1")
        .await;
    assert_eq!(page["total"], 4);
    assert_eq!(ids(&page), ["ap2"]);
    let (_, page) = app.get_json("/api/appointments?tenant=bright-smiles").await;
    assert_eq!(ids(&page), ["bp1"]);
    assert_eq!(page["items"][0]["time_zone"], "Europe/London");
    let (status, _) = app.get_json("/api/appointments?from=yesterday").await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[actix_rt::test]
async fn inbox_apis_filter_by_tenant_and_page_on_sqlite() {
    inbox_apis_filter_by_tenant_and_page(Db::Sqlite).await;
}

#[actix_rt::test]
async fn inbox_apis_filter_by_tenant_and_page_on_postgres() {
    inbox_apis_filter_by_tenant_and_page(Db::Postgres).await;
}
