//! What a call does next, as one pure state machine: the turn, the model's
//! response, the tool loop, and the call's course (conversing, hanging up after
//! the goodbye, transferring after the hand-off line — ringing, screening,
//! bridged or back to the receptionist — ending). The
//! [`CallActor`](super::CallActor) feeds it events and carries out the [`Step`]s it
//! returns; playback (what the caller has heard) is an input, owned by
//! [`Playback`](super::playback::Playback). No I/O, no actors, no clocks: every
//! transition is unit-tested below.

use super::transfer::{dial_verdict, DialEnd, Screening, TransferFailure};
use crate::lifecycle::EndReason;
use crate::tools::builtin::TransferPlan;

/// The caller's side of the current turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Nobody is speaking and no caller turn waits for an answer.
    Open,
    /// Between the model's `speech_started` and `speech_stopped`.
    CallerSpeaking,
    /// The caller finished a turn; its answer has not finished yet.
    AwaitingAnswer,
}

/// Where the call is heading.
#[derive(Debug, Clone, PartialEq)]
pub enum Course {
    /// The conversation goes on.
    Conversing,
    /// A tool asked to hang up; the call ends once the goodbye has played.
    HangUpAfterGoodbye(EndReason),
    /// A tool asked for a transfer; it starts once the hand-off line has played.
    TransferAfterHandOff(TransferPlan),
    /// The carrier edge is carrying out a transfer (its reason, for the record).
    Transferring(String),
    /// The carrier has the caller (ringback) and dials the on-call person, who
    /// is screened on answering. No stream, no model link; the call keeps its
    /// slot and waits for the dial's end.
    Ringing {
        reason: String,
        screening: Screening,
    },
    /// The on-call person pressed 1: the legs are bridged; the dial's end (the
    /// bridged length) closes the call as transferred.
    Bridged(String),
    /// The dial ended without a bridge: a new model session knows why and
    /// speaks first; the call waits for its way-back stream.
    AwaitingWayBack(TransferFailure),
    /// The call is ending (apology playing, or nothing left to say).
    Ending(EndReason),
    /// The model is gone for good (the cause kept): the caller is leaving a
    /// voicemail, recorded by switchboard or by the carrier; however the call
    /// ends from here, it ends `voicemail: <cause>`.
    Voicemail(String),
    /// The call was given to an actor on its stream's thread (pre-warm hand-over).
    HandedOver,
}

/// What the call actor does after a transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask the model link for a response (`response.create`): the greeting, or
    /// the continuation after tool outputs.
    RequestResponse,
    /// Cut what is playing (barge-in): clear the carrier, truncate or cancel.
    BargeIn,
    /// Close the call (and the carrier stream) with this reason.
    Finish(EndReason),
    /// Ask the carrier edge to transfer the call.
    Transfer(TransferPlan),
    /// The carrier has the caller: let the stream and the model link go and
    /// wait (bounded) for the dial's end, keeping the slot.
    AwaitDial,
    /// Back from a failed transfer: open the next model link (generation
    /// already counted) with the conversation plus this failure's line.
    WayBack(TransferFailure),
    /// Tell the Supervisor the link failed, `failures` times in a row.
    ReportLinkFailure { failures: u32 },
    /// Tell the model the caller events held meanwhile, and ask for the
    /// response that answers them.
    TellCallerEvents,
}

/// How a caller event (a key press on the keypad) reaches the model, decided by
/// [`CallState::caller_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerEvent {
    /// The call is ending, transferring or handed over: nobody to tell.
    Dropped,
    /// A response is under way or awaited: the call holds the event and tells
    /// it once that response is done ([`Step::TellCallerEvents`], or just
    /// before the tool continuation's `response.create`). What plays is not
    /// cut: a key press is not speech.
    Held,
    /// The caller is mid-turn: told now, answered with their turn.
    Told,
    /// Told now, with a response of its own (`response.create`).
    ToldAndAnswered,
}

/// Why an operator's transfer cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferRefused {
    #[error("the call is already ending")]
    Ending,
    #[error("a transfer of this call is already under way")]
    InProgress,
}

/// The call's decision state. `generation` counts model links of this call from
/// 0 (a restart or roll-over opens the next one).
#[derive(Debug, Clone)]
pub struct CallState {
    generation: u32,
    link_failures: u32,
    turn: Turn,
    /// `response.created` seen, `response.done` not yet.
    response_active: bool,
    /// A response we asked for (greeting, tool continuation) or a tool call's
    /// response has not finished: no farewell ends the call before it does.
    awaiting_response_done: bool,
    /// Tool calls sent to the tool actor and not answered yet.
    pending_tools: usize,
    /// Tool outputs went to the model; one `response.create` must follow.
    tool_outputs_sent: bool,
    greeting_requested: bool,
    /// The caller was put on hold (a link failed and the hold clip played)
    /// and no link has been ready since: the next one speaks first.
    held: bool,
    /// Caller events are held until the response under way is done.
    caller_event_waiting: bool,
    /// The link generation that speaks first when ready (the way back).
    speak_first: Option<u32>,
    /// Transfer phases entered so far (started, bridged, way back): a phase's
    /// bound names its own, and a later phase's makes it stale.
    transfer_phase: u32,
    course: Course,
}

impl Default for CallState {
    fn default() -> Self {
        CallState::new()
    }
}

