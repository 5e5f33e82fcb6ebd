//! [`ModelEvent`]: something a realtime model said or did, in the call's terms —
//! what the trackers (`tracker`, `live_tracker`) make of provider server events
//! and what the link sends its call.

use actix::prelude::*;
use bytestring::ByteString;

/// Something the model said or did, parsed from its server events by the link.
/// Item ids are the provider's where it sends them; where it leaves them out
/// (xAI), the link names the item after its response so audio and transcript of
/// one answer still share a key.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub enum ModelEvent {
    /// The session is configured (history replayed after a restart); `generation`
    /// counts links of this call from 0.
    Ready { generation: u32 },
    /// Assistant audio (`response.output_audio.delta`), base64 in the session format.
    Audio { item_id: String, delta: ByteString },
    /// Output audio with no speech in it and no reply in progress (GPT-Live's
    /// one continuous track between replies): played, but no reply waits on it.
    QuietAudio { delta: ByteString },
    /// Caller speech started (`input_audio_buffer.speech_started`); `item_id` is
    /// the user item it will become, when the provider names it.
    SpeechStarted {
        audio_start_ms: Option<u32>,
        item_id: Option<String>,
    },
    /// Caller speech ended (`input_audio_buffer.speech_stopped`); starts the turn clock.
    SpeechStopped { audio_end_ms: Option<u32> },
    /// Caller transcript (`conversation.item.input_audio_transcription.completed`);
    /// a later one for the same item replaces it.
    UserTranscript {
        item_id: Option<String>,
        text: String,
    },
    /// Final assistant transcript of one item (`response.output_audio_transcript.done`,
    /// or the deltas when the provider sends no full text).
    AssistantTranscript { item_id: String, text: String },
    /// A response started (`response.created`).
    ResponseStarted,
    /// The model wants a tool run: `name` from the `function_call` item or
    /// `response.function_call_arguments.done`, whichever names it; sent once per
    /// `call_id`.
    ToolCallRequested {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A response finished (`response.done`), `status` as sent (`completed`, `cancelled`…).
    ResponseDone { status: String },
    /// A non-fatal model `error` event (logged, counted).
    Error { code: String, message: String },
}
