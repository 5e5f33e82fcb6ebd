//! `JambonzCall`: one jambonz call. jambonz carries the audio and runs the model
//! (the `llm` verb), so this actor holds only what switchboard owns: admission,
//! the call row, the transcript from `llm:event`s, the call's `ToolActor`, and the
//! verbs that carry out tool actions (hang-up, transfer). It outlives its socket for
//! `calls.carrier_idle_timeout_secs` so a `session:reconnect` can pick it up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use serde_json::{json, Value};

use crate::app::Services;
use crate::call::{metric_reason, EndCall};
use crate::carrier::jambonz::wire::{
    self, CallStatusInfo, LlmSpec, LlmTranscript, Outbound, SessionInfo, Verb,
};
use crate::events::CallEvent;
use crate::messages::{CallAction, ToolCall, ToolResult};
use crate::model::session::Provider;
use crate::model::session::{Role, TurnDetection};
use crate::session_settings::{ApplySessionSettings, SessionSettings};
use crate::store::calls::CallEnd;
use crate::store::models::CallStatus;
use crate::store::writer::{
    RecordCallEnded, RecordCallRefused, RecordCallStarted, RecordTranscript,
};
use crate::supervisor::{Admit, CallFinished};
use crate::tenant::TenantConfig;
use crate::tools::{ToolActor, ToolContext};

/// What the call sends its socket.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum JambonzOut {
    /// One JSON text frame.
    Send(Outbound),
    /// Close the socket (1000 = jambonz will not reconnect).
    Close { code: u16, reason: String },
}

/// What the socket tells its call (parsed from jambonz frames).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum JambonzEvent {
    /// `llm:tool-call`.
    ToolCall {
        tool_call_id: String,
        name: String,
        args: Value,
    },
    /// `call:status`.
    Status(CallStatusInfo),
    /// A final transcript from `llm:event`.
    Transcript(LlmTranscript),
    /// `verb:hook` (acked by the call: it knows whether a transfer is under way).
    VerbHook {
        msgid: String,
        hook: String,
        data: Value,
    },
    /// `dial:confirm`: the on-call person answered; ack with the whisper.
    DialConfirm { msgid: String },
    /// `session:reconnect` arrived on a new socket.
    Reattach {
        msgid: String,
        edge: Recipient<JambonzOut>,
    },
    /// The socket closed without the call ending.
    Detached,
}

/// Everything a jambonz call needs to start.
pub struct JambonzCallSetup {
    /// switchboard's call id (UUID v4).
    pub call_id: String,
    pub info: SessionInfo,
    pub tenant: Arc<TenantConfig>,
    /// The `session:new` msgid the call acks once admitted.
    pub msgid: String,
    pub edge: Recipient<JambonzOut>,
}

/// One jambonz call.
pub struct JambonzCall {
    setup: JambonzCallSetup,
    services: Arc<Services>,
    edge: Option<Recipient<JambonzOut>>,
    started: Instant,
    tools: Option<Addr<ToolActor>>,
    settings: SessionSettings,
    seq: i32,
    /// Reason recorded when the call ends after a tool action.
    action_reason: Option<String>,
    /// A redirect (hang-up, transfer) replaced the `llm` verb.
    redirected: bool,
    /// Final transcript lines so far, for tools that reason over the conversation.
    conversation: Vec<(Role, String)>,
    admitted: bool,
    finished: bool,
}

impl JambonzCall {
    /// A call waiting for admission (in `started`).
    pub fn new(setup: JambonzCallSetup, services: Arc<Services>) -> Self {
        let settings = services.session_overrides.get(&setup.tenant.id);
        JambonzCall {
            edge: Some(setup.edge.clone()),
            setup,
            services,
            started: Instant::now(),
            tools: None,
            settings,
            seq: 0,
            action_reason: None,
            conversation: Vec::new(),
            redirected: false,
            admitted: false,
            finished: false,
        }
    }

    fn send(&self, out: Outbound) {
        if let Some(edge) = &self.edge {
            edge.do_send(JambonzOut::Send(out));
        }
    }

    fn sid(&self) -> &str {
        &self.setup.info.call_sid
    }

