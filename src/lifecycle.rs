//! The words of a call's lifecycle that every layer shares: which carrier carries
//! the call ([`Carrier`]), why it was refused ([`Refusal`]) and why it ended
//! ([`EndReason`]). Typed inside the process; written as text only where it leaves
//! it — the `calls.carrier` and `calls.ended_reason` columns, `/logs` events and the
//! `reason` label of `calls_ended_total` — and that text is exactly what
//! [`std::fmt::Display`] gives (and [`std::str::FromStr`] reads back).

use std::fmt;
use std::str::FromStr;

/// Which carrier edge carries a call; stored in `calls.carrier` and shown in
/// `call_started` events as `twilio`, `jambonz` or `browser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// Twilio Media Streams (`/media-stream`).
    Twilio,
    /// jambonz WebSocket API (`/jambonz`); jambonz runs the model.
    Jambonz,
    /// The browser softphone (`/browser`).
    Browser,
    /// OpenAI's own SIP endpoint (`/openai/webhook`): OpenAI carries the audio
    /// and runs the model; switchboard steers the call over a sideband.
    OpenAiSip,
}

impl Carrier {
    /// The stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Carrier::Twilio => "twilio",
            Carrier::Jambonz => "jambonz",
            Carrier::Browser => "browser",
            Carrier::OpenAiSip => "openai-sip",
        }
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no [`Carrier`] or [`EndReason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {text:?}")]
pub struct UnknownText {
    /// `carrier` or `end reason`.
    pub what: &'static str,
    pub text: String,
}

impl FromStr for Carrier {
    type Err = UnknownText;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Carrier::Twilio,
            Carrier::Jambonz,
            Carrier::Browser,
            Carrier::OpenAiSip,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| UnknownText {
            what: "carrier",
            text: s.to_string(),
        })
    }
}

/// Why a call was not taken; the `ended_reason` of its `refused` row
/// (`refused_capacity`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `calls.max_calls` calls are in progress.
    Capacity,
    /// `calls.max_calls_per_tenant` of the tenant's calls are in progress
    /// (across the cluster when clustered).
    TenantCapacity,
    /// The server is shutting down.
    Draining,
    /// The Supervisor did not answer.
    Supervisor,
    /// A jambonz `session:new` ack would exceed `jambonz.max_payload_bytes`.
    PayloadTooLarge,
    /// The tenant's provider has no jambonz `llm` vendor.
    NoJambonzVendor,
    /// The tenant's provider has no API key to hand jambonz.
    NoModelKey,
}

impl Refusal {
    const ALL: [Refusal; 7] = [
        Refusal::Capacity,
        Refusal::TenantCapacity,
        Refusal::Draining,
        Refusal::Supervisor,
        Refusal::PayloadTooLarge,
        Refusal::NoJambonzVendor,
        Refusal::NoModelKey,
    ];

    /// The stored `ended_reason`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Capacity => "refused_capacity",
            Refusal::TenantCapacity => "refused_tenant_capacity",
            Refusal::Draining => "refused_draining",
            Refusal::Supervisor => "refused_supervisor",
            Refusal::PayloadTooLarge => "refused_payload_too_large",
            Refusal::NoJambonzVendor => "refused_no_jambonz_vendor",
            Refusal::NoModelKey => "refused_no_model_key",
        }
    }

    /// The `reason` label of `calls_refused_total` (the stored text without `refused_`).
    pub const fn metric_label(self) -> &'static str {
        match self {
            Refusal::Capacity => "capacity",
            Refusal::TenantCapacity => "tenant_capacity",
            Refusal::Draining => "draining",
            Refusal::Supervisor => "supervisor",
            Refusal::PayloadTooLarge => "payload_too_large",
            Refusal::NoJambonzVendor => "no_jambonz_vendor",
            Refusal::NoModelKey => "no_model_key",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call ended: the `ended_reason` column, the `reason` of `call_ended`
/// events, and (bounded, see [`EndReason::metric_label`]) the label of
/// `calls_ended_total`. Variants with text keep it as the stored value's tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up (Twilio `stop`, browser hang-up, jambonz `completed`).
    CallerHangup,
    /// The carrier's socket closed without `stop`.
    CarrierClosed,
    /// No carrier frame for `calls.carrier_idle_timeout_secs`.
    CarrierTimeout,
    /// The carrier's socket went away without a close frame (I/O error, EOF, or
    /// the connection dropped under the edge actor, whichever is noticed first).
    CarrierReset,
    /// The carrier broke its protocol (invalid frames, duplicate `start`, oversize).
    CarrierProtocolError,
    /// The carrier stopped reading our audio (`calls.max_unacked_audio_ms`).
    CarrierSlowConsumer,
    /// A final jambonz `call:status` other than `completed`, `-` written `_`:
    /// stored `carrier_<status>` (`carrier_no_answer`).
    CarrierStatus(String),
    /// The assistant ended the call (`hang_up` tool): `assistant_hangup: <reason>`.
    AssistantHangup(String),
    /// The call was handed to a person: `transferred: <reason>` (Twilio), or
    /// `transferred: <number> (<reason>)` when the number is recorded (jambonz).
    Transferred {
        number: Option<String>,
        reason: String,
    },
    /// A transfer whose outcome never came back within its bound (no dial
    /// outcome from the carrier, or no way-back stream after a failed one):
    /// `transfer_unresolved: <detail>`.
    TransferUnresolved(String),
    /// The model could not be reached within the restart budget, or jambonz's
    /// `llm` verb ended abnormally: `model_unavailable: <cause>`.
    ModelUnavailable(String),
    /// The model was gone for good (its cause kept) and the caller was asked to
    /// leave a voicemail instead: `voicemail: <cause>`.
    Voicemail(String),
    /// Ended by a server shutdown after the drain timeout.
    Shutdown,
    /// An operator hung up (`POST /api/calls/{id}/hangup`).
    OperatorHangup,
    /// The call's actor stopped without another reason.
    CallActorStopped,
    /// A call pre-warmed at the voice webhook whose media stream never came
    /// within `calls.prewarm_timeout_secs`.
    NoStream,
    /// Found `in_progress` at start-up (the node died under it).
    Interrupted,
    /// An outbound call reached an answering machine: the voicemail script was
    /// left and the call hung up (Twilio AMD `AnsweredBy=machine_end_*`).
    AnsweringMachine,
    /// Never admitted.
    Refused(Refusal),
}

impl EndReason {
    /// `carrier_<status>` for a jambonz final `call:status` (`no-answer` → `no_answer`).
    pub fn carrier_status(status: &str) -> EndReason {
        EndReason::CarrierStatus(status.replace('-', "_"))
    }

    /// Bounded label set for `calls_ended_total`: the reason's kind for the eight
    /// kinds operators watch, `other` for the rest.
    pub fn metric_label(&self) -> &'static str {
        match self {
            EndReason::CallerHangup => "caller_hangup",
            EndReason::CarrierClosed => "carrier_closed",
            EndReason::CarrierTimeout => "carrier_timeout",
            EndReason::AssistantHangup(_) => "assistant_hangup",
            EndReason::Transferred { .. } => "transferred",
            EndReason::ModelUnavailable(_) => "model_unavailable",
            EndReason::Voicemail(_) => "voicemail",
            EndReason::Shutdown => "shutdown",
            _ => "other",
        }
    }

    /// The reasons without text, with their stored names (read back by `FromStr`;
    /// the round-trip test keeps it in step with `Display`).
    const PLAIN: [(&'static str, EndReason); 12] = [
        ("caller_hangup", EndReason::CallerHangup),
        ("carrier_closed", EndReason::CarrierClosed),
        ("carrier_timeout", EndReason::CarrierTimeout),
        ("carrier_reset", EndReason::CarrierReset),
        ("carrier_protocol_error", EndReason::CarrierProtocolError),
        ("carrier_slow_consumer", EndReason::CarrierSlowConsumer),
        ("shutdown", EndReason::Shutdown),
        ("operator_hangup", EndReason::OperatorHangup),
        ("call_actor_stopped", EndReason::CallActorStopped),
        ("no_stream", EndReason::NoStream),
        ("interrupted", EndReason::Interrupted),
        ("answering_machine", EndReason::AnsweringMachine),
    ];
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::CarrierStatus(status) => write!(f, "carrier_{status}"),
            EndReason::AssistantHangup(reason) => write!(f, "assistant_hangup: {reason}"),
            EndReason::Transferred {
                number: Some(number),
                reason,
            } => write!(f, "transferred: {number} ({reason})"),
            EndReason::Transferred {
                number: None,
                reason,
            } => write!(f, "transferred: {reason}"),
            EndReason::ModelUnavailable(cause) => write!(f, "model_unavailable: {cause}"),
            EndReason::Voicemail(cause) => write!(f, "voicemail: {cause}"),
            EndReason::TransferUnresolved(detail) => write!(f, "transfer_unresolved: {detail}"),
            EndReason::Refused(refusal) => f.write_str(refusal.as_str()),
            EndReason::CallerHangup => f.write_str("caller_hangup"),
            EndReason::CarrierClosed => f.write_str("carrier_closed"),
            EndReason::CarrierTimeout => f.write_str("carrier_timeout"),
            EndReason::CarrierReset => f.write_str("carrier_reset"),
            EndReason::CarrierProtocolError => f.write_str("carrier_protocol_error"),
            EndReason::CarrierSlowConsumer => f.write_str("carrier_slow_consumer"),
            EndReason::Shutdown => f.write_str("shutdown"),
            EndReason::OperatorHangup => f.write_str("operator_hangup"),
            EndReason::CallActorStopped => f.write_str("call_actor_stopped"),
            EndReason::NoStream => f.write_str("no_stream"),
            EndReason::Interrupted => f.write_str("interrupted"),
            EndReason::AnsweringMachine => f.write_str("answering_machine"),
        }
    }
}

/// Reads a stored `ended_reason` back (the inverse of `Display`). A transfer's
/// `<number> (<reason>)` form is recognised when the number is E.164-like (`+` or
/// digits, no spaces).
impl FromStr for EndReason {
    type Err = UnknownText;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, reason)) = EndReason::PLAIN.iter().find(|(name, _)| *name == s) {
            return Ok(reason.clone());
        }
        if let Some(refusal) = Refusal::ALL.into_iter().find(|r| r.as_str() == s) {
            return Ok(EndReason::Refused(refusal));
        }
        if let Some(reason) = s.strip_prefix("assistant_hangup: ") {
            return Ok(EndReason::AssistantHangup(reason.to_string()));
        }
        if let Some(cause) = s.strip_prefix("model_unavailable: ") {
            return Ok(EndReason::ModelUnavailable(cause.to_string()));
        }
        if let Some(cause) = s.strip_prefix("voicemail: ") {
            return Ok(EndReason::Voicemail(cause.to_string()));
        }
        if let Some(detail) = s.strip_prefix("transfer_unresolved: ") {
            return Ok(EndReason::TransferUnresolved(detail.to_string()));
        }
        if let Some(detail) = s.strip_prefix("transferred: ") {
            let numbered = detail
                .split_once(" (")
                .filter(|(number, rest)| {
                    rest.ends_with(')')
                        && !number.is_empty()
                        && number.chars().all(|c| c == '+' || c.is_ascii_digit())
                })
                .map(|(number, rest)| EndReason::Transferred {
                    number: Some(number.to_string()),
                    reason: rest[..rest.len() - 1].to_string(),
                });
            return Ok(numbered.unwrap_or_else(|| EndReason::Transferred {
                number: None,
                reason: detail.to_string(),
            }));
        }
        if let Some(status) = s.strip_prefix("carrier_").filter(|t| !t.is_empty()) {
            return Ok(EndReason::CarrierStatus(status.to_string()));
        }
        Err(UnknownText {
            what: "end reason",
            text: s.to_string(),
        })
    }
}

/// Who answered an outbound call, as Twilio's answering machine detection
/// reports it in `AnsweredBy` (Twilio "Answering Machine Detection":
/// `MachineDetection=DetectMessageEnd` with `AsyncAmd=true` posts it to the
/// `AsyncAmdStatusCallback`). Stored as its wire text in `calls.answered_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    /// A person picked up.
    Human,
    /// A machine answered; with `DetectMessageEnd` Twilio reports the end of
    /// its greeting instead, so this comes only from other detection modes.
    MachineStart,
    /// The machine's greeting ended with a beep: recording starts now.
    MachineEndBeep,
    /// The machine's greeting was followed by silence.
    MachineEndSilence,
    /// The greeting's end was found otherwise.
    MachineEndOther,
    /// A fax machine.
    Fax,
    /// Detection could not decide (within `MachineDetectionTimeout`).
    Unknown,
}

