//! Two switchboard nodes in one process acting as one cluster: one PostgreSQL
//! schema, the NATS server at 127.0.0.1:4222 (with JetStream), a cluster name
//! of their own per test. `/logs` on one node follows a call carried by the
//! other; a Node client's response stored on one node reaches the client on
//! the other, once; a retried SMS answered on one node is answered once, with
//! the same reply, on the other.

use std::time::Duration;

use serde_json::json;
use switchboard::config::Config;
use switchboard::events::CallEvent;
use switchboard::far_end::{LogFeed, TwilioCall};

use crate::messaging::{
    add_client, assert_nothing_else_sent, next, outbox_rows, post_sms, send, sms_form,
    tenant_messages, ws_connect, EchoChat,
};
use crate::support::db::PgSchema;
use crate::support::{is_transcript, talk_silence_until, TestApp, ADMIN};

/// The NATS server every cluster test uses.
const NATS_URL: &str = "nats://127.0.0.1:4222";

/// Two nodes, `a` and `b`, of a new cluster over one new PostgreSQL schema
/// (`pg`, dropped after them).
struct TwoNodes {
    a: TestApp,
    b: TestApp,
    name: String,
    pg: PgSchema,
}

impl TwoNodes {
    /// Starts `a`, then `b`, each with `tweak` applied.
    async fn start(tweak: impl Fn(&mut Config)) -> TwoNodes {
        TwoNodes::start_each(&tweak, &tweak).await
    }

    /// Starts `a` with `tweak_a` applied, then `b` with `tweak_b`.
    async fn start_each(tweak_a: impl Fn(&mut Config), tweak_b: impl Fn(&mut Config)) -> TwoNodes {
        let pg = PgSchema::new();
        let name = format!("t{}", uuid::Uuid::new_v4().simple());
        let node = |c: &mut Config, id: &str| {
            c.cluster.nats_url = NATS_URL.into();
            c.cluster.name = name.clone();
            c.cluster.node_id = id.into();
        };
        let a = TestApp::start_on(pg.url(), |c| {
            node(c, "a");
            tweak_a(c);
        })
        .await;
        let b = TestApp::start_on(pg.url(), |c| {
            node(c, "b");
            tweak_b(c);
        })
        .await;
        TwoNodes { a, b, name, pg }
    }

    /// Two nodes whose text model answers `Answer: <text>` ([`EchoChat`]),
    /// after 1.5 s for a text containing "slow".
    async fn with_slow_model() -> (EchoChat, TwoNodes) {
        let chat = EchoChat::start(Duration::from_millis(1500));
        let base = chat.base.clone();
        let nodes = TwoNodes::start(move |c| {
            c.text_model.base_url = base.clone();
            c.text_model.api_key = Some("sk-test".into());
        })
        .await;
        (chat, nodes)
    }

    /// Stops both nodes and deletes the cluster's JetStream buckets.
    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
        let client = async_nats::connect(NATS_URL).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        for bucket in ["nodes", "calls", "leases"] {
            let _ = js.delete_key_value(format!("{}_{bucket}", self.name)).await;
        }
        drop(self.pg);
    }
}

