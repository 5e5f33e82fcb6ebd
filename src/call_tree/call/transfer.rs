//! A warm transfer's vocabulary, carrier-neutral: how the dialled
//! leg ended ([`DialEnd`], read from Twilio's `<Dial action>` request or
//! jambonz's `dial` actionHook), whether the on-call person took the call at
//! screening, why a transfer failed ([`TransferFailure`]) and the line the
//! receptionist's new model session is given about it, and what the on-call
//! person hears before taking the call ([`ScreeningBrief`]); and the messages
//! a transfer's webhooks reach the call with ([`TransferLeg`], [`CallLeg`]).
//! Everything but the messages is pure and unit-tested below.
//!
//! Facts: Twilio "TwiML Voice: `<Dial>`" (`action` request: `DialCallStatus`
//! = `completed|answered|busy|no-answer|failed|canceled`, `DialCallDuration`
//! seconds, `DialBridged`); jambonz `dial` actionHook (`dial_call_status`,
//! `duration`; feature-server 0.9.8 `lib/tasks/dial.js`).

use std::thread::ThreadId;

use actix::prelude::*;

use super::prewarm::PrewarmToken;
use super::CallActor;
use crate::model::session::Role;

/// `DialCallStatus` (Twilio) / `dial_call_status` (jambonz): how the dialled
/// leg ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialStatus {
    /// The on-call person answered (and the leg has ended since).
    Completed,
    /// Answered and still up (Twilio sends it for some flows).
    Answered,
    /// Busy signal.
    Busy,
    /// Rang for the whole `<Dial timeout>` without an answer.
    NoAnswer,
    /// The call could not be placed (invalid number, carrier error).
    Failed,
    /// The dial was cancelled before it was answered.
    Canceled,
}

impl DialStatus {
    /// Reads the wire value (`no-answer`, `busy`, …); `None` for another.
    pub fn parse(value: &str) -> Option<DialStatus> {
        Some(match value {
            "completed" => DialStatus::Completed,
            "answered" => DialStatus::Answered,
            "busy" => DialStatus::Busy,
            "no-answer" => DialStatus::NoAnswer,
            "failed" => DialStatus::Failed,
            "canceled" => DialStatus::Canceled,
            _ => return None,
        })
    }

    /// The on-call person picked up the dialled leg.
    pub fn was_answered(self) -> bool {
        matches!(self, DialStatus::Completed | DialStatus::Answered)
    }
}

/// What the carrier said when the dialled leg ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialEnd {
    pub status: DialStatus,
    /// Twilio `DialBridged` (`true` when the two legs were connected); `None`
    /// when the carrier does not say.
    pub bridged: Option<bool>,
    /// Seconds the dialled leg was up (Twilio `DialCallDuration`, jambonz
    /// `duration`): the bridged conversation's length when bridged.
    pub duration_secs: Option<u64>,
}

/// The on-call person's answer at screening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screening {
    /// Not answered yet (the phone rings, or the prompt plays).
    Pending,
    /// Pressed 1: the legs are bridged.
    Accepted,
    /// Pressed another key.
    Declined,
}

/// Why a transfer did not reach the on-call person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferFailure {
    NoAnswer,
    Busy,
    Failed,
    Canceled,
    /// Pressed a key other than 1 at screening.
    Declined,
    /// Answered, but hung up or stayed silent at screening.
    NotAccepted,
}

impl TransferFailure {
    /// Why, in words the model repeats to the caller.
    pub fn why(self) -> &'static str {
        match self {
            TransferFailure::NoAnswer => "nobody answered",
            TransferFailure::Busy => "the line was busy",
            TransferFailure::Failed => "the call could not be placed",
            TransferFailure::Canceled => "the call was cancelled",
            TransferFailure::Declined => "the on-call person could not take the call",
            TransferFailure::NotAccepted => "the on-call person did not accept the call",
        }
    }

    /// The line a new model session gets (as a `system` message) when the
    /// caller comes back to the receptionist.
    pub fn line(self) -> String {
        format!(
            "The transfer to the on-call person failed: {}. Offer to take a message.",
            self.why()
        )
    }
}

