//! The built-in realtime simulator over a real loopback socket: an actix-web
//! server on 127.0.0.1:0 with the simulator mounted, driven by an awc
//! WebSocket client speaking GA events.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_codec::Framed;
use actix_web::{App, HttpServer};
use awc::ws::{Codec, Frame, Message};
use awc::BoxedSocket;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::audio::format::{decode_base64, encode_base64, encode_pcm, AudioFormat};
use switchboard::audio::wav::read_wav;
use switchboard::model::simulator::{Script, Simulator};

type Ws = Framed<BoxedSocket, Codec>;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn shipped_script() -> Script {
    Script::load(&assets().join("sim/script.toml")).expect("shipped script loads")
}

/// Starts a server with `sim` mounted; returns the ws:// URL.
fn serve(sim: &Simulator) -> String {
    let sim = sim.clone();
    let server = HttpServer::new(move || {
        let sim = sim.clone();
        App::new().configure(move |cfg| sim.configure(cfg))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind loopback");
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());
    format!("ws://{addr}/sim/v1/realtime?model=gpt-realtime-2.1")
}

async fn connect(url: &str) -> Ws {
    let (_resp, ws) = awc::Client::new()
        .ws(url)
        .max_frame_size(1 << 20)
        .connect()
        .await
        .expect("websocket connects");
    ws
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send frame");
}

/// Reads events until one of type `until` arrives (inclusive).
async fn read_until(ws: &mut Ws, until: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {until}; got {:?}", types(&out)))
            .expect("socket open")
            .expect("valid frame");
        if let Frame::Text(bytes) = frame {
            let v: Value = serde_json::from_slice(&bytes).expect("server sends JSON");
            let done = v["type"] == until;
            out.push(v);
            if done {
                return out;
            }
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

fn ga_update(turn_detection: Value) -> Value {
    json!({"type": "session.update", "session": {
        "type": "realtime", "instructions": "Be brief.", "output_modalities": ["audio"],
        "audio": {
            "input": {"format": {"type": "audio/pcmu"},
                      "transcription": {"model": "gpt-live-transcribe"},
                      "turn_detection": turn_detection},
            "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}
        }
    }})
}

fn vad() -> Value {
    json!({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
           "silence_duration_ms": 500, "create_response": true, "interrupt_response": true})
}

/// Total ms of µ-law audio (8 bytes per ms) in the response's audio deltas.
fn delta_ms(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| {
            decode_base64(e["delta"].as_str().expect("delta"))
                .expect("base64")
                .len()
                / 8
        })
        .sum()
}

fn clip_ms_pcmu(name: &str) -> usize {
    let pcm = read_wav(&assets().join("sim").join(name)).expect("clip");
    encode_pcm(AudioFormat::Pcmu, &pcm).expect("encode").len() / 8
}

async fn append_pcmu(ws: &mut Ws, bytes: &[u8]) {
    for frame in bytes.chunks(160) {
        send(
            ws,
            json!({"type": "input_audio_buffer.append", "audio": encode_base64(frame)}),
        )
        .await;
    }
}

#[actix_rt::test]
async fn ga_session_update_is_acknowledged_and_garbage_is_an_error() {
    let sim = Simulator::new(shipped_script(), &assets().join("sim"), 0.0).expect("simulator");
    let url = serve(&sim);
    let mut ws = connect(&url).await;
    let created = read_until(&mut ws, "session.created").await;
    assert_eq!(created[0]["session"]["type"], "realtime");
    send(&mut ws, ga_update(vad())).await;
    let updated = read_until(&mut ws, "session.updated").await;
    let s = &updated.last().expect("event")["session"];
    assert_eq!(s["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(
        s["audio"]["input"]["turn_detection"]["silence_duration_ms"],
        500
    );

    ws.send(Message::Text("{not json".into()))
        .await
        .expect("send");
    let err = read_until(&mut ws, "error").await;
    assert_eq!(err.last().expect("error")["error"]["code"], "invalid_event");
    send(
        &mut ws,
        json!({"type": "response.teleport", "event_id": "cli_7"}),
    )
    .await;
    let err = read_until(&mut ws, "error").await;
    assert_eq!(err.last().expect("error")["error"]["event_id"], "cli_7");
    // The session survives both.
    send(&mut ws, ga_update(vad())).await;
    read_until(&mut ws, "session.updated").await;
}

#[actix_rt::test]
async fn spoken_turn_gets_vad_events_transcript_and_the_whole_reply_clip() {
    let sim = Simulator::new(shipped_script(), &assets().join("sim"), 0.0)
        .expect("simulator")
        .with_recording(true);
    let url = serve(&sim);
    let mut ws = connect(&url).await;
    read_until(&mut ws, "session.created").await;
    send(&mut ws, ga_update(vad())).await;
    read_until(&mut ws, "session.updated").await;

    // 1 s of µ-law silence (0xFF), then the caller's recorded request.
    append_pcmu(&mut ws, &[0xFF; 8000]).await;
    let caller = read_wav(&assets().join("audio/caller-booking.wav")).expect("caller clip");
    append_pcmu(
        &mut ws,
        &encode_pcm(AudioFormat::Pcmu, &caller).expect("encode"),
    )
    .await;

    let events = read_until(&mut ws, "response.done").await;
    let t = types(&events);
    let pos = |name: &str| t.iter().position(|x| *x == name).unwrap_or(usize::MAX);
    assert!(pos("input_audio_buffer.speech_started") < pos("input_audio_buffer.speech_stopped"));
    assert!(pos("input_audio_buffer.speech_stopped") < pos("response.created"));
    let started = &events[pos("input_audio_buffer.speech_started")];
    let start_ms = started["audio_start_ms"].as_u64().expect("audio_start_ms");
    assert!(
        (900..=1400).contains(&start_ms),
        "speech should start about 1.3 s in minus padding, got {start_ms}"
    );
    let transcript = &events[pos("conversation.item.input_audio_transcription.completed")];
    assert_eq!(
        transcript["transcript"],
        "Hi, this is Dana Smith. I would like to book a teeth cleaning for next Tuesday morning, please."
    );
    assert_eq!(delta_ms(&events), clip_ms_pcmu("booking.wav"));
    let done = events.last().expect("response.done");
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["transcript"],
        "Happy to help with that. Let me check what is open on Tuesday morning."
    );
    let recorded = sim.recorded_sessions();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0][0]["type"], "session.update");
}