impl AnsweredBy {
    /// Every value, in the order of Twilio's documentation.
    pub const ALL: [AnsweredBy; 7] = [
        AnsweredBy::Human,
        AnsweredBy::MachineStart,
        AnsweredBy::MachineEndBeep,
        AnsweredBy::MachineEndSilence,
        AnsweredBy::MachineEndOther,
        AnsweredBy::Fax,
        AnsweredBy::Unknown,
    ];

    /// Twilio's spelling (`machine_end_beep`), stored as is.
    pub const fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::MachineStart => "machine_start",
            AnsweredBy::MachineEndBeep => "machine_end_beep",
            AnsweredBy::MachineEndSilence => "machine_end_silence",
            AnsweredBy::MachineEndOther => "machine_end_other",
            AnsweredBy::Fax => "fax",
            AnsweredBy::Unknown => "unknown",
        }
    }

    /// A machine whose greeting has ended: the moment to leave the voicemail
    /// (a message said earlier would be cut off by the greeting).
    pub const fn is_machine_ready_for_message(self) -> bool {
        matches!(
            self,
            AnsweredBy::MachineEndBeep
                | AnsweredBy::MachineEndSilence
                | AnsweredBy::MachineEndOther
        )
    }

    /// Nobody will talk to the receptionist: a machine whose greeting has
    /// ended (it gets the voicemail) or a fax (hung up on). `human`,
    /// `unknown` (perhaps a person) and `machine_start` (the greeting still
    /// plays) go on as a conversation.
    pub const fn ends_call(self) -> bool {
        self.is_machine_ready_for_message() || matches!(self, AnsweredBy::Fax)
    }
}