/// Whether the dial bridged the caller, given the screening answer: Twilio's
/// `DialBridged=true`, or the leg answered (`completed`/`answered`) after the
/// on-call person pressed 1. Otherwise why not.
pub fn dial_verdict(dial: &DialEnd, screening: Screening) -> Result<(), TransferFailure> {
    if dial.bridged == Some(true) {
        return Ok(());
    }
    match dial.status {
        DialStatus::Completed | DialStatus::Answered => match screening {
            Screening::Accepted if dial.bridged != Some(false) => Ok(()),
            Screening::Declined => Err(TransferFailure::Declined),
            _ => Err(TransferFailure::NotAccepted),
        },
        DialStatus::Busy => Err(TransferFailure::Busy),
        DialStatus::NoAnswer => Err(TransferFailure::NoAnswer),
        DialStatus::Failed => Err(TransferFailure::Failed),
        DialStatus::Canceled => Err(TransferFailure::Canceled),
    }
}

/// What a call's transcript records of a transfer (a `system` line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferNote {
    /// The on-call person's key at screening (`true`: took the call).
    Screened(bool),
    /// The legs were bridged, for this many seconds when the carrier says.
    Bridged(Option<u64>),
    /// The transfer failed; the caller is back with the receptionist.
    Failed(TransferFailure),
}

impl TransferNote {
    /// The transcript line.
    pub fn line(self) -> String {
        match self {
            TransferNote::Screened(true) => "The on-call person took the call.".into(),
            TransferNote::Screened(false) => "The on-call person declined the call.".into(),
            TransferNote::Bridged(Some(secs)) => {
                format!("Bridged to the on-call person for {secs} s.")
            }
            TransferNote::Bridged(None) => "Bridged to the on-call person.".into(),
            TransferNote::Failed(failure) => format!("Transfer failed: {}.", failure.why()),
        }
    }
}

/// Longest conversation carried into a way-back session's instructions,
/// characters (the most recent lines are kept).
const MAX_WAY_BACK_CHARS: usize = 4000;

/// What a model session continuing the call after a failed transfer is told
/// when the carrier runs the model and takes no conversation items (jambonz
/// `llm` verb): the conversation so far as text, the most recent lines
/// within [`MAX_WAY_BACK_CHARS`], then the failure's line. Appended to the
/// tenant's instructions.
pub fn way_back_instructions(lines: &[(Role, String)], failure: TransferFailure) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut used = 0;
    for (role, text) in lines.iter().rev() {
        let who = match role {
            Role::User => "Caller",
            Role::Assistant => "Receptionist",
            Role::System => "Note",
        };
        let line = format!("{who}: {}", text.trim());
        used += line.chars().count() + 1;
        if used > MAX_WAY_BACK_CHARS {
            break;
        }
        kept.push(line);
    }
    kept.reverse();
    let mut out = String::from(
        "\n\nThis call is already under way; continue it without greeting the caller again. The conversation so far:\n",
    );
    for line in kept {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(&failure.line());
    out.push_str(" Speak first.");
    out
}

/// Longest quote of the caller in the screening prompt, characters.
const MAX_QUOTE_CHARS: usize = 160;
/// Longest transfer reason in the screening prompt, characters.
const MAX_REASON_CHARS: usize = 200;

/// What the on-call person is told before taking the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreeningBrief {
    /// The business the receptionist answers for.
    pub business: String,
    /// The caller's number (E.164) when known.
    pub caller: Option<String>,
    /// Why the receptionist transfers.
    pub reason: String,
    /// The caller's words so far (oldest first), from the call's conversation.
    pub caller_lines: Vec<String>,
}

impl ScreeningBrief {
    /// A brief from the conversation `lines` (only the caller's are kept).
    pub fn new(
        business: &str,
        caller: Option<&str>,
        reason: &str,
        lines: &[(Role, String)],
    ) -> Self {
        ScreeningBrief {
            business: business.to_string(),
            caller: caller.map(str::to_string),
            reason: reason.to_string(),
            caller_lines: lines
                .iter()
                .filter(|(role, text)| *role == Role::User && !text.trim().is_empty())
                .map(|(_, text)| text.trim().to_string())
                .collect(),
        }
    }

