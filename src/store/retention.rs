//! What a tenant's retention policy removes (`retention_days`,
//! `retention_days_summary`), counted or done. Past `retention_days` (by
//! each row's own time): a call's transcript is deleted and its tool calls'
//! arguments and results cleared; text messages' and caller messages'
//! bodies become `[expired]`; voicemail audio and local recordings are
//! deleted (the files by the caller, after the commit). The call row keeps
//! its metadata and summary; past `retention_days_summary` the summary is
//! cleared too. Nothing younger than its cutoff is touched.
//!
//! A purge is one transaction per tenant. On PostgreSQL it first takes a
//! transaction-scoped advisory lock ([`PURGE_LOCK`]); a node that does not get
//! it skips the tenant, so in a cluster one node runs each purge.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use super::schema::{
    caller_messages, calls, messages, tool_invocations, transcript_entries, voicemails,
};
use super::{DbConnection, StoreError};

/// What an expired body becomes.
pub const EXPIRED: &str = "[expired]";

/// The advisory-lock key every node's purge takes (`pg_try_advisory_xact_lock`).
pub const PURGE_LOCK: i64 = 0x5357_4250_5552_4745; // "SWBPURGE"

/// One tenant's policy, days (`None`: kept for ever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub days: Option<u32>,
    pub summary_days: Option<u32>,
}

/// How many rows a purge removed or cleared (or would, on a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub transcript_lines: usize,
    pub tool_calls: usize,
    pub text_messages: usize,
    pub caller_messages: usize,
    pub voicemails: usize,
    /// Calls whose local recording expired.
    pub recordings: usize,
    pub summaries: usize,
    /// Those recordings' files, relative to `recording.dir`: the caller
    /// removes them once the transaction has committed.
    #[serde(skip)]
    pub files: Vec<String>,
}

impl Purged {
    /// One line: the counts.
    pub fn summary(&self) -> String {
        format!(
            "transcript lines {}, tool calls {}, text messages {}, caller messages {}, \
             voicemails {}, recordings {}, summaries {}",
            self.transcript_lines,
            self.tool_calls,
            self.text_messages,
            self.caller_messages,
            self.voicemails,
            self.recordings,
            self.summaries
        )
    }

    /// Whether nothing was (or would be) purged.
    pub fn is_empty(&self) -> bool {
        *self == Purged::default()
    }
}

/// The outcome for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Purged (or counted, on a dry run).
    Done(Purged),
    /// Another node holds the purge lock (PostgreSQL): it is purging now.
    Busy,
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

/// Applies `policy` to `tenant_id` as of `now` (UTC); with `dry_run` only
/// counts, changing nothing.
///
/// Errors: [`StoreError::Query`] (the tenant's transaction is rolled back).
pub fn purge(
    conn: &mut DbConnection,
    tenant_id: &str,
    policy: Policy,
    now: NaiveDateTime,
    dry_run: bool,
) -> Result<Outcome, StoreError> {
    conn.transaction(|conn| {
        if let DbConnection::Pg(pg) = conn {
            let lock: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS locked")
                .bind::<BigInt, _>(PURGE_LOCK)
                .get_result(pg)?;
            if !lock.locked {
                return Ok(Outcome::Busy);
            }
        }
        let mut purged = Purged::default();
        if let Some(days) = policy.days {
            let cutoff = now - Duration::days(i64::from(days));
            purge_content(conn, tenant_id, cutoff, dry_run, &mut purged)?;
        }
        if let Some(days) = policy.summary_days {
            let cutoff = now - Duration::days(i64::from(days));
            let old = calls::table
                .filter(calls::tenant_id.eq(tenant_id))
                .filter(calls::started_at.lt(cutoff))
                .filter(calls::summary.is_not_null());
            purged.summaries = if dry_run {
                count(old.count().get_result(conn)?)
            } else {
                diesel::update(old)
                    .set(calls::summary.eq(None::<String>))
                    .execute(conn)?
            };
        }
        Ok(Outcome::Done(purged))
    })
}

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Transcripts, tool calls, message bodies and voicemail audio older than `cutoff`.
fn purge_content(
    conn: &mut DbConnection,
    tenant_id: &str,
    cutoff: NaiveDateTime,
    dry_run: bool,
    purged: &mut Purged,
) -> Result<(), StoreError> {
    let tenant_calls = calls::table
        .filter(calls::tenant_id.eq(tenant_id))
        .select(calls::id);
    let lines = transcript_entries::table
        .filter(transcript_entries::created_at.lt(cutoff))
        .filter(transcript_entries::call_id.eq_any(tenant_calls));
    let tools = tool_invocations::table
        .filter(tool_invocations::tenant_id.eq(tenant_id))
        .filter(tool_invocations::created_at.lt(cutoff))
        .filter(tool_invocations::arguments.ne(EXPIRED));
    let texts = messages::table
        .filter(messages::tenant_id.eq(tenant_id))
        .filter(messages::created_at.lt(cutoff))
        .filter(messages::body.ne(EXPIRED));
    let taken = caller_messages::table
        .filter(caller_messages::tenant_id.eq(tenant_id))
        .filter(caller_messages::created_at.lt(cutoff))
        .filter(caller_messages::message.ne(EXPIRED));
    let tenant_messages = caller_messages::table
        .filter(caller_messages::tenant_id.eq(tenant_id))
        .select(caller_messages::id);
    let audio = voicemails::table
        .filter(voicemails::created_at.lt(cutoff))
        .filter(voicemails::message_id.eq_any(tenant_messages));
    let recorded = calls::table
        .filter(calls::tenant_id.eq(tenant_id))
        .filter(calls::started_at.lt(cutoff))
        .filter(calls::recording_file.is_not_null());
    purged.files = recorded
        .select(calls::recording_file)
        .load::<Option<String>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    purged.recordings = purged.files.len();
    if dry_run {
        purged.transcript_lines = count(lines.count().get_result(conn)?);
        purged.tool_calls = count(tools.count().get_result(conn)?);
        purged.text_messages = count(texts.count().get_result(conn)?);
        purged.caller_messages = count(taken.count().get_result(conn)?);
        purged.voicemails = count(audio.count().get_result(conn)?);
        return Ok(());
    }
    purged.transcript_lines = diesel::delete(lines).execute(conn)?;
    purged.tool_calls = diesel::update(tools)
        .set((
            tool_invocations::arguments.eq(EXPIRED),
            tool_invocations::result.eq(None::<String>),
        ))
        .execute(conn)?;
    purged.text_messages = diesel::update(texts)
        .set((
            messages::body.eq(EXPIRED),
            messages::subject.eq(None::<String>),
        ))
        .execute(conn)?;
    purged.voicemails = diesel::delete(audio).execute(conn)?;
    diesel::update(recorded)
        .set(calls::recording_file.eq(None::<String>))
        .execute(conn)?;
    purged.caller_messages = diesel::update(taken)
        .set(caller_messages::message.eq(EXPIRED))
        .execute(conn)?;
    Ok(())
}
