//! Tenant routing and the admin listing: a call to a number no tenant owns is
//! refused clearly on both the voice webhook and the media stream under the
//! `refuse` policy, or routed to the default tenant; `GET /api/tenants` lists the
//! configured tenants for the admin only.

use std::time::Duration;

use switchboard::config::UnknownNumber;
use switchboard::far_end::{CallSetup, TwilioCall};
use switchboard::tenant::TenantConfig;

use crate::support::{Db, TestApp, CALLER};

const UNKNOWN: &str = "+15559990000";

fn plumbing() -> TenantConfig {
    let mut t = TenantConfig::example();
    t.id = "bright-plumbing".into();
    t.name = "Bright Plumbing".into();
    t.phone_numbers = vec!["+15550200000".into()];
    t.transfer_numbers = vec!["+15550200009".into()];
    t
}

async fn post_twiml(app: &TestApp, to: &str) -> String {
    let body = serde_urlencoded::to_string([
        ("CallSid", "CA00000000000000000000000000000077"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", CALLER),
        ("To", to),
    ])
    .unwrap();
    let mut resp = awc::Client::default()
        .post(app.http_url("/twiml"))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap()
}

#[actix_rt::test]
async fn unknown_number_is_refused_under_the_refuse_policy() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.routing.unknown_number = UnknownNumber::Refuse;
        c.tenants = vec![TenantConfig::example(), plumbing()];
    })
    .await;
    // Voice webhook: a spoken refusal and a hang-up instead of a stream.
    let twiml = post_twiml(&app, UNKNOWN).await;
    assert!(
        twiml.contains("<Say>Sorry, this number is not in service. Goodbye.</Say><Hangup/>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Stream"), "{twiml}");
    // A known number still connects, to its own tenant.
    let twiml = post_twiml(&app, "+15550200000").await;
    assert!(
        twiml.contains("name=\"tenant\" value=\"bright-plumbing\""),
        "{twiml}"
    );

    // Media stream: closed with a policy code and a reason naming the number.
    let setup = CallSetup::new(app.media_url())
        .with_parameter("from", CALLER)
        .with_parameter("to", UNKNOWN);
    let call = TwilioCall::connect(setup).await.expect("socket opens");
    let (code, reason) = call
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("stream closed");
    assert_eq!(code, 1008);
    assert!(reason.contains(UNKNOWN), "{reason}");
    let (_, calls) = app.get_json("/api/calls").await;
    assert_eq!(calls, serde_json::json!([]), "no call was admitted");
    let metrics = {
        let mut resp = awc::Client::default()
            .get(app.http_url("/metrics"))
            .send()
            .await
            .unwrap();
        String::from_utf8(resp.body().await.unwrap().to_vec()).unwrap()
    };
    assert!(
        metrics.contains("switchboard_calls_refused_total{reason=\"routing\"} 2"),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn unknown_number_goes_to_the_default_tenant_under_the_default_policy() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.routing.unknown_number = UnknownNumber::Default;
        c.routing.default_tenant = "bright-plumbing".into();
        c.tenants = vec![TenantConfig::example(), plumbing()];
    })
    .await;
    let twiml = post_twiml(&app, UNKNOWN).await;
    assert!(
        twiml.contains("name=\"tenant\" value=\"bright-plumbing\""),
        "{twiml}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn admin_lists_configured_tenants() {
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.tenants = vec![TenantConfig::example(), plumbing()];
    })
    .await;
    let unauthorized = awc::Client::default()
        .get(app.http_url("/api/tenants"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let (status, body) = app.get_json("/api/tenants").await;
    assert_eq!(status, 200);
    let tenants = body.as_array().expect("array");
    let ids: Vec<&str> = tenants.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["acme-dental", "bright-plumbing"]);
    assert_eq!(tenants[0]["services"]["cleaning"], 60);
    assert_eq!(tenants[1]["transfer_numbers"][0], "+15550200009");
    assert_eq!(tenants[0]["time_zone"], "America/New_York");
    app.stop().await;
}