    /// The spoken prompt: who calls, why, a one-sentence summary (the
    /// caller's last words, bounded), then "Press 1 to take the call."
    pub fn prompt(&self) -> String {
        let caller = match &self.caller {
            Some(number) if !number.is_empty() => format!("from {}", spaced_digits(number)),
            _ => "from an unknown number".to_string(),
        };
        let mut text = format!(
            "Transferred call for {} {caller}. Reason: {}",
            self.business,
            sentence(&bounded(&self.reason, MAX_REASON_CHARS))
        );
        if let Some(last) = self.caller_lines.last() {
            text.push_str(" The caller said: ");
            text.push_str(&sentence(&bounded(last, MAX_QUOTE_CHARS)));
        }
        text.push_str(" Press 1 to take the call.");
        text
    }
}

/// A phone number read digit by digit (`+1 5 5 5…`), so a text-to-speech
/// voice does not read it as one large number.
fn spaced_digits(number: &str) -> String {
    let mut out = String::with_capacity(number.len() * 2);
    for c in number.chars() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `text` ending as a sentence: a full stop added unless it ends with one
/// (or `…`, `?`, `!`).
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '…', '?', '!']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// `text` cut to `max` characters at a word boundary, with `…` when cut.
fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

/// What a transfer's webhook reports (Twilio: the screening `<Number url>`,
/// its `<Gather action>`, the `<Dial action>`).
#[derive(Debug, Clone, PartialEq)]
pub enum LegEvent {
    /// The on-call person answered: what should they hear?
    Screen,
    /// The on-call person's key at screening (`accepted`: pressed 1).
    Screened { accepted: bool },
    /// The dialled leg ended.
    DialEnded(DialEnd),
}

/// Why a transfer webhook could not be applied to its call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    /// No live call with that id on this node (ended, or never ours).
    #[error("no live call {0}")]
    NoCall(String),
    /// The call has no transfer in the phase the webhook belongs to.
    #[error("call {0} has no transfer waiting for this")]
    NotTransferring(String),
}

/// A transfer webhook for call `call_id`, to the Supervisor, which passes it
/// to the call ([`CallLeg`]) and, when the caller comes back to the
/// receptionist, issues the single-use token of the way-back stream.
#[derive(Message, Debug)]
#[rtype(result = "Result<LegAnswer, LegError>")]
pub struct TransferLeg {
    /// switchboard's call id (the `call` query parameter of the webhook).
    pub call_id: String,
    pub event: LegEvent,
}

/// What the webhook answers.
#[derive(Debug)]
pub enum LegAnswer {
    /// The screening prompt for the on-call person.
    Screen(ScreeningBrief),
    /// Noted (a screening key).
    Noted,
    /// The dial bridged the caller: the call has ended as transferred.
    Ended,
    /// The dial did not bridge: the caller's leg opens a stream that claims
    /// the same call with `token` (TwiML `<Parameter name="prewarm">`).
    WayBack(WayBackGrant),
}

/// What the way-back stream's TwiML carries: the single-use claim token and
/// the call's signed facts (for the stream's [`StreamGrant`](crate::carrier::twilio::grant::StreamGrant)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WayBackGrant {
    pub token: PrewarmToken,
    /// Twilio `CallSid` of the caller's leg.
    pub call_sid: String,
    pub tenant: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The Supervisor → call form of a transfer webhook.
#[derive(Message, Debug)]
#[rtype(result = "Result<CallLegAnswer, LegError>")]
pub struct CallLeg(pub LegEvent);

