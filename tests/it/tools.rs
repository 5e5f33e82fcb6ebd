//! Receptionist tools driven through real calls: the simulator is scripted to call
//! each tool, and the test checks what the database holds afterwards (SQLite and
//! PostgreSQL), what the model was told, and that bad arguments get clear errors.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate, Utc};
use serde_json::{json, Value};
use switchboard::events::CallEvent;
use switchboard::lifecycle::Carrier;
use switchboard::store::{self, appointments, caller_messages, customers, tool_invocations};
use switchboard::tenant::TenantConfig;
use switchboard::tools::{run_tool, ToolContext};

use crate::support::scripted::{short_turn, turn_with_tool, write_script};
use crate::support::{talk_silence_until, Db, TestApp, CALLER};

/// The example tenant, open 09:00–17:00 every day in New York.
fn dental_open_daily() -> TenantConfig {
    let mut t = TenantConfig::example();
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        t.business_hours.insert(day.into(), "09:00-17:00".into());
    }
    t
}

/// A local date `days` ahead in the tenant's zone.
fn local_date_in(days: i64) -> NaiveDate {
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    Utc::now().with_timezone(&tz).date_naive() + Days::days(days)
}

fn conn(app: &TestApp) -> store::PooledConnection {
    app.running
        .as_ref()
        .unwrap()
        .state
        .pool
        .get()
        .expect("db connection")
}

fn output_json(event: &CallEvent) -> Value {
    match event {
        CallEvent::ToolCall {
            result: Some(r), ..
        } => serde_json::from_str(r).expect("result json"),
        other => panic!("tool failed: {other:?}"),
    }
}

async fn bookings_messages_and_cancellation(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let day = local_date_in(2);
    let script = write_script(
        dir.path(),
        &[
            (
                "checkAvailability",
                json!({"date": day.to_string(), "service": "cleaning"}),
            ),
            (
                "createBooking",
                json!({"customerName": "Dana Smith", "customerPhone": CALLER, "service": "cleaning", "dateTime": format!("{day}T10:00")}),
            ),
            (
                "collectCallerInfo",
                json!({"name": "Dana Smith", "callbackNumber": CALLER, "concern": "Question about an invoice"}),
            ),
            (
                "cancelBooking",
                json!({"customerPhone": CALLER, "appointmentDate": day.to_string()}),
            ),
        ],
    );
    let app = TestApp::start_with(db, |c| {
        c.simulator.script = script;
        c.tenants = vec![dental_open_daily()];
    })
    .await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();

    let availability = output_json(&turn_with_tool(&mut call, &feed, "checkAvailability").await);
    let free: Vec<&str> = availability["freeSlots"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        free,
        ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    );

    let booking = output_json(&turn_with_tool(&mut call, &feed, "createBooking").await);
    assert_eq!(booking["booked"], true);
    let (from, to) = {
        let t = dental_open_daily();
        switchboard::tools::schedule::day_bounds_utc(&t, day)
    };
    {
        let mut c = conn(&app);
        let booked = appointments::booked_between(&mut c, "acme-dental", from, to).unwrap();
        assert_eq!(booked.len(), 1, "{booked:?}");
        assert_eq!(booked[0].service, "cleaning");
        // 10:00 in New York is 14:00 or 15:00 UTC depending on DST; always a 60 min slot.
        assert_eq!((booked[0].ends_at - booked[0].starts_at).num_minutes(), 60);
        let customer = customers::find_by_phone(&mut c, "acme-dental", CALLER)
            .unwrap()
            .expect("customer created");
        assert_eq!(customer.name.as_deref(), Some("Dana Smith"));
        assert_eq!(booked[0].customer_id, customer.id);
    }

    turn_with_tool(&mut call, &feed, "collectCallerInfo").await;
    let cancelled = output_json(&turn_with_tool(&mut call, &feed, "cancelBooking").await);
    assert_eq!(cancelled["cancelled"], 1);
    call.stop().await.expect("stop");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;

    let mut c = conn(&app);
    assert!(
        appointments::booked_between(&mut c, "acme-dental", from, to)
            .unwrap()
            .is_empty()
    );
    let messages = caller_messages::for_tenant(&mut c, "acme-dental", 10).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].kind, "callback_info");
    assert_eq!(messages[0].caller_phone.as_deref(), Some(CALLER));
    assert_eq!(messages[0].message, "Question about an invoice");
    let call_id = record["call"]["id"].as_str().unwrap();
    let rows = tool_invocations::for_call(&mut c, call_id).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkAvailability",
            "createBooking",
            "collectCallerInfo",
            "cancelBooking"
        ]
    );
    assert!(rows.iter().all(|r| r.error.is_none()), "{rows:?}");
    app.stop().await;
}