#[actix_rt::test]
async fn function_call_turn_round_trips_to_the_reply() {
    let script = Script::from_toml_str(
        r#"
        [[turns]]
        user_transcript = "Please take a message for Doctor Lee."
        function_call = { name = "takeMessage", arguments = { callerName = "Dana Smith", urgency = "normal" } }
        reply = { clip = "message-taken.wav", text = "I have taken your message." }
        [fallback]
        clip = "fallback.wav"
        text = "Sorry, could you say that again?"
        "#,
    )
    .expect("script");
    let sim = Simulator::new(script, &assets().join("sim"), 20.0).expect("simulator");
    let url = serve(&sim);
    let mut ws = connect(&url).await;
    read_until(&mut ws, "session.created").await;
    // Manual turns: commit + response.create.
    send(&mut ws, ga_update(Value::Null)).await;
    let updated = read_until(&mut ws, "session.updated").await;
    assert!(updated.last().expect("ev")["session"]["audio"]["input"]["turn_detection"].is_null());
    append_pcmu(&mut ws, &[0x10; 4000]).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let committed = read_until(&mut ws, "conversation.item.done").await;
    assert!(types(&committed).contains(&"input_audio_buffer.committed"));
    send(&mut ws, json!({"type": "response.create"})).await;
    let call = read_until(&mut ws, "response.done").await;
    let args = call
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .expect("function call");
    // GA shape: the name is on the function_call item, not on arguments.done.
    assert!(
        args.get("name").is_none(),
        "GA arguments.done has no name: {args}"
    );
    let item = call
        .iter()
        .find(|e| e["type"] == "response.output_item.added")
        .expect("function_call item");
    assert_eq!(item["item"]["type"], "function_call");
    assert_eq!(item["item"]["name"], "takeMessage");
    assert_eq!(item["item"]["call_id"], args["call_id"]);
    let parsed: Value =
        serde_json::from_str(args["arguments"].as_str().expect("args")).expect("JSON");
    assert_eq!(parsed["callerName"], "Dana Smith");
    assert_eq!(delta_ms(&call), 0, "a tool-call response carries no audio");

    send(
        &mut ws,
        json!({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": args["call_id"], "output": "{\"ok\":true}"}}),
    )
    .await;
    read_until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let reply = read_until(&mut ws, "response.done").await;
    assert_eq!(delta_ms(&reply), clip_ms_pcmu("message-taken.wav"));
    let done = reply.last().expect("done");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["transcript"],
        "I have taken your message."
    );

    // Truncating past the audio actually sent is refused, like OpenAI does.
    let item_id = done["response"]["output"][0]["id"].clone();
    let sent_ms = delta_ms(&reply) as u64;
    send(
        &mut ws,
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                         "content_index": 0, "audio_end_ms": sent_ms + 1000, "event_id": "cli_t1"}),
    )
    .await;
    let err = read_until(&mut ws, "error").await;
    let err = &err.last().expect("error")["error"];
    assert_eq!(err["param"], "audio_end_ms");
    assert_eq!(err["event_id"], "cli_t1");
    send(
        &mut ws,
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                         "content_index": 0, "audio_end_ms": 1200}),
    )
    .await;
    let ok = read_until(&mut ws, "conversation.item.truncated").await;
    assert_eq!(ok.last().expect("truncated")["audio_end_ms"], 1200);
    send(
        &mut ws,
        json!({"type": "conversation.item.truncate", "item_id": "item_nope",
                         "content_index": 0, "audio_end_ms": 10}),
    )
    .await;
    read_until(&mut ws, "error").await;
}

