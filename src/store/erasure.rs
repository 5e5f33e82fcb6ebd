//! Erasing one caller of one tenant (a data-subject request): everything
//! stored about the phone number goes, in one transaction, and what must stay
//! for the business's records (that a call happened, how long, a booked slot)
//! stays without the person in it.
//!
//! Per table, for tenant T and number P (E.164):
//! - `calls` from or to P: the numbers, the summary and the local recording
//!   (its file removed by the caller after the commit) are cleared; the row
//!   (time, duration, outcome) stays. Their transcripts and tool calls are
//!   deleted, as are tool calls of other calls whose arguments or result name P.
//! - `caller_messages` from P or taken on those calls: deleted (their
//!   voicemail audio with them, `ON DELETE CASCADE`).
//! - `customers` with phone P: deleted; one that still holds bookings is kept
//!   as an anonymous row (name, phone, email cleared) so the booked slots keep
//!   their time, and those bookings lose their link to the call.
//! - `messages` (texts, emails) from or to P or linked to those customers: deleted.
//! - `notifications` about those calls or naming P: subject and body replaced
//!   by `[erased]`; `outbox` payloads naming P: deleted.
//! - Any other transcript line naming P: P replaced by `[erased]`.
//!
//! On SQLite, deleted content is overwritten with zeros (`secure_delete`, set
//! on every connection) and the write-ahead log is checkpointed and emptied
//! afterwards, so the number is in no file either. PostgreSQL keeps dead
//! row versions until its (auto)vacuum reclaims them; no query sees them.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::{
    appointments, caller_messages, calls, customers, messages, notifications, outbox,
    tool_invocations, transcript_entries,
};
use super::{DbConnection, StoreError};

/// What replaces an erased text.
pub const ERASED: &str = "[erased]";