#[actix_rt::test]
async fn bookings_messages_and_cancellation_on_sqlite() {
    bookings_messages_and_cancellation(Db::Sqlite).await;
}

#[actix_rt::test]
async fn bookings_messages_and_cancellation_on_postgres() {
    bookings_messages_and_cancellation(Db::Postgres).await;
}

async fn two_calls_race_for_one_slot(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let day = local_date_in(3);
    let script = write_script(
        dir.path(),
        &[(
            "createBooking",
            json!({"customerName": "Dana Smith", "customerPhone": CALLER, "service": "cleaning", "dateTime": format!("{day}T11:00")}),
        )],
    );
    let app = TestApp::start_with(db, |c| {
        c.simulator.script = script;
        c.tenants = vec![dental_open_daily()];
    })
    .await;
    let (mut a, feed_a) = app.dial().await;
    let (mut b, feed_b) = app.dial().await;
    let is_tool = |e: &CallEvent| matches!(e, CallEvent::ToolCall { .. });
    let turn = short_turn();
    let (ra, rb) = futures_util::join!(
        async {
            a.stream_mulaw(&turn).await.expect("turn a");
            talk_silence_until(&mut a, &feed_a, Duration::from_secs(20), is_tool).await
        },
        async {
            b.stream_mulaw(&turn).await.expect("turn b");
            talk_silence_until(&mut b, &feed_b, Duration::from_secs(20), is_tool).await
        }
    );
    let errors: Vec<Option<String>> = [ra, rb]
        .into_iter()
        .map(|e| match e {
            Some(CallEvent::ToolCall { error, .. }) => error,
            other => panic!("no tool call: {other:?}"),
        })
        .collect();
    let winners = errors.iter().filter(|e| e.is_none()).count();
    assert_eq!(winners, 1, "exactly one booking succeeds: {errors:?}");
    let loser = errors.iter().flatten().next().unwrap();
    assert!(loser.contains("already taken"), "{loser}");
    // The losing call's model was told so in its function_call_output (sent
    // to the model just after the tool event, so allow it a moment to arrive).
    let told = || {
        app.model_client_events().into_iter().any(|e| {
            e["item"]["type"] == "function_call_output"
                && e["item"]["output"]
                    .as_str()
                    .is_some_and(|o| o.contains("already taken"))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !told() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(told(), "no function_call_output says the slot is taken");
    let (from, to) = switchboard::tools::schedule::day_bounds_utc(&dental_open_daily(), day);
    let booked = appointments::booked_between(&mut conn(&app), "acme-dental", from, to).unwrap();
    assert_eq!(booked.len(), 1);
    a.stop().await.ok();
    b.stop().await.ok();
    app.stop().await;
}

#[actix_rt::test]
async fn two_calls_race_for_one_slot_on_sqlite() {
    two_calls_race_for_one_slot(Db::Sqlite).await;
}

#[actix_rt::test]
async fn two_calls_race_for_one_slot_on_postgres() {
    two_calls_race_for_one_slot(Db::Postgres).await;
}

#[actix_rt::test]
async fn invalid_arguments_get_clear_errors_and_are_stored() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.tenants = vec![dental_open_daily()]).await;
    let tools = app.running.as_ref().unwrap().state.tools.clone();
    let ctx = ToolContext {
        call_id: None,
        call_sid: None,
        tenant: Arc::new(dental_open_daily()),
        caller: Some(CALLER.into()),
        carrier: Some(Carrier::Twilio),
        conversation: Vec::new(),
    };
    let yesterday = local_date_in(-1);
    let cases = [
        ("createBooking", "{not json".to_string(), "not valid JSON"),
        (
            "createBooking",
            json!({"customerName": "Dana", "customerPhone": "555-0100", "service": "cleaning", "dateTime": "2030-01-07T10:00"}).to_string(),
            "not an E.164 phone number",
        ),
        (
            "createBooking",
            json!({"customerName": "Dana", "customerPhone": CALLER, "service": "cleaning"}).to_string(),
            "missing field `dateTime`",
        ),
        (
            "checkAvailability",
            json!({"date": 20300107, "service": "cleaning"}).to_string(),
            "invalid type",
        ),
        (
            "checkAvailability",
            json!({"date": yesterday.to_string(), "service": "cleaning"}).to_string(),
            "is in the past",
        ),
        (
            "checkAvailability",
            json!({"date": "2030-01-07", "service": "massage"}).to_string(),
            "choose one of checkup, cleaning, filling",
        ),
        (
            "createBooking",
            json!({"customerName": "Dana", "customerPhone": CALLER, "service": "cleaning", "dateTime": format!("{}T08:00", local_date_in(5))}).to_string(),
            "not a cleaning slot during business hours",
        ),
        (
            "cancelBooking",
            json!({"customerPhone": CALLER, "appointmentDate": local_date_in(5).to_string()}).to_string(),
            "there is no booking",
        ),
    ];
    for (i, (tool, args, expected)) in cases.iter().enumerate() {
        let run = run_tool(tools.clone(), ctx.clone(), &format!("call_{i}"), tool, args).await;
        assert!(run.is_error, "{tool} {args} succeeded: {}", run.output);
        let output: Value = serde_json::from_str(&run.output).unwrap();
        let message = output["error"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{tool} {args}: {message}");
    }
    // Every invocation is stored, with its error.
    tools
        .store
        .send(switchboard::store::Flush)
        .await
        .unwrap()
        .unwrap();
    let stored: i64 = {
        use diesel::prelude::*;
        use switchboard::store::schema::tool_invocations::dsl;
        dsl::tool_invocations
            .filter(dsl::error.is_not_null())
            .count()
            .get_result(&mut conn(&app))
            .unwrap()
    };
    assert_eq!(stored, cases.len() as i64);
    app.stop().await;
}

#[actix_rt::test]
async fn hang_up_ends_the_call_after_the_goodbye_played() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.toml");
    std::fs::write(
        &path,
        r#"
[[turns]]
user_transcript = "That is all, thank you."
function_call = { name = "hangUp", arguments = { reason = "caller finished" } }
[turns.reply]
clip = "goodbye.wav"
text = "Thank you for calling. Goodbye."
[fallback]
clip = "fallback.wav"
text = "Sorry?"
"#,
    )
    .unwrap();
    let app = TestApp::start_with(Db::Sqlite, |c| c.simulator.script = path).await;
    let (mut call, feed) = app.dial().await;
    let call_sid = call.call_sid().to_string();
    call.stream_mulaw(&short_turn()).await.expect("turn");
    let closed = talk_silence_until(&mut call, &feed, Duration::from_secs(20), |e| {
        matches!(e, CallEvent::CallEnded { .. })
    })
    .await;
    assert!(closed.is_some(), "call did not end: {:?}", feed.events());
    call.wait_closed(Duration::from_secs(5)).await;
    // goodbye.wav is 1.78 s: the caller heard all of it (8 µ-law bytes per ms) before the close.
    let heard_ms = call.played_audio().len() / 8;
    assert!(heard_ms >= 1700, "caller heard only {heard_ms} ms");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(
        record["call"]["ended_reason"],
        "assistant_hangup: caller finished"
    );
    let lines = record["transcript"].as_array().unwrap();
    let last = lines.last().unwrap();
    assert_eq!(last["text"], "Thank you for calling. Goodbye.");
    assert_eq!(last["interrupted"], false);
    app.stop().await;
}

/// The instructions in the first `session.update` the simulator received.
async fn session_instructions(app: &TestApp) -> String {
    let (mut call, feed) = app.dial().await;
    let found = talk_silence_until(&mut call, &feed, Duration::from_secs(5), |_| {
        app.model_client_events()
            .iter()
            .any(|e| e["type"] == "session.update")
    })
    .await;
    let _ = found;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(e) = app
            .model_client_events()
            .into_iter()
            .find(|e| e["type"] == "session.update")
        {
            call.stop().await.ok();
            return e["session"]["instructions"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no session.update");
        let _ = call.send_silence(100).await;
    }
}

#[actix_rt::test]
async fn a_call_on_a_closed_day_gets_after_hours_instructions() {
    let open = TestApp::start_with(Db::Sqlite, |c| c.tenants = vec![TenantConfig::example()]).await;
    let instructions = session_instructions(&open).await;
    assert!(instructions.contains("<company_brief>"), "{instructions}");
    assert!(!instructions.contains("AFTER HOURS"), "{instructions}");
    open.stop().await;

    // The same tenant with today (and its neighbours, so midnight cannot race the
    // test) declared a closure.
    let mut closed_tenant = TenantConfig::example();
    closed_tenant.closures = vec![local_date_in(-1), local_date_in(0), local_date_in(1)];
    let closed = TestApp::start_with(Db::Sqlite, |c| c.tenants = vec![closed_tenant]).await;
    let instructions = session_instructions(&closed).await;
    assert!(
        instructions.contains("AFTER HOURS: The office is closed now. Take a message"),
        "{instructions}"
    );
    closed.stop().await;
}

#[actix_rt::test]
async fn every_tool_has_a_schema_at_get_tools() {
    let app = TestApp::start().await;
    let (status, body) = app.get_json("/tools").await;
    assert_eq!(status, 200);
    let tools = body.as_array().expect("array");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    for expected in [
        "lookupCustomer",
        "checkAvailability",
        "createBooking",
        "cancelBooking",
        "takeMessage",
        "collectCallerInfo",
        "transferToOnCall",
        "hangUp",
        "getNextResponseFromSupervisor",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let booking = tools.iter().find(|t| t["name"] == "createBooking").unwrap();
    assert_eq!(booking["type"], "function");
    assert_eq!(
        booking["parameters"]["required"],
        json!(["customerName", "service", "dateTime"])
    );
    app.stop().await;
}

/// A caller can read and cancel only their own record: a call from another
/// number asking for Dana's (+15550100001, the model passing her number, as a
/// model talked into "I'm calling for my wife" would) is refused with a reason
/// the model can relay, and her booking stays; her own call cancels it. The
/// lookup answers only what a caller needs (no email).
#[actix_rt::test]
async fn a_caller_cannot_read_or_cancel_another_numbers_booking() {
    const OTHER: &str = "+15550109999";
    let app = TestApp::start_with(Db::Sqlite, |c| c.tenants = vec![dental_open_daily()]).await;
    let tools = app.running.as_ref().unwrap().state.tools.clone();
    let ctx = |caller: &str| ToolContext {
        call_id: None,
        call_sid: None,
        tenant: Arc::new(dental_open_daily()),
        caller: Some(caller.into()),
        carrier: Some(Carrier::Twilio),
        conversation: Vec::new(),
    };
    let day = local_date_in(3);
    let book = json!({"customerName": "Dana Smith", "customerPhone": CALLER, "service": "cleaning", "dateTime": format!("{day}T10:00")});
    let run = run_tool(
        tools.clone(),
        ctx(CALLER),
        "b1",
        "createBooking",
        &book.to_string(),
    )
    .await;
    assert!(!run.is_error, "{}", run.output);
    // Booking under someone else's number from this line is refused too.
    let run = run_tool(
        tools.clone(),
        ctx(OTHER),
        "b2",
        "createBooking",
        &book.to_string(),
    )
    .await;
    assert!(
        run.is_error && run.output.contains("number you are calling from"),
        "{}",
        run.output
    );

    let lookup = json!({"phone": CALLER}).to_string();
    let cancel = json!({"customerPhone": CALLER, "appointmentDate": day.to_string()}).to_string();
    for (tool, args) in [("lookupCustomer", &lookup), ("cancelBooking", &cancel)] {
        let run = run_tool(tools.clone(), ctx(OTHER), "x", tool, args).await;
        assert!(
            run.is_error,
            "{tool} for another number ran: {}",
            run.output
        );
        assert!(
            run.output.contains("take a message for the office") && !run.output.contains("Dana"),
            "{tool}: {}",
            run.output
        );
    }
    let (from, to) = switchboard::tools::schedule::day_bounds_utc(&dental_open_daily(), day);
    let booked = appointments::booked_between(&mut conn(&app), "acme-dental", from, to).unwrap();
    assert_eq!(booked.len(), 1, "the booking stayed");

    // Dana's own call: her record (name only), then her cancellation.
    let run = run_tool(tools.clone(), ctx(CALLER), "l", "lookupCustomer", "{}").await;
    let found: Value = serde_json::from_str(&run.output).unwrap();
    assert_eq!(found, json!({"found": true, "name": "Dana Smith"}));
    let run = run_tool(tools.clone(), ctx(CALLER), "c", "cancelBooking", &cancel).await;
    assert!(!run.is_error, "{}", run.output);
    assert!(
        appointments::booked_between(&mut conn(&app), "acme-dental", from, to)
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}