    /// The `llm` verb for this call: the tenant (with operator edits), business
    /// hours and tools.
    fn llm_spec(&self) -> LlmSpec {
        let model = &self.services.config.model;
        let tenant = self.settings.apply(&self.setup.tenant);
        LlmSpec {
            model: model.model_for(Provider::OpenAi),
            api_key: model.api_key.clone(),
            instructions: tenant.instructions(self.setup.info.from.as_deref(), Utc::now()),
            voice: tenant
                .voice
                .clone()
                .unwrap_or_else(|| model.voice_for(Provider::OpenAi)),
            tools: self.services.tools.schemas_for(&tenant),
            transcription_model: Some(model.transcription_model.clone()).filter(|m| !m.is_empty()),
            turn_detection: TurnDetection {
                threshold: model.vad_threshold,
                prefix_padding_ms: model.vad_prefix_padding_ms,
                silence_duration_ms: model.vad_silence_ms,
                eagerness: self.settings.eagerness,
            },
        }
    }

    fn on_admitted(&mut self, ctx: &mut Context<Self>) {
        self.admitted = true;
        let info = &self.setup.info;
        self.services.store.do_send(RecordCallStarted {
            call_id: self.setup.call_id.clone(),
            tenant_id: Some(self.setup.tenant.id.clone()),
            carrier: "jambonz".into(),
            carrier_call_sid: Some(info.call_sid.clone()),
            stream_sid: None,
            from_number: info.from.clone(),
            to_number: info.to.clone(),
            model_provider: Some("jambonz-openai".into()),
            started_at: Utc::now().naive_utc(),
        });
        self.services.events.publish(CallEvent::CallStarted {
            call_id: self.setup.call_id.clone(),
            call_sid: Some(info.call_sid.clone()),
            tenant: Some(self.setup.tenant.id.clone()),
            from: info.from.clone(),
            to: info.to.clone(),
            carrier: "jambonz".into(),
        });
        let tool_ctx = ToolContext {
            call_id: Some(self.setup.call_id.clone()),
            call_sid: Some(info.call_sid.clone()),
            tenant: self.setup.tenant.clone(),
            caller: info.from.clone(),
            carrier: "jambonz".into(),
            conversation: Vec::new(),
        };
        self.tools = Some(
            ToolActor::new(tool_ctx, self.services.clone(), ctx.address().recipient()).start(),
        );
        self.services
            .jambonz_calls
            .insert(&info.call_sid, ctx.address());
        log::info!(
            "jambonz call {} ({}) admitted for tenant {}",
            self.setup.call_id,
            info.call_sid,
            self.setup.tenant.id
        );
        self.send(Outbound::ack(
            &self.setup.msgid,
            Some(vec![wire::llm_verb(&self.llm_spec())]),
        ));
    }

    fn on_refused(&mut self, reason: String, detail: String, ctx: &mut Context<Self>) {
        log::warn!("jambonz call {} refused: {detail}", self.sid());
        let info = &self.setup.info;
        self.services.store.do_send(RecordCallRefused {
            call_id: self.setup.call_id.clone(),
            tenant_id: Some(self.setup.tenant.id.clone()),
            carrier: "jambonz".into(),
            carrier_call_sid: Some(info.call_sid.clone()),
            stream_sid: None,
            from_number: info.from.clone(),
            to_number: info.to.clone(),
            model_provider: Some("jambonz-openai".into()),
            started_at: Utc::now().naive_utc(),
            reason,
        });
        self.send(Outbound::ack(
            &self.setup.msgid,
            Some(vec![
                Verb::Say {
                    text: "Sorry, all our lines are busy. Please call again later.".into(),
                },
                Verb::Hangup {},
            ]),
        ));
        self.finished = true;
        ctx.stop();
    }

    fn record_line(&mut self, role: &str, text: String, item_id: Option<String>) {
        if text.trim().is_empty() {
            return;
        }
        let speaker = if role == "user" {
            Role::User
        } else {
            Role::Assistant
        };
        self.conversation.push((speaker, text.clone()));
        self.seq += 1;
        self.services.store.do_send(RecordTranscript {
            id: uuid::Uuid::new_v4().to_string(),
            call_id: self.setup.call_id.clone(),
            seq: self.seq,
            role: role.to_string(),
            text: text.clone(),
            item_id,
            interrupted: false,
            created_at: Utc::now().naive_utc(),
        });
        self.services.events.publish(CallEvent::Transcript {
            call_id: self.setup.call_id.clone(),
            call_sid: Some(self.sid().to_string()),
            role: role.to_string(),
            text,
            interrupted: false,
        });
    }

