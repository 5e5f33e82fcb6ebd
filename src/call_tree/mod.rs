//! The call tree: the actors that carry a live call, laid out as they supervise
//! each other.
//!
//! ```text
//! supervisor::Supervisor            one per node: admission, pre-warm hand-over,
//! │                                 link restarts, operator commands
//! ├── call::CallActor               one per Twilio or browser call: the caller's
//! │   │                             side, playback and barge-in, the call's state
//! │   ├── link::ModelLinkActor      the voice model's socket (restarted on failure)
//! │   └── tool::ToolActor           runs the model's tool calls off the audio path
//! └── carrier::jambonz::call        one per jambonz call (jambonz speaks to the
//!     └── tool::ToolActor           model itself; the call runs its tools)
//! ```
//!
//! Messages between them are typed (`crate::actor_messages`, and `crate::model`'s
//! `ModelEvent` / `LinkCommand`); messages up the tree go through `Recipient`s
//! handed down, so no child names its parent's type. The tree imports no carrier
//! code: carrier actions are `CarrierCommand`s to the call's edge.

pub mod call;
pub mod link;
pub mod supervisor;
pub mod tool;
