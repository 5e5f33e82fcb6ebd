//! The jambonz edge (`GET /jambonz`, WebSocket API with subprotocol
//! `ws.jambonz.org`): jambonz terminates SIP and RTP and runs the model itself
//! through its `llm` verb; switchboard routes the call to its tenant, hands jambonz
//! the tenant's model settings and tools, answers tool calls on the same socket with
//! the full session context, and records the call. [`wire`] is the pure message
//! format, [`edge`] the WebSocket actor, [`call`] the per-call actor that outlives a
//! socket when jambonz reconnects.

pub mod call;
pub mod edge;
pub mod wire;

use std::collections::HashMap;
use std::sync::Mutex;

use actix::Addr;

use call::JambonzCall;

/// Live jambonz calls by jambonz `call_sid`, so a `session:reconnect` on a new
/// socket finds its call. Touched at session start, reconnect and end only.
#[derive(Default)]
pub struct JambonzCalls {
    by_sid: Mutex<HashMap<String, Addr<JambonzCall>>>,
}

impl JambonzCalls {
    /// Registers a live call.
    pub fn insert(&self, call_sid: &str, addr: Addr<JambonzCall>) {
        if let Ok(mut map) = self.by_sid.lock() {
            map.insert(call_sid.to_string(), addr);
        }
    }

    /// The live call with this `call_sid`, if any.
    pub fn get(&self, call_sid: &str) -> Option<Addr<JambonzCall>> {
        self.by_sid
            .lock()
            .ok()
            .and_then(|map| map.get(call_sid).cloned())
    }

    /// Forgets a call that ended.
    pub fn remove(&self, call_sid: &str) {
        if let Ok(mut map) = self.by_sid.lock() {
            map.remove(call_sid);
        }
    }
}