    /// Finalises the call once: row, slot, metrics, event, registry.
    fn finish(&mut self, reason: String, duration: Option<Duration>, ctx: &mut Context<Self>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let duration_ms = duration
            .unwrap_or_else(|| self.started.elapsed())
            .as_millis() as i64;
        if self.admitted {
            self.services.store.do_send(RecordCallEnded {
                call_id: self.setup.call_id.clone(),
                end: CallEnd {
                    ended_at: Utc::now().naive_utc(),
                    duration_ms,
                    reason: reason.clone(),
                    status: CallStatus::Completed,
                    link_restarts: 0,
                    turn_latency_p50_ms: None,
                    turn_latency_max_ms: None,
                },
            });
            self.services.supervisor.do_send(CallFinished {
                call_id: self.setup.call_id.clone(),
            });
            self.services
                .metrics
                .calls_ended
                .with_label_values(&[metric_reason(&reason)])
                .inc();
            self.services.events.publish(CallEvent::CallEnded {
                call_id: self.setup.call_id.clone(),
                call_sid: Some(self.sid().to_string()),
                reason: reason.clone(),
                duration_ms: duration_ms as u64,
            });
            self.services
                .jambonz_calls
                .remove(&self.setup.info.call_sid);
        }
        log::info!(
            "jambonz call {} ({}) ended: {reason} after {duration_ms} ms",
            self.setup.call_id,
            self.sid()
        );
        ctx.stop();
    }

    fn on_tool_call(&mut self, tool_call_id: String, name: String, args: Value) {
        match &self.tools {
            Some(tools) => tools.do_send(ToolCall {
                call_id: tool_call_id,
                name,
                arguments: args.to_string(),
                // jambonz runs the model; its transcript arrives as llm:event lines.
                conversation: self.conversation.clone(),
            }),
            None => self.send(Outbound::tool_output(
                &tool_call_id,
                &json!({"error": "the call is not admitted"}).to_string(),
            )),
        }
    }

    fn on_status(&mut self, status: CallStatusInfo, ctx: &mut Context<Self>) {
        // B-leg (transfer target) events carry their own sid.
        if !status.call_sid.is_empty() && status.call_sid != self.setup.info.call_sid {
            log::info!(
                "jambonz call {}: leg {} is {}",
                self.sid(),
                status.call_sid,
                status.call_status
            );
            return;
        }
        if !status.is_final() {
            return;
        }
        let reason = if status.call_status == "completed" {
            self.action_reason
                .clone()
                .unwrap_or_else(|| "caller_hangup".into())
        } else {
            format!("carrier_{}", status.call_status.replace('-', "_"))
        };
        let duration = status.duration.map(Duration::from_secs);
        self.finish(reason, duration, ctx);
    }

    fn on_verb_hook(&mut self, msgid: String, hook: String, data: Value) {
        let verbs = if hook == wire::LLM_ACTION_HOOK && !self.redirected {
            // The model session ended on its own: nothing else runs on this call.
            let reason = data["completion_reason"].as_str().unwrap_or_default();
            log::info!("jambonz call {}: llm ended: {reason}", self.sid());
            let mut verbs = Vec::new();
            if reason != "normal conversation end" {
                verbs.push(Verb::Say {
                    text: "Sorry, we are having technical trouble. Please call again later.".into(),
                });
                self.action_reason = Some(format!("model_unavailable: {reason}"));
            }
            verbs.push(Verb::Hangup {});
            Some(verbs)
        } else {
            // A killed llm verb's actionHook, or a dial result: ack without verbs so it
            // cannot override the transfer (§5.5).
            None
        };
        self.send(Outbound::ack(&msgid, verbs));
    }
}

