//! Redaction at rest (issue 26): a caller who reads out a card number and an
//! SSN — in the call and in a text — leaves only `[card number]` and `[ssn]`
//! in storage: every file under the app's folder (the SQLite database, its
//! WAL, the spool) is scanned for the digits. The live call still hears and
//! shows them.

use std::path::Path;
use std::time::Duration;

use switchboard::carrier::twilio::signature;
use switchboard::events::CallEvent;
use switchboard::far_end::{LogFeed, TwilioCall};
use switchboard::store::{caller_messages, transcripts};
use switchboard::tenant::redaction::Redaction;

use crate::messaging::{pool, post_sms, sms_form, tenant_messages};
use crate::support::scripted::turn_with_tool;
use crate::support::{files_holding, Db, TestApp, ADMIN, CALLER};

const TOKEN: &str = "twilio-test-auth-token";
/// Stripe's test Visa number, and an SSN the SSA could issue.
const CARD: &str = "4242 4242 4242 4242";
const SSN: &str = "123-45-6789";

fn script(dir: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"[[turns]]
user_transcript = "My card is {CARD} and my social is {SSN}."

[turns.function_call]
name = "takeMessage"
arguments = {{ callerName = "Dana Smith", callerPhone = "{CALLER}", message = "Pay with card {CARD}, SSN {SSN}.", urgency = "normal" }}

[turns.reply]
clip = "fallback.wav"
text = "Done: takeMessage."

[fallback]
clip = "fallback.wav"
text = "Sorry, could you say that again?"
"#
    );
    let path = dir.join("script.toml");
    std::fs::write(&path, text).expect("script");
    path
}

#[actix_rt::test]
async fn a_card_number_and_an_ssn_leave_only_placeholders_in_storage() {
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path());
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.simulator.script = script;
        c.tenants[0].redact = vec![Redaction::CardNumber, Redaction::UsSsn];
        c.twilio.auth_token = Some(TOKEN.into());
        c.messaging.auto_reply = "Thanks, we got your message.".into();
    })
    .await;

    // The call: the caller's words and the model's tool call carry both numbers.
    // The line has an auth token: Twilio signs the webhook and the stream.
    let setup = app.through_signed_webhook(app.call_setup(), TOKEN).await;
    let feed = LogFeed::connect(&app.logs_url(&setup.call_sid), Some(ADMIN))
        .await
        .expect("feed");
    let mut call = TwilioCall::connect(setup).await.expect("call");
    let call_sid = call.call_sid().to_string();
    turn_with_tool(&mut call, &feed, "takeMessage").await;
    call.stop().await.expect("hang up");
    let record = app
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    let call_id = record["call"]["id"].as_str().expect("call id").to_string();
    // The live view is not storage: it showed what was said.
    assert!(
        feed.events().iter().any(|e| matches!(e,
            CallEvent::Transcript { role, text, .. } if role == "user" && text.contains(CARD))),
        "{:?}",
        feed.events()
    );

    // A text with the card number in it.
    let params = sms_form(
        "SM0123456789abcdef0123456789abcdef",
        "Charge 4242-4242-4242-4242 for the visit",
    );
    let sig = signature::compute(TOKEN, &app.http_url("/sms/inbound"), &params);
    let (status, body) = post_sms(&app, &params, Some(&sig)).await;
    assert_eq!(status, 200, "{body}");

    // Stored: the placeholders where the numbers were.
    let mut conn = pool(&app).get().unwrap();
    let lines = transcripts::for_call(&mut conn, &call_id).unwrap();
    let caller = lines
        .iter()
        .find(|l| l.role == "user")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(
        caller.text,
        "My card is [card number] and my social is [ssn]."
    );
    let messages = caller_messages::for_tenant(&mut conn, "acme-dental", 10).unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0].message,
        "Pay with card [card number], SSN [ssn]."
    );
    let tools = record["tool_invocations"].as_array().unwrap();
    assert!(
        tools[0]["arguments"]
            .as_str()
            .unwrap()
            .contains("Pay with card [card number], SSN [ssn]."),
        "{tools:?}"
    );
    let texts = tenant_messages(&app);
    assert!(
        texts
            .iter()
            .any(|m| m.body == "Charge [card number] for the visit"),
        "{texts:?}"
    );
    drop(conn);

    // And nowhere in any file, in any of the spellings used.
    for needle in [
        "4242 4242 4242 4242",
        "4242424242424242",
        "4242-4242-4242-4242",
        SSN,
    ] {
        let holding = files_holding(app.dir.path(), needle);
        assert!(holding.is_empty(), "{needle} stored in {holding:?}");
    }
    app.stop().await;
}
