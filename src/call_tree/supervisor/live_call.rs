//! A live call as the Supervisor holds it: its registry entry and the handles
//! operator commands and restarts go through — held, in order, while a
//! pre-warmed call moves threads, and delivered to the actor it ends up in.

use actix::prelude::*;

use crate::actor_messages::{EndCall, MachineDetected, OperatorTransfer, RestartLink};
use crate::call_tree::call::env::SupervisedCall;
use crate::call_tree::call::transfer::CallLeg;
use crate::cluster::LiveCallEntry;
use crate::session_settings::ApplySessionSettings;

/// A live call's handles.
pub(super) struct LiveCall {
    /// What `GET /api/calls/live` shows of it.
    pub(super) entry: LiveCallEntry,
    end: Recipient<EndCall>,
    settings: Recipient<ApplySessionSettings>,
    pub(super) transfer: Recipient<OperatorTransfer>,
    /// `None` for calls without a model link of their own (jambonz).
    pub(super) restart: Option<Recipient<RestartLink>>,
    /// Where an answering machine verdict goes; `None` for calls that cannot
    /// have one (jambonz).
    pub(super) machine: Option<Recipient<MachineDetected>>,
    /// A transfer's webhooks; `None` where the carrier reports them on the
    /// call's own socket (jambonz).
    pub(super) leg: Option<Recipient<CallLeg>>,
    /// `Some` while the call moves threads: messages held for it, in order.
    pub(super) moving: Option<Vec<Held>>,
}

/// A message for a call held while it moves threads.
pub(super) enum Held {
    End(EndCall),
    Settings(ApplySessionSettings),
    Restart(RestartLink),
}

impl LiveCall {
    pub(super) fn new<C: SupervisedCall>(entry: LiveCallEntry, addr: &Addr<C>) -> Self {
        LiveCall {
            entry,
            end: addr.clone().recipient(),
            settings: addr.clone().recipient(),
            transfer: addr.clone().recipient(),
            restart: C::restart_recipient(addr),
            machine: C::machine_recipient(addr),
            leg: C::leg_recipient(addr),
            moving: None,
        }
    }

    /// The call continues in another actor (a pre-warmed call moved threads).
    pub(super) fn point_to<C: SupervisedCall>(&mut self, addr: &Addr<C>) {
        let moved = LiveCall::new(self.entry.clone(), addr);
        self.take_handles(moved);
    }

    /// `moved`'s handles replace these; messages held for the move stay held.
    fn take_handles(&mut self, moved: LiveCall) {
        let moving = self.moving.take();
        *self = moved;
        self.moving = moving;
    }

    pub(super) fn send(&mut self, msg: Held) {
        if let Some(held) = &mut self.moving {
            held.push(msg);
            return;
        }
        match msg {
            Held::End(msg) => self.end.do_send(msg),
            Held::Settings(msg) => self.settings.do_send(msg),
            Held::Restart(msg) => {
                if let Some(restart) = &self.restart {
                    restart.do_send(msg);
                }
            }
        }
    }

    /// The move is over (done or abandoned): what was held goes to the call.
    pub(super) fn settle(&mut self) {
        for msg in self.moving.take().unwrap_or_default() {
            self.send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::lifecycle::EndReason;

    use crate::session_settings::SessionSettings;

    /// Records what a call's handles deliver to it.
    #[derive(Default)]
    struct Probe(Vec<String>);

    impl Actor for Probe {
        type Context = Context<Self>;
    }

    impl Handler<EndCall> for Probe {
        type Result = ();
        fn handle(&mut self, msg: EndCall, _: &mut Context<Self>) {
            self.0.push(format!("end {}", msg.reason));
        }
    }

    impl Handler<ApplySessionSettings> for Probe {
        type Result = ();
        fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
            self.0.push(format!("voice {:?}", msg.0.voice));
        }
    }

    impl Handler<OperatorTransfer> for Probe {
        type Result = Result<(), String>;
        fn handle(&mut self, _: OperatorTransfer, _: &mut Context<Self>) -> Self::Result {
            Ok(())
        }
    }

    impl Handler<RestartLink> for Probe {
        type Result = ();
        fn handle(&mut self, msg: RestartLink, _: &mut Context<Self>) {
            self.0.push(format!("restart {}", msg.attempt));
        }
    }

    #[derive(Message)]
    #[rtype(result = "Vec<String>")]
    struct Seen;

    impl Handler<Seen> for Probe {
        type Result = Vec<String>;
        fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Vec<String> {
            self.0.clone()
        }
    }

    fn live_call(probe: &Addr<Probe>) -> LiveCall {
        LiveCall {
            entry: LiveCallEntry {
                call_id: "c1".into(),
                call_sid: Some("CA1".into()),
                tenant: Some("acme".into()),
                carrier: "twilio".into(),
                node: "n1".into(),
                started_at: chrono::Utc::now(),
            },
            end: probe.clone().recipient(),
            settings: probe.clone().recipient(),
            transfer: probe.clone().recipient(),
            restart: Some(probe.clone().recipient()),
            machine: None,
            leg: None,
            moving: None,
        }
    }

    fn messages(call: &mut LiveCall) {
        call.send(Held::Settings(ApplySessionSettings(SessionSettings {
            voice: Some("cedar".into()),
            ..SessionSettings::default()
        })));
        call.send(Held::Restart(RestartLink {
            after: Duration::ZERO,
            attempt: 1,
            cause: "test".into(),
        }));
        call.send(Held::End(EndCall {
            reason: EndReason::OperatorHangup,
            apologise: false,
        }));
    }

    /// An operator's hang-up (or a settings edit, a restart) sent while a call
    /// moves threads is held, then delivered in order to the actor the call
    /// ends up in — the new one, or the old one when the move is abandoned —
    /// and never to an actor that has gone.
    #[actix_rt::test]
    async fn messages_for_a_moving_call_reach_the_actor_it_ends_up_in() {
        let expected = ["voice Some(\"cedar\")", "restart 1", "end operator_hangup"];
        for abandoned in [false, true] {
            let old = Probe::default().start();
            let new = Probe::default().start();
            let mut call = live_call(&old);
            call.moving = Some(Vec::new());
            messages(&mut call);
            if !abandoned {
                call.take_handles(live_call(&new));
            }
            assert!(
                old.send(Seen).await.expect("old").is_empty(),
                "sent while moving"
            );
            call.settle();
            let (got, idle) = if abandoned {
                (&old, &new)
            } else {
                (&new, &old)
            };
            assert_eq!(
                got.send(Seen).await.expect("seen"),
                expected,
                "abandoned {abandoned}"
            );
            assert!(idle.send(Seen).await.expect("idle").is_empty());
            // Settled: later messages go straight through.
            call.send(Held::End(EndCall {
                reason: EndReason::OperatorHangup,
                apologise: false,
            }));
            assert_eq!(got.send(Seen).await.expect("seen").len(), 4);
        }
    }
}