/// The call's answer to a [`CallLeg`].
pub enum CallLegAnswer {
    Screen(ScreeningBrief),
    Noted,
    Ended,
    /// Waiting for its way-back stream: the call's actor, its thread, and
    /// the facts of its grant (the token is the Supervisor's to issue).
    WayBack {
        addr: Addr<CallActor>,
        thread: ThreadId,
        call_sid: String,
        tenant: String,
        from: Option<String>,
        to: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(status: &str, bridged: Option<bool>) -> DialEnd {
        DialEnd {
            status: DialStatus::parse(status).unwrap(),
            bridged,
            duration_secs: None,
        }
    }

    #[test]
    fn every_twilio_dial_status_reads_and_others_do_not() {
        for s in [
            "completed",
            "answered",
            "busy",
            "no-answer",
            "failed",
            "canceled",
        ] {
            assert!(DialStatus::parse(s).is_some(), "{s}");
        }
        assert_eq!(DialStatus::parse("ringing"), None);
    }

    #[test]
    fn bridged_only_when_twilio_says_so_or_the_screening_was_accepted() {
        assert_eq!(
            dial_verdict(&dial("completed", Some(true)), Screening::Pending),
            Ok(())
        );
        assert_eq!(
            dial_verdict(&dial("completed", None), Screening::Accepted),
            Ok(())
        );
        assert_eq!(
            dial_verdict(&dial("completed", Some(false)), Screening::Accepted),
            Err(TransferFailure::NotAccepted)
        );
        assert_eq!(
            dial_verdict(&dial("completed", None), Screening::Declined),
            Err(TransferFailure::Declined)
        );
        assert_eq!(
            dial_verdict(&dial("completed", None), Screening::Pending),
            Err(TransferFailure::NotAccepted)
        );
        assert_eq!(
            dial_verdict(&dial("no-answer", None), Screening::Pending),
            Err(TransferFailure::NoAnswer)
        );
        assert_eq!(
            dial_verdict(&dial("busy", None), Screening::Pending),
            Err(TransferFailure::Busy)
        );
        assert_eq!(
            dial_verdict(&dial("failed", None), Screening::Pending),
            Err(TransferFailure::Failed)
        );
        assert_eq!(
            dial_verdict(&dial("canceled", None), Screening::Pending),
            Err(TransferFailure::Canceled)
        );
    }

    #[test]
    fn way_back_instructions_carry_the_latest_lines_then_the_failure() {
        let mut lines = vec![(Role::User, "first".to_string())];
        lines.extend((0..200).map(|i| (Role::Assistant, format!("line {i} {}", "x".repeat(40)))));
        lines.push((Role::User, "Is anyone there?".to_string()));
        let text = way_back_instructions(&lines, TransferFailure::Busy);
        assert!(!text.contains("Caller: first"), "oldest lines dropped");
        assert!(text.contains("Caller: Is anyone there?\nThe transfer to the on-call person failed: the line was busy."), "{text}");
        assert!(text.chars().count() < MAX_WAY_BACK_CHARS + 300);
    }

    #[test]
    fn the_failure_line_says_why_and_offers_a_message() {
        assert_eq!(
            TransferFailure::NoAnswer.line(),
            "The transfer to the on-call person failed: nobody answered. Offer to take a message."
        );
    }

    #[test]
    fn the_screening_prompt_names_caller_reason_and_last_words_bounded() {
        let long = "word ".repeat(100);
        let brief = ScreeningBrief::new(
            "Acme Dental",
            Some("+15550100001"),
            "burst pipe",
            &[
                (Role::Assistant, "Hello, Acme Dental.".into()),
                (Role::User, "Hi.".into()),
                (Role::User, long.clone()),
            ],
        );
        let prompt = brief.prompt();
        assert!(prompt.starts_with(
            "Transferred call for Acme Dental from + 1 5 5 5 0 1 0 0 0 0 1. Reason: burst pipe. The caller said: word"
        ), "{prompt}");
        assert!(prompt.ends_with("… Press 1 to take the call."), "{prompt}");
        assert!(prompt.len() < 400, "{prompt}");
        let quiet = ScreeningBrief::new("Acme", None, "x", &[]).prompt();
        assert_eq!(
            quiet,
            "Transferred call for Acme from an unknown number. Reason: x. Press 1 to take the call."
        );
    }
}
