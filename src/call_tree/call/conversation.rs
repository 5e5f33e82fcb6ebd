//! The conversation of one call as the model must be told it again after a
//! link restart or a session roll-over: caller lines, receptionist lines (cut
//! to what the caller heard), tool calls and their results, in the order they
//! happened. A line takes its place when its speaker starts (the caller's
//! speech, the answer's first audio), even though its transcript arrives
//! later — a caller's usually after the answer has begun, an interrupted
//! answer's after the caller's barge-in; a
//! provider that sends the transcript of one item again (xAI sends partial
//! "completed" transcripts before the final one) replaces the line. Pure: no
//! actors, no I/O.

use crate::model::session::{HistoryItem, Role};

/// What [`Conversation::user_said`] did with a caller transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLine {
    /// A line the conversation did not have.
    New,
    /// A new text for a line already heard (same item).
    Replaced,
    /// The same text again: nothing to store.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// A caller turn; `text` is `None` until its transcript arrives.
    User {
        item_id: Option<String>,
        text: Option<String>,
    },
    /// A receptionist answer; `text` is `None` until its transcript is known.
    Assistant {
        item_id: Option<String>,
        text: Option<String>,
    },
    Other(HistoryItem),
}

/// The call's conversation so far, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    entries: Vec<Entry>,
}

impl Conversation {
    /// An empty conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// The caller started a turn that will become user item `item_id`: its
    /// line goes here once transcribed.
    pub fn user_speaking(&mut self, item_id: &str) {
        if self.user_index(item_id).is_none() {
            self.entries.push(Entry::User {
                item_id: Some(item_id.to_string()),
                text: None,
            });
        }
    }

    /// A caller transcript for `item_id` (or an unnamed one).
    pub fn user_said(&mut self, item_id: Option<&str>, text: &str) -> UserLine {
        let Some(i) = item_id.and_then(|id| self.user_index(id)) else {
            self.entries.push(Entry::User {
                item_id: item_id.map(str::to_string),
                text: Some(text.to_string()),
            });
            return UserLine::New;
        };
        let Entry::User { text: line, .. } = &mut self.entries[i] else {
            return UserLine::Unchanged;
        };
        match line {
            Some(old) if old == text => UserLine::Unchanged,
            Some(old) => {
                *old = text.to_string();
                UserLine::Replaced
            }
            None => {
                *line = Some(text.to_string());
                UserLine::New
            }
        }
    }

    /// The answer `item_id` started playing: its line goes here.
    pub fn assistant_speaking(&mut self, item_id: &str) {
        if self.assistant_index(item_id).is_none() {
            self.entries.push(Entry::Assistant {
                item_id: Some(item_id.to_string()),
                text: None,
            });
        }
    }

    /// A receptionist line (already cut to what the caller heard), in the
    /// place of its answer when that started playing.
    pub fn assistant_said(&mut self, item_id: Option<&str>, text: &str) {
        if let Some(i) = item_id.and_then(|id| self.assistant_index(id)) {
            if let Entry::Assistant { text: line, .. } = &mut self.entries[i] {
                *line = Some(text.to_string());
                return;
            }
        }
        self.entries.push(Entry::Assistant {
            item_id: item_id.map(str::to_string),
            text: Some(text.to_string()),
        });
    }

    /// Something the caller did that the model was told of (a key press), as
    /// the `user` line it was told with: replayed after a restart like any line.
    pub fn caller_event(&mut self, text: &str) {
        self.entries.push(Entry::Other(HistoryItem::Message {
            role: Role::User,
            text: text.to_string(),
        }));
    }

    /// The model called a tool.
    pub fn function_call(&mut self, call_id: &str, name: &str, arguments: &str) {
        self.entries.push(Entry::Other(HistoryItem::FunctionCall {
            call_id: call_id.to_string(),
            name: name.to_string(),
            arguments: arguments.to_string(),
        }));
    }

    /// A tool's result for `call_id`.
    pub fn function_output(&mut self, call_id: &str, output: &str) {
        self.entries.push(Entry::Other(HistoryItem::FunctionOutput {
            call_id: call_id.to_string(),
            output: output.to_string(),
        }));
    }

    /// A line for the model from switchboard itself (`system`), e.g. why a
    /// transfer failed; replayed in its place.
    pub fn note(&mut self, text: &str) {
        self.entries.push(Entry::Other(HistoryItem::Message {
            role: Role::System,
            text: text.to_string(),
        }));
    }