/// A call carried by node `b` is followed live on node `a`'s `/logs` (started,
/// the greeting's transcript line, ended), each event once; node `b`'s own
/// feed sees each once too (its events are not echoed back to it).
#[actix_rt::test]
async fn logs_on_one_node_follow_a_call_carried_by_another() {
    let nodes = TwoNodes::start(|c| c.calls.greet_caller = true).await;
    let setup = nodes.b.call_setup();
    let sid = setup.call_sid.clone();
    let on_a = LogFeed::connect(&nodes.a.logs_url(&sid), Some(ADMIN))
        .await
        .expect("feed on a");
    let on_b = LogFeed::connect(&nodes.b.logs_url(&sid), Some(ADMIN))
        .await
        .expect("feed on b");
    let mut call = TwilioCall::connect(setup).await.expect("call to b");
    let answered = talk_silence_until(
        &mut call,
        &on_a,
        Duration::from_secs(12),
        is_transcript("assistant"),
    )
    .await;
    assert!(
        answered.is_some(),
        "no assistant line on a; a: {:?}; b: {:?}",
        on_a.events(),
        on_b.events()
    );
    call.stop().await.expect("hang up");
    let is_end = |e: &CallEvent| matches!(e, CallEvent::CallEnded { .. });
    assert!(
        on_a.wait_for(is_end, Duration::from_secs(5))
            .await
            .is_some(),
        "no call_ended on a: {:?}",
        on_a.events()
    );
    assert!(on_b
        .wait_for(is_end, Duration::from_secs(5))
        .await
        .is_some());

    let kinds = |feed: &LogFeed| -> Vec<String> {
        feed.events()
            .iter()
            .map(|e| match e {
                CallEvent::Transcript { role, .. } => format!("transcript:{role}"),
                other => serde_json::to_value(other).expect("event JSON")["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect()
    };
    let expected = ["call_started", "transcript:assistant", "call_ended"];
    assert_eq!(kinds(&on_a), expected, "{:?}", on_a.events());
    assert_eq!(kinds(&on_b), expected, "{:?}", on_b.events());
    assert_eq!(on_a.events(), on_b.events(), "a saw what b published");
    // Open sockets would hold each node's graceful stop for its timeout.
    drop((on_a, on_b, call));
    nodes.stop().await;
}

/// A Node client's request arrives on node `b` (its older connection there);
/// while the text model thinks, the same client connects to node `a`. The
/// reply, stored on `b`, is pushed to the newest connection — on `a` — once,
/// not to the older one on `b`, and the acknowledgement marks it delivered
/// in the shared database.
#[actix_rt::test]
async fn response_stored_on_one_node_reaches_the_client_on_another_once() {
    let (chat, nodes) = TwoNodes::with_slow_model().await;
    let (_, token) = add_client(&nodes.a, None);

    let mut on_b = ws_connect(&nodes.b, Some(&token)).await.expect("ws to b");
    assert_eq!(next(&mut on_b).await.unwrap()["type"], "authenticated");
    let request = json!({"type":"sms_received","id":"r1","from":crate::support::CALLER,
        "to":crate::support::DIALLED,"message":"slow: are you open Saturday?"});
    send(&mut on_b, &request.to_string()).await;
    let ack = next(&mut on_b).await.unwrap();
    assert_eq!(
        (ack["type"].as_str(), ack["id"].as_str()),
        (Some("message_acknowledged"), Some("r1")),
        "{ack}"
    );

    let mut on_a = ws_connect(&nodes.a, Some(&token)).await.expect("ws to a");
    assert_eq!(next(&mut on_a).await.unwrap()["type"], "authenticated");
    let response = next(&mut on_a).await.expect("response on a");
    assert_eq!(response["type"], "send_sms_response", "{response}");
    assert_eq!(response["in_reply_to"], "r1", "{response}");
    assert_eq!(
        response["message"], "Answer: slow: are you open Saturday?",
        "{response}"
    );
    let id = response["id"].as_str().expect("outbox id").to_string();
    send(&mut on_a, &json!({"type":"delivered","id":id}).to_string()).await;
    assert_nothing_else_sent(&mut on_a).await;
    assert_nothing_else_sent(&mut on_b).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = outbox_rows(&nodes.b);
        assert_eq!(rows.len(), 1, "{rows:?}");
        if rows[0].delivered_at.is_some() {
            assert_eq!(rows[0].id, id);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not marked delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chat.times_asked("are you open Saturday?"), 1);
    drop((on_a, on_b));
    nodes.stop().await;
    chat.handle.stop(false).await;
}

/// Twilio retries an SMS on node `b` while node `a` is still answering it,
/// then once more after: one inbound row and one reply in the shared database
/// (`MessageSid` is unique there), the text model asked once, and every
/// answer is that reply.
#[actix_rt::test]
async fn retried_message_sid_on_another_node_is_answered_once() {
    let (chat, nodes) = TwoNodes::with_slow_model().await;
    let params = sms_form("SM0123456789abcdef0123456789abcd13", "slow: open Saturday?");
    let retry_meanwhile = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        post_sms(&nodes.b, &params, None).await
    };
    let (first, meanwhile) = tokio::join!(post_sms(&nodes.a, &params, None), retry_meanwhile);
    let later = post_sms(&nodes.b, &params, None).await;
    let reply = "<Message>Answer: slow: open Saturday?</Message>";
    assert_eq!(first.0, 200);
    assert!(first.1.contains(reply), "first answer on a: {}", first.1);
    assert_eq!(meanwhile, first, "retry on b while a answers");
    assert_eq!(later, first, "retry on b after a answered");

    let rows = tenant_messages(&nodes.a);
    let inbound = rows.iter().filter(|m| m.direction == "inbound").count();
    assert_eq!((rows.len(), inbound), (2, 1), "{rows:?}");
    assert_eq!(chat.times_asked("open Saturday?"), 1);
    nodes.stop().await;
    chat.handle.stop(false).await;
}

/// An operator on node `a` transfers a phone call carried by node `b` (the
/// Twilio REST request comes from `b`, which holds the call), and `b`'s
/// refusal to transfer a browser call reaches the operator on `a` as a 409
/// with `b`'s reason.
#[actix_rt::test]
async fn a_transfer_asked_on_one_node_is_made_by_the_node_carrying_the_call() {
    use crate::support::stub::HttpStub;
    use crate::transfer::{
        assert_browser_call_is_not_transferred, assert_transferred, bridge, live_call_id,
        post_transfer, with_twilio_and_on_call, TOKEN,
    };

    let twilio = HttpStub::start(|_, _| (200, json!({"sid": "CA", "status": "in-progress"}))).await;
    let api_base = twilio.base.clone();
    let nodes = TwoNodes::start(move |c| with_twilio_and_on_call(c, &api_base)).await;
    let setup = nodes
        .b
        .through_signed_webhook(nodes.b.call_setup(), TOKEN)
        .await;
    let call_sid = setup.call_sid.clone();
    let mut call = TwilioCall::connect(setup).await.expect("call on b");
    let id = live_call_id(&nodes.a, "twilio", Some(&call_sid)).await;

    let (status, body) = post_transfer(&nodes.a, &id, r#"{"reason":"needs Dr Lee"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_transferred(&mut call, &twilio, &call_sid).await;
    // Twilio's transfer webhooks go to the node that wrote the TwiML: b.
    bridge(&nodes.b, &id).await;
    let record = nodes
        .a
        .wait_call_ended(&call_sid, Duration::from_secs(10))
        .await;
    assert_eq!(record["call"]["ended_reason"], "transferred: needs Dr Lee");
    assert_eq!(record["call"]["node_id"], "b");

    assert_browser_call_is_not_transferred(&nodes.b, &nodes.a).await;
    assert_eq!(twilio.requests().len(), 1);
    nodes.stop().await;
}

/// An owner's tenant session edit on node `a` reaches the calls node `b`
/// starts, and a later edit on `b` reaches `a`.
#[actix_rt::test]
async fn a_tenant_session_edit_on_one_node_reaches_new_calls_on_the_other() {
    use crate::operator::{put_tenant_session, voice_of_a_new_call};

    let nodes = TwoNodes::start(|_| {}).await;
    put_tenant_session(&nodes.a, json!({"voice": "cedar"})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // The notice travels over NATS: the next call on b may start before it.
    while voice_of_a_new_call(&nodes.b).await != "cedar" {
        assert!(
            std::time::Instant::now() < deadline,
            "b never took a's edit"
        );
    }
    let merged = put_tenant_session(&nodes.b, json!({"voice": "sage"})).await;
    assert_eq!(merged["voice"], "sage");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while voice_of_a_new_call(&nodes.a).await != "sage" {
        assert!(
            std::time::Instant::now() < deadline,
            "a never took b's edit"
        );
    }
    nodes.stop().await;
}

/// The keys of the cluster's admission-slot bucket (`<name>_leases`).
async fn slot_keys(cluster_name: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let client = async_nats::connect(NATS_URL).await.expect("NATS");
    let js = async_nats::jetstream::new(client);
    let leases = js
        .get_key_value(format!("{cluster_name}_leases"))
        .await
        .expect("leases bucket");
    match leases.keys().await {
        Ok(keys) => keys.filter_map(|k| async move { k.ok() }).collect().await,
        Err(_) => Vec::new(),
    }
}

/// Waits up to 5 s for the slot bucket to hold `want` keys.
async fn wait_slots(cluster_name: &str, want: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let keys = slot_keys(cluster_name).await;
        if keys.len() == want || std::time::Instant::now() >= deadline {
            return keys;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Node `a` answers its callers without waiting for NATS
/// (`request_timeout_ms = 0`, as when NATS is slow): each call is admitted
/// on its own count, and the cluster request that was already under way
/// finishes late. The tenant's one slot it takes is held for the call while
/// the call lasts (node `b` refuses the tenant meanwhile) and given back when
/// it ends, not left taken until the lease (30 s) expires.
#[actix_rt::test]
async fn a_late_cluster_admission_holds_its_slot_for_the_call_and_gives_it_back() {
    let cap_one = |timeout_ms: u64| {
        move |c: &mut Config| {
            c.calls.max_calls_per_tenant = Some(1);
            c.cluster.lease_secs = 30;
            c.cluster.request_timeout_ms = timeout_ms;
        }
    };
    let nodes = TwoNodes::start_each(cap_one(0), cap_one(5000)).await;
    let (mut call, _feed) = nodes.a.dial().await;
    let held = wait_slots(&nodes.name, 1).await;
    assert_eq!(
        held,
        vec!["acme-dental.0".to_string()],
        "the late request took no slot"
    );
    assert!(
        call.wait_closed(Duration::from_millis(200)).await.is_none(),
        "a refused its caller"
    );
    let (other, _feed) = nodes.b.dial().await;
    let (code, reason) = other
        .wait_closed(Duration::from_secs(5))
        .await
        .expect("b admitted past the cap");
    assert_eq!(code, 1013, "{reason}");

    call.stop().await.expect("stop");
    nodes
        .a
        .wait_call_ended(call.call_sid(), Duration::from_secs(10))
        .await;
    let held = wait_slots(&nodes.name, 0).await;
    assert!(
        held.is_empty(),
        "the late admission's slot was kept: {held:?}"
    );
    let (next, _feed) = nodes.b.dial().await;
    assert!(
        next.wait_closed(Duration::from_secs(1)).await.is_none(),
        "b refused with the slot free"
    );
    nodes.stop().await;
}

/// A rogue client on the cluster's NATS (reachable, so it may publish), with
/// no cluster secret, or a wrong one: its hang-up request to the node carrying
/// a call gets no answer and the call stays up; its fake transcript line on
/// the call's event subject never reaches `/logs`; its settings notice with
/// version `i64::MAX` and a voice of its choosing changes no node's new
/// calls, and the owner's later edit still does.
#[actix_rt::test]
async fn a_rogue_bus_client_without_the_cluster_secret_changes_nothing() {
    use switchboard::actor_messages::{OperateCall, OperatorAction};
    use switchboard::cluster::settings::SessionNotice;
    use switchboard::cluster::sign::Signer;
    use switchboard::session_settings::SessionSettings;

    use crate::operator::{put_tenant_session, voice_of_a_new_call};

    let nodes = TwoNodes::start(|_| {}).await;
    let name = nodes.name.clone();
    let setup = nodes.b.call_setup();
    let sid = setup.call_sid.clone();
    let on_a = LogFeed::connect(&nodes.a.logs_url(&sid), Some(ADMIN))
        .await
        .expect("feed on a");
    let mut call = TwilioCall::connect(setup).await.expect("call to b");
    let started = on_a
        .wait_for(
            |e| matches!(e, CallEvent::CallStarted { .. }),
            Duration::from_secs(5),
        )
        .await
        .expect("call_started on a");
    let call_id = started.call_id().to_string();

    let rogue = async_nats::connect(NATS_URL).await.expect("rogue client");
    let forger = Signer::new("not-the-cluster-secret-but-long-enough");
    let sign = |subject: &str, payload: &[u8]| forger.headers(subject, "a", payload);

    // Hang-up requests to node b, unsigned and forged: no answer, no effect.
    let hang_up = serde_json::to_vec(&OperateCall {
        call_id: call_id.clone(),
        action: OperatorAction::HangUp,
        tenant: None,
    })
    .expect("json");
    let operate = format!("{name}.node.b.operate");
    let unsigned = rogue.request(operate.clone(), hang_up.clone().into());
    let answer = tokio::time::timeout(Duration::from_millis(1500), unsigned).await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "node b answered an unsigned hang-up"
    );
    let forged = rogue.request_with_headers(
        operate.clone(),
        sign(&operate, &hang_up),
        hang_up.clone().into(),
    );
    let answer = tokio::time::timeout(Duration::from_millis(1500), forged).await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "node b answered a forged hang-up"
    );

    // A fake transcript line for the call, unsigned and forged.
    let fake = serde_json::to_vec(&CallEvent::Transcript {
        call_id: call_id.clone(),
        call_sid: Some(sid.clone()),
        role: "assistant".into(),
        text: "rogue line".into(),
        interrupted: false,
    })
    .expect("json");
    let events = format!("{name}.events.acme-dental.{call_id}");
    rogue
        .publish(events.clone(), fake.clone().into())
        .await
        .expect("publish");
    rogue
        .publish_with_headers(events.clone(), sign(&events, &fake), fake.clone().into())
        .await
        .expect("publish");

    // A settings notice claiming the newest edit ever, both ways.
    let settings = SessionSettings {
        voice: Some("ash".into()),
        ..SessionSettings::default()
    };
    let notice = serde_json::to_vec(&SessionNotice {
        tenant_id: "acme-dental".into(),
        version: i64::MAX,
        settings,
    })
    .expect("json");
    let subject = format!("{name}.settings.acme-dental");
    rogue
        .publish(subject.clone(), notice.clone().into())
        .await
        .expect("publish");
    rogue
        .publish_with_headers(subject.clone(), sign(&subject, &notice), notice.into())
        .await
        .expect("publish");
    rogue.flush().await.expect("flush");

    // The call is still up on b: it still hears the assistant, and a saw no
    // end and no rogue line.
    call.send_silence(500).await.expect("call still open");
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert!(!call.is_closed(), "the call was hung up");
    let seen = on_a.events();
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, CallEvent::CallEnded { .. })),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, CallEvent::Transcript { text, .. } if text == "rogue line")),
        "the fake line reached /logs: {seen:?}"
    );
    let (status, live) = nodes.a.get_json("/api/calls").await;
    assert_eq!(status, 200);
    assert!(live.to_string().contains(&call_id), "{live}");
    call.stop().await.expect("hang up");

    // No node took the rogue voice; the owner's edit still reaches both.
    assert_ne!(voice_of_a_new_call(&nodes.a).await, "ash");
    assert_ne!(voice_of_a_new_call(&nodes.b).await, "ash");
    put_tenant_session(&nodes.b, json!({"voice": "sage"})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while voice_of_a_new_call(&nodes.a).await != "sage" {
        assert!(
            std::time::Instant::now() < deadline,
            "a never took b's edit"
        );
    }
    nodes.stop().await;
}

