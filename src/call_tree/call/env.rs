//! What a per-call actor may use ([`CallEnv`]), what the Supervisor hands each
//! call it starts ([`Supervision`]), and the contract of a call the Supervisor
//! starts and tracks ([`SupervisedCall`]) — the Twilio/browser `CallActor` and the
//! jambonz call alike.

use std::sync::Arc;

use actix::prelude::*;

use crate::actor_messages::{
    CallFinished, EndCall, LinkFailed, MachineDetected, OperatorTransfer, RestartLink,
};
use crate::audio::clip::Clip;
use crate::config::Config;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::session_settings::{ApplySessionSettings, SessionOverrides};
use crate::store::writer::Store;
use crate::tools::env::ToolEnv;

use crate::lifecycle::{AdmitAnswer, Carrier};

/// The call layer's context, one per process, behind an `Arc`.
pub struct CallEnv {
    pub config: Arc<Config>,
    /// What each call's `ToolActor` runs tools with.
    pub tools: Arc<ToolEnv>,
    /// Fire-and-forget writes: call rows, transcript lines.
    pub store: Addr<Store>,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
    /// Realtime endpoint URL calls connect to (the built-in simulator's when
    /// `model.url` is empty).
    pub model_url: String,
    /// GPT-Live endpoint calls on `api = "live"` connect to ([`crate::config::Config::live_url`]).
    pub live_url: String,
    /// TLS connector for `wss://` model URLs.
    pub tls: Option<openssl::ssl::SslConnector>,
    /// Played when the server shuts down under a call.
    pub apology: Clip,
    /// Played, repeated, while a call's model link is down (`calls.hold_after_ms`).
    pub hold: Clip,
    /// Asks the caller to leave a message, ending in the tone; played when the
    /// model is gone for good and switchboard records the voicemail itself.
    pub voicemail_prompt: Clip,
    /// Operator session edits per tenant, read when a call starts.
    pub session_overrides: Arc<SessionOverrides>,
    /// Writes each ended call's summary and the owner's post-call notification.
    pub notifier: Addr<Notifier>,
    /// The one thread that writes every recorded call's file.
    pub recordings: super::recorder::RecordingWriter,
}

/// What the Supervisor gives a call it starts.
pub struct Supervision {
    pub env: Arc<CallEnv>,
    /// The admission verdict. A refused call records its refusal (a `refused`
    /// row) and tells its carrier, then stops.
    pub admission: AdmitAnswer,
    /// Where the call releases its slot, exactly once.
    pub finished: Recipient<CallFinished>,
    /// Where the call reports a failed model link.
    pub link_failed: Recipient<LinkFailed>,
}

/// Who a call is for, known before it starts: what the per-tenant cap counts
/// and the live-call registry lists.
#[derive(Debug, Clone)]
pub struct CallTenancy {
    pub tenant: String,
    pub carrier: Carrier,
    /// The carrier's call id (Twilio `CA…`, jambonz `call_sid`), when given.
    pub call_sid: Option<String>,
}

/// A per-call actor the Supervisor starts (on the arbiter of the carrier edge
/// that asked, so the call's audio never changes threads) and tracks until it
/// sends [`CallFinished`].
pub trait SupervisedCall:
    Actor<Context = Context<Self>>
    + Handler<EndCall>
    + Handler<ApplySessionSettings>
    + Handler<OperatorTransfer>
{
    /// What the carrier edge hands over.
    type Setup: Send + 'static;

    /// The call, not started yet; it acts on `supervision.admission` in `started`.
    fn supervised(setup: Self::Setup, supervision: Supervision) -> Self;

    /// The tenant, carrier and carrier call id of the call `setup` describes.
    fn tenancy(setup: &Self::Setup) -> CallTenancy;

    /// Where the Supervisor sends [`RestartLink`]; `None` for calls without a
    /// model link of their own (jambonz runs the model itself).
    fn restart_recipient(_addr: &Addr<Self>) -> Option<Recipient<RestartLink>> {
        None
    }

    /// Where the Supervisor sends an answering machine verdict
    /// ([`MachineDetected`]); `None` for calls that cannot have one.
    fn machine_recipient(_addr: &Addr<Self>) -> Option<Recipient<MachineDetected>> {
        None
    }

    /// Where the Supervisor sends a transfer's webhooks ([`CallLeg`]); `None`
    /// for calls whose carrier reports the transfer on the call's own socket
    /// (jambonz).
    fn leg_recipient(_addr: &Addr<Self>) -> Option<Recipient<super::transfer::CallLeg>> {
        None
    }
}