impl CallState {
    /// A fresh call: link 0, nobody speaking, conversing.
    pub fn new() -> Self {
        CallState {
            generation: 0,
            link_failures: 0,
            turn: Turn::Open,
            response_active: false,
            awaiting_response_done: false,
            pending_tools: 0,
            tool_outputs_sent: false,
            greeting_requested: false,
            held: false,
            caller_event_waiting: false,
            speak_first: None,
            transfer_phase: 0,
            course: Course::Conversing,
        }
    }

    /// A call adopted with its pre-warmed session: if the greeting was already
    /// asked for there, its response is still awaited here.
    pub fn adopted(greeting_requested: bool) -> Self {
        CallState {
            greeting_requested,
            awaiting_response_done: greeting_requested,
            ..CallState::new()
        }
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    pub fn greeting_requested(&self) -> bool {
        self.greeting_requested
    }

    pub fn course(&self) -> &Course {
        &self.course
    }

    pub fn turn(&self) -> Turn {
        self.turn
    }

    pub fn response_active(&self) -> bool {
        self.response_active
    }

    /// The call is ending (apology or close under way, or a voicemail being
    /// left): no more caller audio goes to the model, no model audio is played.
    pub fn is_ending(&self) -> bool {
        matches!(self.course, Course::Ending(_) | Course::Voicemail(_))
    }

    /// Whether the caller was put on hold and no link has been ready since.
    pub fn was_held(&self) -> bool {
        self.held
    }

    /// The hold clip started: the caller is waiting for the receptionist.
    pub fn hold_started(&mut self) {
        self.held = true;
    }

    pub fn is_handed_over(&self) -> bool {
        matches!(self.course, Course::HandedOver)
    }

    /// The model link `generation` is ready. The first ready link greets the
    /// caller when `greet_caller` (once, even across a hand-over or a first
    /// link that never came up); a link that ends a hold speaks first too (the
    /// caller was left waiting). A ready link clears the failure count.
    pub fn link_ready(&mut self, generation: u32, greet_caller: bool) -> Option<Step> {
        if generation != self.generation || self.is_ending() {
            return None;
        }
        self.link_failures = 0;
        if self.speak_first == Some(generation) {
            self.speak_first = None;
            self.held = false;
            self.awaiting_response_done = true;
            return Some(Step::RequestResponse);
        }
        let held = std::mem::take(&mut self.held);
        if held || (greet_caller && !self.greeting_requested) {
            self.greeting_requested = true;
            self.awaiting_response_done = true;
            return Some(Step::RequestResponse);
        }
        None
    }

    /// The caller started speaking: barge in on whatever plays, unless ending.
    pub fn speech_started(&mut self) -> Option<Step> {
        self.turn = Turn::CallerSpeaking;
        (!self.is_ending()).then_some(Step::BargeIn)
    }

    /// The caller stopped speaking: their turn awaits an answer.
    pub fn speech_stopped(&mut self) {
        self.turn = Turn::AwaitingAnswer;
    }

    pub fn response_started(&mut self) {
        self.response_active = true;
    }

    /// The model asked for a tool run; its response is awaited.
    pub fn tool_requested(&mut self) {
        self.pending_tools += 1;
        self.awaiting_response_done = true;
    }

    /// A tool finished; `sent_to_model` when its output went to a live link.
    /// A hang-up or transfer the tool asks for waits for the farewell line; a
    /// hang-up wins over a transfer, and nothing changes once the call is
    /// transferring or ending. Returns the continuation, once every tool of the
    /// response has answered.
    pub fn tool_finished(
        &mut self,
        action: Option<FarewellRequest>,
        sent_to_model: bool,
    ) -> Option<Step> {
        self.pending_tools = self.pending_tools.saturating_sub(1);
        match (action, &self.course) {
            (_, course) if course.is_settled() => {}
            (Some(FarewellRequest::HangUp(reason)), _) => {
                self.course = Course::HangUpAfterGoodbye(reason);
            }
            (Some(FarewellRequest::Transfer(plan)), Course::Conversing)
            | (Some(FarewellRequest::Transfer(plan)), Course::TransferAfterHandOff(_)) => {
                self.course = Course::TransferAfterHandOff(plan);
            }
            _ => {}
        }
        if sent_to_model {
            self.tool_outputs_sent = true;
        }
        self.continue_after_tools()
    }

    /// `response.done`: the turn is answered; continue after tools (or answer a
    /// caller event that came meanwhile), or carry out the farewell if
    /// everything has played (`playback_idle`).
    pub fn response_done(&mut self, playback_idle: bool) -> Vec<Step> {
        self.response_active = false;
        self.awaiting_response_done = false;
        if self.turn == Turn::AwaitingAnswer {
            self.turn = Turn::Open;
        }
        let mut steps: Vec<Step> = self.continue_after_tools().into_iter().collect();
        if steps.is_empty()
            && self.pending_tools == 0
            && self.caller_event_waiting
            && self.course == Course::Conversing
        {
            self.caller_event_waiting = false;
            self.awaiting_response_done = true;
            steps.push(Step::TellCallerEvents);
        }
        steps.extend(self.farewell(playback_idle));
        steps
    }

    /// The caller pressed a key the model must hear of, while the call
    /// converses. Answered now when nothing else is (no response under way or
    /// awaited, no tool running, nobody mid-turn); held until the response
    /// under way is done otherwise — never a second response while one is
    /// active (the Realtime API refuses that). The key does not barge in:
    /// what plays goes on.
    pub fn caller_event(&mut self) -> CallerEvent {
        if self.course != Course::Conversing {
            return CallerEvent::Dropped;
        }
        if self.response_active || self.awaiting_response_done || self.pending_tools > 0 {
            self.caller_event_waiting = true;
            return CallerEvent::Held;
        }
        if self.turn != Turn::Open {
            return CallerEvent::Told;
        }
        self.awaiting_response_done = true;
        CallerEvent::ToldAndAnswered
    }

    /// Twilio's answering machine detection found a machine whose greeting has
    /// ended: the call stops conversing and ends as `answering_machine` (the
    /// voicemail replaces its stream). `false` when it is already ending,
    /// transferring or handed over.
    pub fn answering_machine(&mut self) -> bool {
        if matches!(
            self.course,
            Course::Transferring(_) | Course::Ending(_) | Course::Voicemail(_) | Course::HandedOver
        ) {
            return false;
        }
        self.course = Course::Ending(EndReason::AnsweringMachine);
        true
    }

    /// Why the call ended when its carrier hung up with `reason`: a stream the
    /// voicemail replaced ended as `answering_machine`, any other as the
    /// carrier says.
    pub fn carrier_hung_up(&self, reason: EndReason) -> EndReason {
        match &self.course {
            Course::Ending(EndReason::AnsweringMachine) => EndReason::AnsweringMachine,
            _ => reason,
        }
    }

    /// What the caller hears has caught up (`playback_idle`): the farewell, if
    /// one is due and nothing is awaited.
    pub fn playback_advanced(&mut self, playback_idle: bool) -> Option<Step> {
        self.farewell(playback_idle)
    }

    /// The grace after a tool's hang-up ran out: end even if the goodbye never
    /// finished playing.
    pub fn hangup_grace_over(&mut self) -> Option<Step> {
        match &self.course {
            Course::HangUpAfterGoodbye(reason) => Some(Step::Finish(reason.clone())),
            _ => None,
        }
    }

    /// The grace after a tool's transfer ran out (or an operator asked for one):
    /// start it now if it is still due.
    pub fn start_transfer(&mut self) -> Option<Step> {
        let Course::TransferAfterHandOff(plan) = &self.course else {
            return None;
        };
        let plan = plan.clone();
        self.transfer_phase += 1;
        self.course = Course::Transferring(plan.reason.clone());
        Some(Step::Transfer(plan))
    }

    /// An operator's transfer: at once, without a hand-off line.
    pub fn operator_transfer(&mut self, plan: TransferPlan) -> Result<Step, TransferRefused> {
        match self.course {
            Course::Ending(_) | Course::Voicemail(_) | Course::HandedOver => {
                return Err(TransferRefused::Ending)
            }
            Course::Transferring(_)
            | Course::Ringing { .. }
            | Course::Bridged(_)
            | Course::AwaitingWayBack(_) => return Err(TransferRefused::InProgress),
            _ => {}
        }
        self.course = Course::TransferAfterHandOff(plan);
        self.start_transfer().ok_or(TransferRefused::Ending)
    }

    /// The carrier's answer to a transfer request: on success the on-call
    /// number rings ([`Step::AwaitDial`]); a failure returns the call to the
    /// conversation.
    pub fn transfer_outcome(&mut self, succeeded: bool) -> Option<Step> {
        let Course::Transferring(reason) = &self.course else {
            return None;
        };
        if !succeeded {
            self.course = Course::Conversing;
            return None;
        }
        self.course = Course::Ringing {
            reason: reason.clone(),
            screening: Screening::Pending,
        };
        self.turn = Turn::Open;
        self.response_active = false;
        self.awaiting_response_done = false;
        self.pending_tools = 0;
        self.tool_outputs_sent = false;
        Some(Step::AwaitDial)
    }

    /// The transfer phase under way (its bound's timer carries it).
    pub fn transfer_phase(&self) -> u32 {
        self.transfer_phase
    }

    /// Ringing or bridged: the call has no model link, and a late event of
    /// the one it let go is not for the caller.
    pub fn link_paused(&self) -> bool {
        matches!(self.course, Course::Ringing { .. } | Course::Bridged(_))
    }

    /// The reason of the transfer under way, while the on-call person is
    /// dialled or screened (what the screening prompt says).
    pub fn ringing_reason(&self) -> Option<&str> {
        match &self.course {
            Course::Ringing { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The on-call person's key at screening: `accepted` (pressed 1) bridges
    /// the legs. `false` when no transfer is ringing.
    pub fn screened(&mut self, accepted: bool) -> bool {
        let Course::Ringing { reason, .. } = &self.course else {
            return false;
        };
        self.course = if accepted {
            self.transfer_phase += 1;
            Course::Bridged(reason.clone())
        } else {
            Course::Ringing {
                reason: reason.clone(),
                screening: Screening::Declined,
            }
        };
        true
    }

    /// The dialled leg ended. Bridged: the call ends as transferred. Not
    /// bridged: the next model link opens, told why, and speaks first; the
    /// call waits for its way-back stream. `None` without a transfer ringing.
    pub fn dial_ended(&mut self, dial: &DialEnd) -> Option<Step> {
        let (reason, screening) = match &self.course {
            Course::Ringing { reason, screening } => (reason.clone(), *screening),
            Course::Bridged(reason) => (reason.clone(), Screening::Accepted),
            _ => return None,
        };
        match dial_verdict(dial, screening) {
            Ok(()) => Some(Step::Finish(EndReason::Transferred {
                number: None,
                reason,
            })),
            Err(failure) => {
                self.transfer_phase += 1;
                self.course = Course::AwaitingWayBack(failure);
                let generation = self.next_link();
                self.speak_first = Some(generation);
                self.link_failures = 0;
                Some(Step::WayBack(failure))
            }
        }
    }

    /// The way-back stream attached: the conversation goes on. `false` when
    /// the call was not waiting for one.
    pub fn way_back_attached(&mut self) -> bool {
        if !matches!(self.course, Course::AwaitingWayBack(_)) {
            return false;
        }
        self.course = Course::Conversing;
        true
    }

    /// Whether the call waits for a way-back stream.
    pub fn awaits_way_back(&self) -> bool {
        matches!(self.course, Course::AwaitingWayBack(_))
    }

    /// Whether the call has let its stream go for a transfer (ringing,
    /// bridged, or waiting for its way back): no stream is expected to be up.
    pub fn is_away(&self) -> bool {
        matches!(
            self.course,
            Course::Transferring(_)
                | Course::Ringing { .. }
                | Course::Bridged(_)
                | Course::AwaitingWayBack(_)
        )
    }

    /// The bound of transfer phase `phase` ran out: still ringing or waiting
    /// for the way back, the call ends unresolved; still bridged, it ends
    /// transferred. A later phase's bound replaces an earlier one's.
    pub fn transfer_timed_out(&mut self, phase: u32, waited_secs: u64) -> Option<Step> {
        if phase != self.transfer_phase {
            return None;
        }
        let reason = match &self.course {
            Course::Ringing { .. } => EndReason::TransferUnresolved(format!(
                "no dial outcome from the carrier within {waited_secs} s"
            )),
            Course::AwaitingWayBack(_) => {
                EndReason::TransferUnresolved(format!("no way-back stream within {waited_secs} s"))
            }
            Course::Bridged(reason) => EndReason::Transferred {
                number: None,
                reason: reason.clone(),
            },
            _ => return None,
        };
        Some(Step::Finish(reason))
    }

    /// The call starts ending with `reason` (apology or operator end). `false`
    /// when it already was.
    pub fn begin_ending(&mut self, reason: EndReason) -> bool {
        if self.is_ending() {
            return false;
        }
        self.course = Course::Ending(reason);
        true
    }

    /// The model is gone for good (`cause`): the caller leaves a voicemail
    /// instead. `false` when the call is already ending, transferring or
    /// handed over (nothing to record there).
    pub fn begin_voicemail(&mut self, cause: String) -> bool {
        if self.is_ending() || matches!(self.course, Course::Transferring(_) | Course::HandedOver) {
            return false;
        }
        self.held = false;
        self.course = Course::Voicemail(cause);
        true
    }

    /// What a call that ends now (`reason`: the carrier hung up, the recording
    /// finished) is stored as: `voicemail: <cause>` once a voicemail was under
    /// way, `reason` otherwise — and `no_stream` for a pre-warmed call whose
    /// stream never came (nobody could leave one).
    pub fn end_reason(&self, reason: EndReason) -> EndReason {
        match (&self.course, reason) {
            (_, EndReason::NoStream) => EndReason::NoStream,
            (Course::Voicemail(cause), _) => EndReason::Voicemail(cause.clone()),
            (_, reason) => reason,
        }
    }

    /// The model link `generation` went down. A current link's failure resets
    /// the turn and the tool loop (their answers died with it) and is reported;
    /// a stale link's, or one while ending, is ignored.
    pub fn link_down(&mut self, generation: u32) -> Option<Step> {
        if generation != self.generation
            || self.is_ending()
            || matches!(self.course, Course::Ringing { .. } | Course::Bridged(_))
        {
            return None;
        }
        self.turn = Turn::Open;
        self.response_active = false;
        self.awaiting_response_done = false;
        self.pending_tools = 0;
        self.caller_event_waiting = false;
        self.link_failures += 1;
        Some(Step::ReportLinkFailure {
            failures: self.link_failures,
        })
    }

    /// A new link opens (restart after a failure, or roll-over): the next
    /// generation, a fresh turn, no response in progress. Returns its generation.
    pub fn next_link(&mut self) -> u32 {
        self.generation += 1;
        self.turn = Turn::Open;
        self.response_active = false;
        self.generation
    }

    /// A quiet moment for a roll-over: nothing playing (`playback_idle`), no
    /// response or tool pending, nobody mid-turn.
    pub fn is_quiet(&self, playback_idle: bool) -> bool {
        playback_idle
            && !self.awaiting_response_done
            && self.pending_tools == 0
            && self.turn == Turn::Open
    }

    /// A pre-warmed call may move to its stream's thread only untouched: first
    /// link, no tool running, nothing decided.
    pub fn can_hand_over(&self) -> bool {
        self.generation == 0 && self.pending_tools == 0 && self.course == Course::Conversing
    }

    pub fn handed_over(&mut self) {
        self.course = Course::HandedOver;
    }

    /// Sends the one `response.create` that follows a response's tool outputs.
    fn continue_after_tools(&mut self) -> Option<Step> {
        if self.pending_tools == 0 && !self.awaiting_response_done && self.tool_outputs_sent {
            self.tool_outputs_sent = false;
            self.awaiting_response_done = true;
            // The continuation answers the caller events held meanwhile too
            // (the call tells them just before its `response.create`).
            self.caller_event_waiting = false;
            return Some(Step::RequestResponse);
        }
        None
    }

    fn farewell(&mut self, playback_idle: bool) -> Option<Step> {
        if !playback_idle || self.awaiting_response_done || self.pending_tools > 0 {
            return None;
        }
        match &self.course {
            Course::Ending(reason) => Some(Step::Finish(reason.clone())),
            Course::HangUpAfterGoodbye(reason) if !self.tool_outputs_sent => {
                Some(Step::Finish(reason.clone()))
            }
            Course::TransferAfterHandOff(_) if !self.tool_outputs_sent => self.start_transfer(),
            _ => None,
        }
    }
}

impl Course {
    /// A course no tool's farewell changes any more: transferring (in any
    /// phase), ending, taking a voicemail, or handed over.
    fn is_settled(&self) -> bool {
        matches!(
            self,
            Course::Transferring(_)
                | Course::Ringing { .. }
                | Course::Bridged(_)
                | Course::AwaitingWayBack(_)
                | Course::Ending(_)
                | Course::Voicemail(_)
                | Course::HandedOver
        )
    }
}

/// What a finished tool asks of the call.
#[derive(Debug, Clone, PartialEq)]
pub enum FarewellRequest {
    HangUp(EndReason),
    Transfer(TransferPlan),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call_tree::call::transfer::DialStatus;

    fn plan(reason: &str) -> TransferPlan {
        TransferPlan {
            number: "+15550100".into(),
            screen_url: "https://example.test/twiml/screen?call=c".into(),
            action_url: "https://example.test/twiml/dial-action?call=c".into(),
            reason: reason.into(),
        }
    }

    fn bye() -> EndReason {
        EndReason::AssistantHangup("caller said goodbye".into())
    }

    #[test]
    fn the_first_link_greets_once() {
        let mut call = CallState::new();
        assert_eq!(call.link_ready(0, true), Some(Step::RequestResponse));
        assert!(call.greeting_requested());
        // Not again on the same link, nor on a later one.
        assert_eq!(call.link_ready(0, true), None);
        call.next_link();
        assert_eq!(call.link_ready(1, true), None);
    }

    #[test]
    fn no_greeting_when_turned_off_or_already_asked_before_a_hand_over() {
        assert_eq!(CallState::new().link_ready(0, false), None);
        let mut adopted = CallState::adopted(true);
        assert_eq!(adopted.link_ready(0, true), None);
        // The greeting's response is still awaited: no farewell before it.
        assert!(!adopted.is_quiet(true));
        adopted.response_done(true);
        assert!(adopted.is_quiet(true));
    }

    #[test]
    fn a_stale_link_ready_is_ignored() {
        let mut call = CallState::new();
        call.next_link();
        assert_eq!(call.link_ready(0, true), None);
        assert!(!call.greeting_requested());
    }

    #[test]
    fn caller_speech_barges_in_and_opens_a_turn() {
        let mut call = CallState::new();
        assert_eq!(call.speech_started(), Some(Step::BargeIn));
        assert_eq!(call.turn(), Turn::CallerSpeaking);
        assert!(!call.is_quiet(true));
        call.speech_stopped();
        assert_eq!(call.turn(), Turn::AwaitingAnswer);
        assert!(!call.is_quiet(true));
        call.response_started();
        assert!(call.response_active());
        assert!(call.response_done(true).is_empty());
        assert_eq!(call.turn(), Turn::Open);
        assert!(!call.response_active());
        assert!(call.is_quiet(true));
    }

    #[test]
    fn no_barge_in_while_ending() {
        let mut call = CallState::new();
        assert!(call.begin_ending(EndReason::ModelUnavailable("gone".into())));
        assert_eq!(call.speech_started(), None);
    }

    #[test]
    fn tool_outputs_are_followed_by_exactly_one_response_create() {
        let mut call = CallState::new();
        call.response_started();
        call.tool_requested();
        call.tool_requested();
        // The tools' response ends before they answer.
        assert!(call.response_done(true).is_empty());
        assert_eq!(call.tool_finished(None, true), None, "one tool still runs");
        assert_eq!(call.tool_finished(None, true), Some(Step::RequestResponse));
        // Its response is awaited: not quiet, and no farewell before it ends.
        assert!(!call.is_quiet(true));
        assert!(call.response_done(true).is_empty());
        assert!(call.is_quiet(true));
    }

    #[test]
    fn tools_answering_before_their_response_ends_continue_at_response_done() {
        let mut call = CallState::new();
        call.tool_requested();
        assert_eq!(
            call.tool_finished(None, true),
            None,
            "the response is still open"
        );
        assert_eq!(call.response_done(true), vec![Step::RequestResponse]);
    }

    #[test]
    fn hang_up_waits_for_the_goodbye_to_play() {
        let mut call = CallState::new();
        call.tool_requested();
        assert!(call.response_done(true).is_empty());
        // The hang_up tool answers; the model says goodbye first.
        assert_eq!(
            call.tool_finished(Some(FarewellRequest::HangUp(bye())), true),
            Some(Step::RequestResponse)
        );
        assert_eq!(call.course(), &Course::HangUpAfterGoodbye(bye()));
        // The goodbye's response finishes while its audio still plays.
        assert!(call.response_done(false).is_empty());
        assert_eq!(call.playback_advanced(false), None);
        // The caller has heard it: the call ends.
        assert_eq!(call.playback_advanced(true), Some(Step::Finish(bye())));
    }

    #[test]
    fn hang_up_grace_ends_the_call_even_if_the_goodbye_never_plays() {
        let mut call = CallState::new();
        call.tool_requested();
        call.tool_finished(Some(FarewellRequest::HangUp(bye())), true);
        assert_eq!(call.hangup_grace_over(), Some(Step::Finish(bye())));
        assert_eq!(CallState::new().hangup_grace_over(), None);
    }

    #[test]
    fn transfer_starts_after_the_hand_off_line_and_ends_on_success() {
        let mut call = CallState::new();
        call.tool_requested();
        call.response_done(true);
        call.tool_finished(Some(FarewellRequest::Transfer(plan("billing"))), true);
        assert_eq!(
            call.playback_advanced(true),
            None,
            "the hand-off line is awaited"
        );
        assert!(call.response_done(false).is_empty());
        assert_eq!(
            call.playback_advanced(true),
            Some(Step::Transfer(plan("billing")))
        );
        assert_eq!(call.course(), &Course::Transferring("billing".into()));
        // Started once only: the grace timer finds nothing left to do.
        assert_eq!(call.start_transfer(), None);
        assert_eq!(call.transfer_outcome(true), Some(Step::AwaitDial));
        assert!(call.is_away());
        assert_eq!(call.ringing_reason(), Some("billing"));
    }

    fn dial(status: DialStatus, bridged: Option<bool>) -> DialEnd {
        DialEnd {
            status,
            bridged,
            duration_secs: Some(42),
        }
    }

    fn ringing(reason: &str) -> CallState {
        let mut call = CallState::new();
        call.link_ready(0, true);
        call.response_done(true);
        call.operator_transfer(plan(reason)).unwrap();
        assert_eq!(call.transfer_outcome(true), Some(Step::AwaitDial));
        call
    }

    #[test]
    fn an_accepted_screening_bridges_and_the_dial_end_closes_the_call_transferred() {
        let mut call = ringing("billing");
        assert!(call.screened(true));
        assert_eq!(call.course(), &Course::Bridged("billing".into()));
        assert_eq!(
            call.dial_ended(&dial(DialStatus::Completed, None)),
            Some(Step::Finish(EndReason::Transferred {
                number: None,
                reason: "billing".into()
            }))
        );
    }

    #[test]
    fn an_unanswered_transfer_comes_back_on_a_new_link_that_speaks_first() {
        let mut call = ringing("billing");
        // The old link going down while ringing is no failure.
        assert_eq!(call.link_down(0), None);
        assert_eq!(
            call.dial_ended(&dial(DialStatus::NoAnswer, None)),
            Some(Step::WayBack(TransferFailure::NoAnswer))
        );
        assert_eq!(call.generation(), 1);
        assert!(call.awaits_way_back());
        // A stale link's ready does nothing; the new one speaks first, once.
        assert_eq!(call.link_ready(0, true), None);
        assert_eq!(call.link_ready(1, true), Some(Step::RequestResponse));
        assert_eq!(call.link_ready(1, true), None);
        assert!(call.way_back_attached());
        assert!(!call.way_back_attached(), "once");
        assert_eq!(call.course(), &Course::Conversing);
        // The call can be transferred again.
        assert_eq!(
            call.operator_transfer(plan("again")),
            Ok(Step::Transfer(plan("again")))
        );
        assert_eq!(call.transfer_phase(), 3, "rung, came back, rings again");
    }

    #[test]
    fn a_declined_screening_comes_back_with_its_reason() {
        for (declined, status, failure) in [
            (
                Some(false),
                DialStatus::Completed,
                TransferFailure::Declined,
            ),
            (None, DialStatus::Completed, TransferFailure::NotAccepted),
            (None, DialStatus::Busy, TransferFailure::Busy),
        ] {
            let mut call = ringing("billing");
            if let Some(accepted) = declined {
                assert!(call.screened(accepted));
            }
            assert_eq!(
                call.dial_ended(&dial(status, None)),
                Some(Step::WayBack(failure))
            );
        }
    }

    #[test]
    fn a_transfer_is_refused_while_another_is_under_way() {
        let mut call = ringing("billing");
        assert_eq!(
            call.operator_transfer(plan("x")),
            Err(TransferRefused::InProgress)
        );
        call.screened(true);
        assert_eq!(
            call.operator_transfer(plan("x")),
            Err(TransferRefused::InProgress)
        );
        // No screening or dial end outside a transfer.
        let mut idle = CallState::new();
        assert!(!idle.screened(true));
        assert_eq!(idle.dial_ended(&dial(DialStatus::NoAnswer, None)), None);
    }

    #[test]
    fn a_transfer_left_unresolved_ends_once_its_bound_runs_out() {
        let mut call = ringing("billing");
        let ringing_phase = call.transfer_phase();
        assert_eq!(
            call.transfer_timed_out(ringing_phase, 80),
            Some(Step::Finish(EndReason::TransferUnresolved(
                "no dial outcome from the carrier within 80 s".into()
            )))
        );
        call.dial_ended(&dial(DialStatus::NoAnswer, None));
        assert_eq!(
            call.transfer_timed_out(ringing_phase, 80),
            None,
            "the ringing bound is stale once the dial ended"
        );
        let way_back = call.transfer_phase();
        assert_eq!(
            call.transfer_timed_out(way_back, 80),
            Some(Step::Finish(EndReason::TransferUnresolved(
                "no way-back stream within 80 s".into()
            )))
        );
        call.way_back_attached();
        assert_eq!(call.transfer_timed_out(way_back, 80), None, "back in time");
        // Bridged: the bound ends the call as transferred.
        let mut bridged = ringing("billing");
        bridged.screened(true);
        assert!(bridged.link_paused());
        let phase = bridged.transfer_phase();
        assert_eq!(
            bridged.transfer_timed_out(phase, 14_400),
            Some(Step::Finish(EndReason::Transferred {
                number: None,
                reason: "billing".into()
            }))
        );
    }

    #[test]
    fn a_failed_transfer_returns_to_the_conversation() {
        let mut call = CallState::new();
        call.operator_transfer(plan("manager")).unwrap();
        assert_eq!(call.transfer_outcome(false), None);
        assert_eq!(call.course(), &Course::Conversing);
        // An outcome without a transfer under way is ignored.
        assert_eq!(call.transfer_outcome(true), None);
    }

    #[test]
    fn operator_transfer_starts_at_once_unless_ending_or_transferring() {
        let mut call = CallState::new();
        assert_eq!(
            call.operator_transfer(plan("ops")),
            Ok(Step::Transfer(plan("ops")))
        );
        assert_eq!(
            call.operator_transfer(plan("again")),
            Err(TransferRefused::InProgress)
        );
        let mut ending = CallState::new();
        ending.begin_ending(EndReason::ModelUnavailable("gone".into()));
        assert_eq!(
            ending.operator_transfer(plan("ops")),
            Err(TransferRefused::Ending)
        );
    }

    #[test]
    fn hang_up_wins_over_transfer() {
        let mut call = CallState::new();
        call.tool_requested();
        call.tool_requested();
        call.response_done(true);
        call.tool_finished(Some(FarewellRequest::HangUp(bye())), true);
        call.tool_finished(Some(FarewellRequest::Transfer(plan("x"))), true);
        assert_eq!(call.course(), &Course::HangUpAfterGoodbye(bye()));
    }

    #[test]
    fn link_restart_resets_the_turn_and_counts_failures() {
        let mut call = CallState::new();
        call.link_ready(0, true);
        call.speech_started();
        call.tool_requested();
        assert_eq!(
            call.link_down(0),
            Some(Step::ReportLinkFailure { failures: 1 })
        );
        assert_eq!(call.turn(), Turn::Open);
        assert!(
            call.is_quiet(true),
            "the dead link's tools and answers are dropped"
        );
        // A second failure of the same link is stale once the next one opens.
        assert_eq!(call.next_link(), 1);
        assert_eq!(call.link_down(0), None);
        assert_eq!(
            call.link_down(1),
            Some(Step::ReportLinkFailure { failures: 2 })
        );
        // A link that comes up resets the count.
        assert_eq!(call.next_link(), 2);
        call.link_ready(2, true);
        assert_eq!(
            call.link_down(2),
            Some(Step::ReportLinkFailure { failures: 1 })
        );
    }

    #[test]
    fn nothing_is_reported_while_ending() {
        let mut call = CallState::new();
        call.begin_ending(EndReason::ModelUnavailable("gone".into()));
        assert_eq!(call.link_down(0), None);
        assert!(!call.begin_ending(EndReason::CallerHangup), "once only");
        assert_eq!(
            call.playback_advanced(true),
            Some(Step::Finish(EndReason::ModelUnavailable("gone".into())))
        );
    }

    #[test]
    fn only_an_untouched_call_hands_over() {
        let mut call = CallState::new();
        assert!(call.can_hand_over());
        call.tool_requested();
        assert!(!call.can_hand_over());
        let mut restarted = CallState::new();
        restarted.next_link();
        assert!(!restarted.can_hand_over());
        let mut moved = CallState::new();
        moved.handed_over();
        assert!(moved.is_handed_over());
        assert!(!moved.can_hand_over());
    }

    #[test]
    fn a_link_ending_a_hold_speaks_first_once() {
        let mut call = CallState::new();
        assert_eq!(call.link_ready(0, true), Some(Step::RequestResponse));
        call.response_done(true);
        // A quick restart the caller did not notice: no extra response.
        assert!(call.link_down(0).is_some());
        call.next_link();
        assert_eq!(call.link_ready(1, true), None);
        // One where the caller was put on hold.
        assert!(call.link_down(1).is_some());
        call.hold_started();
        assert!(call.was_held());
        call.next_link();
        assert_eq!(call.link_ready(2, true), Some(Step::RequestResponse));
        assert!(!call.was_held());
        // Its answer is awaited: no roll-over or farewell before it.
        assert!(!call.is_quiet(true));
        assert_eq!(call.link_ready(2, true), None);
        // A roll-over (no failure) does not.
        call.response_done(true);
        call.next_link();
        assert_eq!(call.link_ready(3, true), None);
    }

    #[test]
    fn a_call_whose_first_link_never_came_up_is_greeted_by_the_next() {
        let mut call = CallState::new();
        assert!(call.link_down(0).is_some());
        call.next_link();
        assert_eq!(call.link_ready(1, true), Some(Step::RequestResponse));
        assert!(call.greeting_requested());
    }

    #[test]
    fn a_voicemail_ends_the_call_as_voicemail_whatever_ends_it() {
        let mut call = CallState::new();
        call.link_down(0);
        call.hold_started();
        assert!(call.begin_voicemail("connect: refused".into()));
        assert!(call.is_ending());
        assert!(!call.was_held());
        assert!(!call.begin_voicemail("again".into()), "once only");
        assert!(!call.begin_ending(EndReason::Shutdown));
        assert_eq!(call.link_down(0), None);
        assert_eq!(call.speech_started(), None);
        assert_eq!(
            call.end_reason(EndReason::CallerHangup),
            EndReason::Voicemail("connect: refused".into())
        );
        assert!(call.operator_transfer(plan("x")).is_err());
        assert_eq!(call.end_reason(EndReason::NoStream), EndReason::NoStream);
        // Outside a voicemail the reason stands.
        assert_eq!(
            CallState::new().end_reason(EndReason::CallerHangup),
            EndReason::CallerHangup
        );
        let mut ending = CallState::new();
        ending.begin_ending(EndReason::Shutdown);
        assert!(!ending.begin_voicemail("gone".into()));
    }

    #[test]
    fn a_key_press_in_silence_is_answered_at_once() {
        let mut call = CallState::new();
        assert_eq!(call.caller_event(), CallerEvent::ToldAndAnswered);
        // Its answer is awaited: a second key waits for it instead of racing it.
        assert!(!call.is_quiet(true));
        assert_eq!(call.caller_event(), CallerEvent::Held);
        call.response_started();
        assert_eq!(call.response_done(true), vec![Step::TellCallerEvents]);
        assert!(call.response_done(true).is_empty());
        assert!(call.is_quiet(true));
    }

    #[test]
    fn a_key_press_during_an_answer_waits_for_it_without_barging_in() {
        let mut call = CallState::new();
        call.speech_started();
        call.speech_stopped();
        call.response_started();
        // No second response while one is active, and nothing is cut.
        assert_eq!(call.caller_event(), CallerEvent::Held);
        assert_eq!(call.response_done(true), vec![Step::TellCallerEvents]);
        call.response_started();
        assert!(call.response_done(true).is_empty());
    }

    #[test]
    fn a_key_press_during_a_tool_run_is_answered_by_the_tool_continuation() {
        let mut call = CallState::new();
        call.response_started();
        call.tool_requested();
        assert_eq!(call.caller_event(), CallerEvent::Held);
        // The tool's response ends; the continuation (one response.create) follows
        // the tool output and carries the key press too.
        assert!(call.response_done(true).is_empty());
        assert_eq!(call.tool_finished(None, true), Some(Step::RequestResponse));
        call.response_started();
        assert!(call.response_done(true).is_empty());
    }

    #[test]
    fn a_key_press_while_the_caller_speaks_joins_their_turn() {
        let mut call = CallState::new();
        call.speech_started();
        assert_eq!(call.caller_event(), CallerEvent::Told);
        call.speech_stopped();
        call.response_started();
        assert!(call.response_done(true).is_empty());
    }

    #[test]
    fn key_presses_are_dropped_once_the_call_is_leaving() {
        let mut ending = CallState::new();
        ending.begin_ending(bye());
        assert_eq!(ending.caller_event(), CallerEvent::Dropped);
        let mut transferring = CallState::new();
        transferring.operator_transfer(plan("key 0")).unwrap();
        assert_eq!(transferring.caller_event(), CallerEvent::Dropped);
        // A key pressed during an answer, then a hang-up by tool: no new response.
        let mut hanging_up = CallState::new();
        hanging_up.response_started();
        hanging_up.tool_requested();
        assert_eq!(hanging_up.caller_event(), CallerEvent::Held);
        hanging_up.tool_finished(Some(FarewellRequest::HangUp(bye())), false);
        assert_eq!(hanging_up.response_done(true), vec![Step::Finish(bye())]);
    }

    #[test]
    fn an_answering_machine_ends_the_call_with_its_own_reason() {
        let mut call = CallState::new();
        assert_eq!(
            call.carrier_hung_up(EndReason::CallerHangup),
            EndReason::CallerHangup
        );
        assert!(call.answering_machine());
        assert!(call.is_ending());
        // Twilio's `stop` after the voicemail replaced the stream is not the caller's hang-up.
        assert_eq!(
            call.carrier_hung_up(EndReason::CallerHangup),
            EndReason::AnsweringMachine
        );
        assert_eq!(call.caller_event(), CallerEvent::Dropped);
        assert_eq!(
            call.response_done(true),
            vec![Step::Finish(EndReason::AnsweringMachine)]
        );
        // Not once the call is transferring or already ending.
        let mut transferring = CallState::new();
        transferring.operator_transfer(plan("x")).unwrap();
        assert!(!transferring.answering_machine());
        let mut ending = CallState::new();
        ending.begin_ending(bye());
        assert!(!ending.answering_machine());
    }
}