impl fmt::Display for AnsweredBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AnsweredBy {
    type Err = UnknownText;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AnsweredBy::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownText {
                what: "AnsweredBy value",
                text: s.to_string(),
            })
    }
}

/// A call the Supervisor did not admit (or the call itself turned away): the
/// stored reason and a human-readable detail for logs and the carrier.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct Refused {
    pub refusal: Refusal,
    pub detail: String,
}

/// The Supervisor's admission verdict for one call.
pub type AdmitAnswer = Result<(), Refused>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_names_round_trip() {
        for carrier in [
            Carrier::Twilio,
            Carrier::Jambonz,
            Carrier::Browser,
            Carrier::OpenAiSip,
        ] {
            assert_eq!(carrier.to_string().parse::<Carrier>(), Ok(carrier));
        }
        assert_eq!(Carrier::Twilio.to_string(), "twilio");
        assert!("sms".parse::<Carrier>().is_err());
    }

    /// Every reason is stored as the text switchboard wrote before it was typed.
    #[test]
    fn end_reasons_are_stored_as_before_and_read_back() {
        let cases = [
            (EndReason::CallerHangup, "caller_hangup"),
            (EndReason::CarrierClosed, "carrier_closed"),
            (EndReason::CarrierTimeout, "carrier_timeout"),
            (EndReason::CarrierReset, "carrier_reset"),
            (EndReason::CarrierProtocolError, "carrier_protocol_error"),
            (EndReason::CarrierSlowConsumer, "carrier_slow_consumer"),
            (EndReason::NoStream, "no_stream"),
            (EndReason::carrier_status("no-answer"), "carrier_no_answer"),
            (EndReason::carrier_status("busy"), "carrier_busy"),
            (
                EndReason::AssistantHangup("caller finished".into()),
                "assistant_hangup: caller finished",
            ),
            (
                EndReason::Transferred {
                    number: None,
                    reason: "burst pipe & flooding".into(),
                },
                "transferred: burst pipe & flooding",
            ),
            (
                EndReason::Transferred {
                    number: Some("+15550002222".into()),
                    reason: "leak (kitchen)".into(),
                },
                "transferred: +15550002222 (leak (kitchen))",
            ),
            (
                EndReason::ModelUnavailable("connect: refused".into()),
                "model_unavailable: connect: refused",
            ),
            (
                EndReason::Voicemail("connect: refused".into()),
                "voicemail: connect: refused",
            ),
            (
                EndReason::TransferUnresolved("no way-back stream within 80 s".into()),
                "transfer_unresolved: no way-back stream within 80 s",
            ),
            (EndReason::Shutdown, "shutdown"),
            (EndReason::CallActorStopped, "call_actor_stopped"),
            (EndReason::Interrupted, "interrupted"),
            (EndReason::AnsweringMachine, "answering_machine"),
            (EndReason::Refused(Refusal::Capacity), "refused_capacity"),
            (EndReason::Refused(Refusal::Draining), "refused_draining"),
            (
                EndReason::Refused(Refusal::Supervisor),
                "refused_supervisor",
            ),
            (
                EndReason::Refused(Refusal::PayloadTooLarge),
                "refused_payload_too_large",
            ),
            (
                EndReason::Refused(Refusal::NoJambonzVendor),
                "refused_no_jambonz_vendor",
            ),
            (
                EndReason::Refused(Refusal::NoModelKey),
                "refused_no_model_key",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(text.parse::<EndReason>(), Ok(reason), "{text}");
        }
        assert!("hung up".parse::<EndReason>().is_err());
    }

    #[test]
    fn answered_by_values_round_trip_in_twilio_spelling() {
        for value in AnsweredBy::ALL {
            assert_eq!(value.as_str().parse::<AnsweredBy>(), Ok(value));
        }
        assert_eq!(
            "machine_end_beep".parse::<AnsweredBy>(),
            Ok(AnsweredBy::MachineEndBeep)
        );
        assert!("robot".parse::<AnsweredBy>().is_err());
        let ready: Vec<_> = AnsweredBy::ALL
            .into_iter()
            .filter(|a| a.is_machine_ready_for_message())
            .collect();
        assert_eq!(
            ready,
            [
                AnsweredBy::MachineEndBeep,
                AnsweredBy::MachineEndSilence,
                AnsweredBy::MachineEndOther
            ]
        );
        assert!(AnsweredBy::Fax.ends_call());
        assert!(!AnsweredBy::Human.ends_call());
        assert!(!AnsweredBy::Unknown.ends_call());
        assert!(!AnsweredBy::MachineStart.ends_call());
    }

    /// A Twilio transfer reason that merely contains parentheses stays one reason.
    #[test]
    fn transfer_reason_with_parentheses_is_not_read_as_a_number() {
        assert_eq!(
            "transferred: burst pipe (kitchen)".parse::<EndReason>(),
            Ok(EndReason::Transferred {
                number: None,
                reason: "burst pipe (kitchen)".into()
            })
        );
    }

    #[test]
    fn metric_labels_are_the_bounded_set() {
        let label = |s: &str| s.parse::<EndReason>().map(|r| r.metric_label());
        assert_eq!(label("caller_hangup"), Ok("caller_hangup"));
        assert_eq!(label("assistant_hangup: bye"), Ok("assistant_hangup"));
        assert_eq!(label("transferred: +1555 (leak)"), Ok("transferred"));
        assert_eq!(label("model_unavailable: x"), Ok("model_unavailable"));
        assert_eq!(label("voicemail: gone"), Ok("voicemail"));
        assert_eq!(label("shutdown"), Ok("shutdown"));
        assert_eq!(label("carrier_reset"), Ok("other"));
        assert_eq!(label("carrier_busy"), Ok("other"));
        assert_eq!(label("call_actor_stopped"), Ok("other"));
        assert_eq!(Refusal::NoModelKey.metric_label(), "no_model_key");
    }
}
