//! `switchboard call`: a dial-in client that behaves exactly like Twilio Media
//! Streams (connected, start with customParameters, 20 ms µ-law frames in real
//! time, marks echoed after play-out, stop). It streams a WAV file (any common rate,
//! converted to 8 kHz µ-law), prints the live transcript from `/logs`, and writes
//! the audio the caller heard to a WAV file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::audio::format::{decode_to_pcm, encode_pcm, AudioFormat};
use crate::audio::wav::{read_wav, write_wav};
use crate::events::CallEvent;
use crate::far_end::{CallSetup, LogFeed, TwilioCall};

/// Longest wait for the receptionist's greeting before the caller speaks.
const GREETING_WAIT: Duration = Duration::from_secs(8);

/// Arguments of `switchboard call`.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// WAV file the caller says (any sample rate, mono or stereo).
    #[arg(long)]
    pub wav: PathBuf,
    /// Media Streams URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:8080/media-stream")]
    pub url: String,
    /// The dialled number (routes the call to its tenant).
    #[arg(long, default_value = "+15550100000")]
    pub to: String,
    /// The caller's number.
    #[arg(long, default_value = "+15550100001")]
    pub from: String,
    /// Tenant id, overriding routing by number.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Where to write what the caller heard (8 kHz 16-bit WAV).
    #[arg(long, default_value = "reply.wav")]
    pub out: PathBuf,
    /// Seconds to stay on the line after the WAV ends.
    #[arg(long, default_value_t = 10)]
    pub listen_secs: u64,
    /// Admin token for the live transcript (`/logs`); defaults to the
    /// SWITCHBOARD_SERVER__ADMIN_TOKEN variable or the server's
    /// `server.admin_token_file` (from `--config`).
    #[arg(long, env = "SWITCHBOARD_SERVER__ADMIN_TOKEN")]
    pub admin_token: Option<String>,
}

fn logs_url(media_url: &str, call_sid: &str) -> String {
    let base = media_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(media_url);
    format!("{base}/logs?call_sid={call_sid}")
}

fn print_event(event: &CallEvent) {
    match event {
        CallEvent::Transcript {
            role,
            text,
            interrupted,
            ..
        } => println!(
            "{:>9}: {text}{}",
            role,
            if *interrupted { " [interrupted]" } else { "" }
        ),
        CallEvent::ToolCall {
            name,
            arguments,
            result,
            error,
            ..
        } => println!(
            "     tool: {name}({arguments}) -> {}",
            error.as_deref().or(result.as_deref()).unwrap_or("")
        ),
        CallEvent::LinkRestart { attempt, cause, .. } => {
            println!("     link: restart {attempt} ({cause})")
        }
        CallEvent::CallEnded { reason, .. } => println!("    ended: {reason}"),
        CallEvent::CallStarted { tenant, .. } => {
            println!("  started: tenant {}", tenant.as_deref().unwrap_or("-"))
        }
    }
}

/// Places the call; returns when it is over and the reply WAV is written.
/// `admin_token_file` is read for the live transcript when `--admin-token` is
/// not given.
pub async fn run(args: CallArgs, admin_token_file: &Path) -> anyhow::Result<()> {
    let pcm = read_wav(&args.wav).with_context(|| format!("reading {}", args.wav.display()))?;
    let mulaw = encode_pcm(AudioFormat::Pcmu, &pcm).context("converting to 8 kHz µ-law")?;
    let mut setup = CallSetup::new(args.url.clone())
        .with_parameter("from", args.from.clone())
        .with_parameter("to", args.to.clone());
    if let Some(tenant) = &args.tenant {
        setup = setup.with_parameter("tenant", tenant.clone());
    }
    let token = args.admin_token.clone().or_else(|| {
        std::fs::read_to_string(admin_token_file)
            .ok()
            .map(|t| t.trim().to_string())
    });
    let feed = match LogFeed::connect(&logs_url(&args.url, &setup.call_sid), token.as_deref()).await
    {
        Ok(feed) => Some(feed),
        Err(e) => {
            eprintln!("(no live transcript: {e})");
            None
        }
    };
    println!(
        "calling {} as {} → {} (call {})",
        args.url, args.from, args.to, setup.call_sid
    );
    let mut call = TwilioCall::connect(setup).await.context("connecting")?;
    let mut printed = 0usize;
    let mut print_new = |feed: &Option<LogFeed>| {
        if let Some(feed) = feed {
            let events = feed.events();
            for e in &events[printed.min(events.len())..] {
                print_event(e);
            }
            printed = events.len();
        }
    };
    // Like a person, listen to the greeting before speaking: wait (on a live line)
    // until the receptionist's first words have played, or briefly if none come.
    let greeting_deadline = Instant::now() + GREETING_WAIT;
    loop {
        let received = call.received_audio().len();
        let heard_all = received > 0 && call.played_audio().len() >= received;
        let nothing_yet = received == 0 && Instant::now() > greeting_deadline - GREETING_WAIT / 2;
        if heard_all || nothing_yet || Instant::now() > greeting_deadline || call.is_closed() {
            break;
        }
        call.send_silence(100).await.context("streaming silence")?;
        print_new(&feed);
    }
    for chunk in mulaw.chunks(8 * 500) {
        call.stream_mulaw(chunk).await.context("streaming audio")?;
        print_new(&feed);
        if call.is_closed() {
            break;
        }
    }
    let until = Instant::now() + Duration::from_secs(args.listen_secs);
    while Instant::now() < until && !call.is_closed() {
        call.send_silence(200).await.context("streaming silence")?;
        print_new(&feed);
    }
    if !call.is_closed() {
        call.stop().await.context("hanging up")?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    print_new(&feed);
    let heard = call.played_audio();
    let out = decode_to_pcm(AudioFormat::Pcmu, &heard).context("decoding reply audio")?;
    write_wav(&args.out, &out).with_context(|| format!("writing {}", args.out.display()))?;
    // Stream `start` sent → first assistant audio frame. This command opens the
    // stream without the voice webhook, so the call is never pre-warmed.
    let greeting = call
        .first_audio_latency()
        .map_or_else(|| "none".to_string(), |l| format!("{} ms", l.as_millis()));
    println!(
        "heard {:.1} s of audio → {} (marks echoed: {}, clears: {}, greeting latency: {greeting})",
        heard.len() as f64 / 8000.0,
        args.out.display(),
        call.marks_echoed(),
        call.clears()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_url_is_beside_the_media_stream() {
        assert_eq!(
            logs_url("ws://127.0.0.1:8080/media-stream", "CA1"),
            "ws://127.0.0.1:8080/logs?call_sid=CA1"
        );
    }
}