/// Node-client session lists ("which node holds the newest session"): node
/// n1 hears n2's signed list, and nothing of a rogue's unsigned or forged
/// list claiming a newer session, nor of a list signed with the cluster
/// secret but published for another node than its sender.
#[actix_rt::test]
async fn only_a_node_s_own_signed_session_list_is_heard() {
    use futures_util::StreamExt as _;
    use switchboard::cluster::clients::{AnnouncedSession, ClientNews, SessionsAnnounce};
    use switchboard::cluster::sign::Signer;
    use switchboard::cluster::Cluster;

    let config = switchboard::config::ClusterConfig {
        nats_url: NATS_URL.into(),
        name: format!("t{}", uuid::Uuid::new_v4().simple()),
        secret: Some(crate::support::CLUSTER_SECRET.into()),
        ..Default::default()
    };
    let n1 = Cluster::connect(&config, "n1").await.expect("n1");
    let n2 = Cluster::connect(&config, "n2").await.expect("n2");
    let mut news = n1.client_news().await.expect("client news");
    let newer = |session: u64| SessionsAnnounce {
        version: u64::MAX,
        sessions: vec![AnnouncedSession {
            session,
            tenant_ids: vec!["acme-dental".into()],
            since: chrono::Utc::now(),
        }],
    };
    let rogue = async_nats::connect(NATS_URL).await.expect("rogue");
    let subject = format!("{}.clients.n3", config.name);
    let body = serde_json::to_vec(&newer(666)).expect("json");
    rogue
        .publish(subject.clone(), body.clone().into())
        .await
        .expect("publish");
    let forged = Signer::new("not-the-cluster-secret-but-long-enough");
    rogue
        .publish_with_headers(
            subject.clone(),
            forged.headers(&subject, "n3", &body),
            body.clone().into(),
        )
        .await
        .expect("publish");
    // The real secret, but n2 speaking for n3.
    let real = Signer::new(crate::support::CLUSTER_SECRET);
    rogue
        .publish_with_headers(
            subject.clone(),
            real.headers(&subject, "n2", &body),
            body.into(),
        )
        .await
        .expect("publish");
    rogue.flush().await.expect("flush");
    n2.announce_sessions(&newer(7)).await.expect("n2 announces");
    let first = tokio::time::timeout(Duration::from_secs(5), news.next())
        .await
        .expect("news in time")
        .expect("news");
    match first {
        ClientNews::Sessions { node, announce } => {
            assert_eq!(node, "n2");
            assert_eq!(announce.sessions[0].session, 7);
        }
        other => panic!("unexpected news: {other:?}"),
    }
    let more = tokio::time::timeout(Duration::from_millis(500), news.next()).await;
    assert!(more.is_err(), "more news: {more:?}");
    let js = async_nats::jetstream::new(rogue);
    for bucket in ["nodes", "calls", "leases"] {
        let _ = js
            .delete_key_value(format!("{}_{bucket}", config.name))
            .await;
    }
}