diesel::define_sql_function! {
    /// SQL `replace(text, from, to)` (SQLite and PostgreSQL alike).
    fn replace(text: diesel::sql_types::Text, from: diesel::sql_types::Text, to: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// How many rows an erasure touched, per kind (for the answer and the audit
/// log; never the data itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    /// Calls whose numbers and summary were cleared.
    pub calls: usize,
    /// Transcript lines deleted, or with the number replaced.
    pub transcript_lines: usize,
    pub tool_calls: usize,
    pub caller_messages: usize,
    /// Customers deleted or made anonymous.
    pub customers: usize,
    /// Bookings that lost their link to the person.
    pub bookings: usize,
    pub text_messages: usize,
    pub notifications: usize,
    /// Local recordings of those calls.
    pub recordings: usize,
    /// Their files, relative to `recording.dir`: the caller removes them once
    /// the transaction has committed.
    #[serde(skip)]
    pub files: Vec<String>,
}

impl Erased {
    /// One line for the audit log: the counts, nothing else.
    pub fn summary(&self) -> String {
        format!(
            "calls {}, transcript lines {}, tool calls {}, caller messages {}, customers {}, \
             bookings {}, text messages {}, notifications {}, recordings {}",
            self.calls,
            self.transcript_lines,
            self.tool_calls,
            self.caller_messages,
            self.customers,
            self.bookings,
            self.text_messages,
            self.notifications,
            self.recordings
        )
    }
}

/// Erases caller `phone` (E.164) of `tenant_id`, all or nothing; see the
/// module's table. Erasing a number nothing holds answers all zeros.
///
/// Errors: [`StoreError::Query`] (the transaction is rolled back).
pub fn erase_caller(
    conn: &mut DbConnection,
    tenant_id: &str,
    phone: &str,
) -> Result<Erased, StoreError> {
    let like = format!("%{}%", escape_like(phone));
    conn.transaction(|conn| {
        let mut erased = Erased::default();
        let call_ids: Vec<String> = calls::table
            .filter(calls::tenant_id.eq(tenant_id))
            .filter(calls::from_number.eq(phone).or(calls::to_number.eq(phone)))
            .select(calls::id)
            .load(conn)?;

        erased.transcript_lines += diesel::delete(
            transcript_entries::table.filter(transcript_entries::call_id.eq_any(&call_ids)),
        )
        .execute(conn)?;
        erased.tool_calls = diesel::delete(
            tool_invocations::table.filter(
                tool_invocations::call_id
                    .eq_any(&call_ids)
                    .or(tool_invocations::tenant_id.eq(tenant_id).and(
                        tool_invocations::arguments
                            .like(&like)
                            .escape('\\')
                            .or(tool_invocations::result.like(&like).escape('\\')),
                    )),
            ),
        )
        .execute(conn)?;
        erased.caller_messages = diesel::delete(
            caller_messages::table
                .filter(caller_messages::tenant_id.eq(tenant_id))
                .filter(
                    caller_messages::caller_phone
                        .eq(phone)
                        .or(caller_messages::call_id.eq_any(&call_ids)),
                ),
        )
        .execute(conn)?;
        erased.notifications = diesel::update(
            notifications::table
                .filter(notifications::tenant_id.eq(tenant_id))
                .filter(
                    notifications::call_id
                        .eq_any(&call_ids)
                        .or(notifications::body.like(&like).escape('\\'))
                        .or(notifications::subject.like(&like).escape('\\')),
                ),
        )
        .set((
            notifications::subject.eq(ERASED),
            notifications::body.eq(ERASED),
        ))
        .execute(conn)?;
        erased.notifications += diesel::delete(
            outbox::table
                .filter(outbox::tenant_id.eq(tenant_id))
                .filter(outbox::payload.like(&like).escape('\\')),
        )
        .execute(conn)?;

        let customer_ids: Vec<String> = customers::table
            .filter(customers::tenant_id.eq(tenant_id))
            .filter(customers::phone.eq(phone))
            .select(customers::id)
            .load(conn)?;
        erased.text_messages = diesel::delete(
            messages::table
                .filter(messages::tenant_id.eq(tenant_id))
                .filter(
                    messages::from_addr
                        .eq(phone)
                        .or(messages::to_addr.eq(phone))
                        .or(messages::customer_id.eq_any(&customer_ids)),
                ),
        )
        .execute(conn)?;
        erased.bookings = diesel::update(
            appointments::table
                .filter(appointments::tenant_id.eq(tenant_id))
                .filter(appointments::customer_id.eq_any(&customer_ids)),
        )
        .set(appointments::call_id.eq(None::<String>))
        .execute(conn)?;
        let booked: Vec<String> = appointments::table
            .filter(appointments::customer_id.eq_any(&customer_ids))
            .select(appointments::customer_id)
            .distinct()
            .load(conn)?;
        let (kept, gone): (Vec<String>, Vec<String>) =
            customer_ids.into_iter().partition(|id| booked.contains(id));
        erased.customers =
            diesel::delete(customers::table.filter(customers::id.eq_any(&gone))).execute(conn)?;
        erased.customers += diesel::update(customers::table.filter(customers::id.eq_any(&kept)))
            .set((
                customers::name.eq(None::<String>),
                customers::phone.eq(None::<String>),
                customers::email.eq(None::<String>),
            ))
            .execute(conn)?;

        erased.files = calls::table
            .filter(calls::id.eq_any(&call_ids))
            .select(calls::recording_file)
            .load::<Option<String>>(conn)?
            .into_iter()
            .flatten()
            .collect();
        erased.recordings = erased.files.len();
        erased.calls = diesel::update(calls::table.filter(calls::id.eq_any(&call_ids)))
            .set((
                calls::from_number.eq(None::<String>),
                calls::to_number.eq(None::<String>),
                calls::summary.eq(None::<String>),
                calls::recording_file.eq(None::<String>),
            ))
            .execute(conn)?;
        // The number said or typed on anyone else's call.
        erased.transcript_lines += diesel::update(
            transcript_entries::table
                .filter(transcript_entries::text.like(&like).escape('\\'))
                .filter(
                    transcript_entries::call_id.eq_any(
                        calls::table
                            .filter(calls::tenant_id.eq(tenant_id))
                            .select(calls::id),
                    ),
                ),
        )
        .set(transcript_entries::text.eq(replace(transcript_entries::text, phone, ERASED)))
        .execute(conn)?;
        Ok(erased)
    })
    .and_then(|erased| {
        // The WAL still holds the pages as they were: copy them back into
        // the (zero-overwritten) file and empty it.
        if let DbConnection::Sqlite(c) = conn {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(c)?;
        }
        Ok(erased)
    })
}

/// `text` with LIKE's wildcards (`%`, `_`) and the escape (`\`) escaped.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
