//! The conversation of one call as the model must be told it again after a
//! link restart or a session roll-over: caller lines, receptionist lines (cut
//! to what the caller heard), tool calls and their results, in the order they
//! happened. A caller line takes its place when the caller starts speaking,
//! even though its transcript usually arrives after the answer has begun; a
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

    /// A receptionist line (already cut to what the caller heard).
    pub fn assistant_said(&mut self, text: &str) {
        self.entries.push(Entry::Other(HistoryItem::Message {
            role: Role::Assistant,
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

    /// Everything to replay, in order; caller turns never transcribed are left out.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::User { text: Some(t), .. } => Some(HistoryItem::Message {
                    role: Role::User,
                    text: t.clone(),
                }),
                Entry::User { text: None, .. } => None,
                Entry::Other(item) => Some(item.clone()),
            })
            .collect()
    }

    /// The spoken lines only, oldest first (for tools that read the conversation).
    pub fn lines(&self) -> Vec<(Role, String)> {
        self.history()
            .into_iter()
            .filter_map(|item| match item {
                HistoryItem::Message { role, text } => Some((role, text)),
                _ => None,
            })
            .collect()
    }

    fn user_index(&self, item_id: &str) -> Option<usize> {
        self.entries.iter().rposition(
            |e| matches!(e, Entry::User { item_id: Some(id), .. } if id == item_id),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_caller_transcript_keeps_its_place_before_the_answer() {
        let mut c = Conversation::new();
        c.user_speaking("item_u1");
        c.function_call("call_1", "checkAvailability", "{}");
        c.function_output("call_1", "{\"slots\":[]}");
        c.assistant_said("Nothing free on Tuesday.");
        assert_eq!(c.user_said(Some("item_u1"), "Tuesday please"), UserLine::New);
        let history = c.history();
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
        assert_eq!(c.user_said(Some("i1"), "I'd like a cleaning"), UserLine::Replaced);
        assert_eq!(c.user_said(Some("i1"), "I'd like a cleaning"), UserLine::Unchanged);
        assert_eq!(
            c.lines(),
            vec![(Role::User, "I'd like a cleaning".to_string())]
        );
    }

    #[test]
    fn untranscribed_turns_are_not_replayed() {
        let mut c = Conversation::new();
        c.user_speaking("i1");
        c.assistant_said("Hello?");
        assert_eq!(c.history().len(), 1);
    }
}