#[actix_rt::test]
async fn killed_sessions_end_without_a_close_frame_and_refusal_is_503() {
    let sim = Simulator::new(shipped_script(), &assets().join("sim"), 1.0).expect("simulator");
    let url = serve(&sim);
    let mut ws = connect(&url).await;
    read_until(&mut ws, "session.created").await;
    assert_eq!(sim.session_count(), 1);
    sim.kill_sessions();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("socket should end promptly")
        {
            None | Some(Err(_)) => break,
            Some(Ok(Frame::Close(reason))) => panic!("got a close frame: {reason:?}"),
            Some(Ok(_)) => {}
        }
    }
    for _ in 0..50 {
        if sim.session_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sim.session_count(), 0);

    sim.set_refuse_connections(true);
    let refused = awc::Client::new().ws(url.as_str()).connect().await;
    match refused {
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            assert_eq!(status.as_u16(), 503)
        }
        other => panic!(
            "expected a 503 refusal, got {:?}",
            other.map(|(r, _)| r.status())
        ),
    }
    sim.set_refuse_connections(false);
    let mut again = connect(&url).await;
    read_until(&mut again, "session.created").await;
    assert_eq!(sim.connections_total(), 2);
}

#[actix_rt::test]
async fn speech_during_a_reply_cancels_it_with_turn_detected() {
    use switchboard::audio::wav::Pcm;
    let sim = Simulator::new(shipped_script(), &assets().join("sim"), 1.0).expect("simulator");
    let url = serve(&sim);
    let mut ws = connect(&url).await;
    read_until(&mut ws, "session.created").await;
    send(&mut ws, ga_update(vad())).await;
    read_until(&mut ws, "session.updated").await;
    // Agent-first greeting, streamed in real time.
    send(&mut ws, json!({"type": "response.create"})).await;
    read_until(&mut ws, "response.output_audio.delta").await;
    // The caller talks over it: 400 ms of a loud 300 Hz tone (≈ −9 dBFS).
    let tone = Pcm {
        samples: (0..3200)
            .map(|i| (12000.0 * (i as f32 * 300.0 * std::f32::consts::TAU / 8000.0).sin()) as i16)
            .collect(),
        sample_rate: 8000,
    };
    append_pcmu(
        &mut ws,
        &encode_pcm(AudioFormat::Pcmu, &tone).expect("encode"),
    )
    .await;
    let events = read_until(&mut ws, "response.done").await;
    let t = types(&events);
    let started = t
        .iter()
        .position(|x| *x == "input_audio_buffer.speech_started")
        .expect("speech_started");
    assert!(started < t.len() - 1);
    let done = events.last().expect("done");
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    assert!(delta_ms(&events) < clip_ms_pcmu("greeting.wav"));
}