impl Actor for JambonzCall {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let admit = Admit {
            call_id: self.setup.call_id.clone(),
            addr: ctx.address().recipient(),
            settings: ctx.address().recipient(),
        };
        let supervisor = self.services.supervisor.clone();
        ctx.wait(
            async move { supervisor.send(admit).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(Ok(())) => act.on_admitted(ctx),
                    Ok(Err(e)) => act.on_refused(e.reason().to_string(), e.to_string(), ctx),
                    Err(e) => act.on_refused("refused_supervisor".into(), e.to_string(), ctx),
                }),
        );
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        if !self.finished {
            self.finish("call_actor_stopped".into(), None, ctx);
        }
        Running::Stop
    }
}

impl Handler<JambonzEvent> for JambonzCall {
    type Result = ();

    fn handle(&mut self, event: JambonzEvent, ctx: &mut Context<Self>) {
        match event {
            JambonzEvent::ToolCall {
                tool_call_id,
                name,
                args,
            } => self.on_tool_call(tool_call_id, name, args),
            JambonzEvent::Status(status) => self.on_status(status, ctx),
            JambonzEvent::Transcript(LlmTranscript::User { item_id, text }) => {
                self.record_line("user", text, item_id)
            }
            JambonzEvent::Transcript(LlmTranscript::Assistant { item_id, text }) => {
                self.record_line("assistant", text, item_id)
            }
            JambonzEvent::VerbHook { msgid, hook, data } => self.on_verb_hook(msgid, hook, data),
            JambonzEvent::DialConfirm { msgid } => {
                let whisper = format!(
                    "Transferred call for {} from {}.",
                    self.setup.tenant.name,
                    self.setup
                        .info
                        .from
                        .as_deref()
                        .unwrap_or("an unknown number")
                );
                self.send(Outbound::ack(
                    &msgid,
                    Some(vec![Verb::Say { text: whisper }]),
                ));
            }
            JambonzEvent::Reattach { msgid, edge } => {
                log::info!("jambonz call {}: socket reconnected", self.sid());
                self.edge = Some(edge);
                self.send(Outbound::ack(&msgid, None));
            }
            JambonzEvent::Detached => {
                self.edge = None;
                let grace =
                    Duration::from_secs(self.services.config.calls.carrier_idle_timeout_secs);
                ctx.run_later(grace, |act, ctx| {
                    if act.edge.is_none() {
                        act.finish("carrier_closed".into(), None, ctx);
                    }
                });
            }
        }
    }
}

impl Handler<ToolResult> for JambonzCall {
    type Result = ();

    fn handle(&mut self, result: ToolResult, ctx: &mut Context<Self>) {
        self.send(Outbound::tool_output(&result.call_id, &result.output));
        let Some(action) = result.action else {
            return;
        };
        self.action_reason = Some(match &action {
            CallAction::HangUp { reason } => format!("assistant_hangup: {reason}"),
            CallAction::Transfer { number, reason, .. } => {
                format!("transferred: {number} ({reason})")
            }
        });
        // jambonz sends `response.create` after the tool output; the goodbye plays
        // before the redirect replaces the llm verb.
        let delay = Duration::from_millis(self.services.config.jambonz.farewell_delay_ms);
        ctx.run_later(delay, move |act, _| {
            act.redirected = true;
            act.send(Outbound::redirect(wire::action_verbs(&action)));
        });
    }
}

impl Handler<EndCall> for JambonzCall {
    type Result = ();

    fn handle(&mut self, msg: EndCall, ctx: &mut Context<Self>) {
        let mut verbs = Vec::new();
        if msg.apologise {
            verbs.push(Verb::Say {
                text: "Sorry, we have to end this call now. Please call again later.".into(),
            });
        }
        verbs.push(Verb::Hangup {});
        self.redirected = true;
        self.send(Outbound::redirect(verbs));
        self.finish(msg.reason, None, ctx);
    }
}

impl Handler<ApplySessionSettings> for JambonzCall {
    type Result = ();

    fn handle(&mut self, msg: ApplySessionSettings, _: &mut Context<Self>) {
        self.settings.merge(&msg.0);
        let spec = self.llm_spec();
        let Verb::Llm(verb) = wire::llm_verb(&spec) else {
            return;
        };
        let session = &verb.llm_options.session_update;
        self.send(Outbound::llm_update(json!({
            "instructions": session.instructions,
            "voice": session.voice,
            "turn_detection": session.turn_detection,
        })));
    }
}