    /// Everything to replay, in order. `unfinished` gives the text of answers
    /// whose transcript is not final yet (`(item_id, text as heard)`): each
    /// fills its answer's place, or comes last if it has none. Lines never
    /// transcribed are left out.
    pub fn history(&self, unfinished: &[(String, String)]) -> Vec<HistoryItem> {
        let message = |role: Role, text: &str| {
            Some(HistoryItem::Message {
                role,
                text: text.to_string(),
            })
            .filter(|_| !text.trim().is_empty())
        };
        let pending = |id: &Option<String>| {
            id.as_ref()
                .and_then(|id| unfinished.iter().find(|(k, _)| k == id))
                .map(|(_, t)| t.as_str())
        };
        let mut out: Vec<HistoryItem> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::User { text: Some(t), .. } => message(Role::User, t),
                Entry::User { text: None, .. } => None,
                Entry::Assistant { text: Some(t), .. } => message(Role::Assistant, t),
                Entry::Assistant {
                    item_id,
                    text: None,
                } => pending(item_id).and_then(|t| message(Role::Assistant, t)),
                Entry::Other(item) => Some(item.clone()),
            })
            .collect();
        for (id, text) in unfinished {
            if self.assistant_index(id).is_none() {
                out.extend(message(Role::Assistant, text));
            }
        }
        out
    }

    /// The spoken lines only, oldest first (for tools that read the conversation).
    pub fn lines(&self) -> Vec<(Role, String)> {
        self.history(&[])
            .into_iter()
            .filter_map(|item| match item {
                HistoryItem::Message { role, text } => Some((role, text)),
                _ => None,
            })
            .collect()
    }

    fn assistant_index(&self, item_id: &str) -> Option<usize> {
        self.entries
            .iter()
            .rposition(|e| matches!(e, Entry::Assistant { item_id: Some(id), .. } if id == item_id))
    }

    fn user_index(&self, item_id: &str) -> Option<usize> {
        self.entries
            .iter()
            .rposition(|e| matches!(e, Entry::User { item_id: Some(id), .. } if id == item_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key press the model was told of is replayed after a restart, as the
    /// `user` line it was told with, in its place.
    #[test]
    fn caller_events_are_replayed_in_order() {
        let mut c = Conversation::new();
        c.user_said(Some("item_u1"), "Hello?");
        c.caller_event("The caller pressed 1 on their keypad.");
        c.assistant_said(Some("item_a1"), "You pressed one.");
        assert_eq!(
            c.history(&[]),
            vec![
                HistoryItem::Message {
                    role: Role::User,
                    text: "Hello?".into()
                },
                HistoryItem::Message {
                    role: Role::User,
                    text: "The caller pressed 1 on their keypad.".into()
                },
                HistoryItem::Message {
                    role: Role::Assistant,
                    text: "You pressed one.".into()
                },
            ]
        );
    }

    #[test]
    fn late_caller_transcript_keeps_its_place_before_the_answer() {
        let mut c = Conversation::new();
        c.user_speaking("item_u1");
        c.function_call("call_1", "checkAvailability", "{}");
        c.function_output("call_1", "{\"slots\":[]}");
        c.assistant_said(None, "Nothing free on Tuesday.");
        assert_eq!(
            c.user_said(Some("item_u1"), "Tuesday please"),
            UserLine::New
        );
        let history = c.history(&[]);
        assert_eq!(
            history[0],
            HistoryItem::Message {
                role: Role::User,
                text: "Tuesday please".into()
            }
        );
        assert!(matches!(history[1], HistoryItem::FunctionCall { .. }));
        assert!(matches!(history[2], HistoryItem::FunctionOutput { .. }));
        assert_eq!(c.lines().len(), 2);
    }

    #[test]
    fn repeated_transcript_replaces_the_line() {
        let mut c = Conversation::new();
        assert_eq!(c.user_said(Some("i1"), "I'd like"), UserLine::New);
        assert_eq!(
            c.user_said(Some("i1"), "I'd like a cleaning"),
            UserLine::Replaced
        );
        assert_eq!(
            c.user_said(Some("i1"), "I'd like a cleaning"),
            UserLine::Unchanged
        );
        assert_eq!(
            c.lines(),
            vec![(Role::User, "I'd like a cleaning".to_string())]
        );
    }

    #[test]
    fn untranscribed_turns_are_not_replayed() {
        let mut c = Conversation::new();
        c.user_speaking("i1");
        c.assistant_said(None, "Hello?");
        assert_eq!(c.history(&[]).len(), 1);
    }

    #[test]
    fn interrupted_answer_stays_before_the_barge_in() {
        let mut c = Conversation::new();
        c.assistant_speaking("item_a");
        c.user_speaking("item_u");
        c.user_said(Some("item_u"), "Actually, wait.");
        // Still playing when the link went down: its heard part fills its place.
        let unfinished = [("item_a".to_string(), "The highest rated".to_string())];
        let lines: Vec<String> = c
            .history(&unfinished)
            .into_iter()
            .map(|h| match h {
                HistoryItem::Message { text, .. } => text,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(lines, ["The highest rated", "Actually, wait."]);
        c.assistant_said(Some("item_a"), "The highest");
        assert_eq!(c.lines()[0], (Role::Assistant, "The highest".to_string()));
    }
}
