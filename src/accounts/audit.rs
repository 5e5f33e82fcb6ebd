//! The audit log: one row per change made by a person or token — sign-ins
//! (succeeded and failed), messages marked, transfers, hang-ups, session
//! edits, callbacks placed, recordings, users and tokens added or removed —
//! with who, which tenant, what, when and from which address. Read by
//! `GET /api/audit`. Never holds a password, token or session id.

use chrono::Utc;

use crate::accounts::Principal;
use crate::store::{audit, AuditRow, DbConnection, StoreError};

/// What was done, to which tenant's data and which object.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A dotted name, e.g. `call.hang_up` (see README "Audit log").
    pub action: &'static str,
    pub tenant: Option<String>,
    pub object: Option<String>,
    pub detail: Option<String>,
}

impl Change {
    /// `action` on `object` of `tenant`.
    pub fn new(action: &'static str, tenant: Option<&str>, object: Option<&str>) -> Change {
        Change {
            action,
            tenant: tenant.map(str::to_string),
            object: object.map(str::to_string),
            detail: None,
        }
    }

    /// With `detail` (words for people; never a secret).
    pub fn detail(mut self, detail: impl Into<String>) -> Change {
        self.detail = Some(detail.into());
        self
    }
}

/// Who did it, as the audit log names them.
#[derive(Debug, Clone)]
pub struct Who {
    /// An email, `token <name>`, `admin token`, `command line`.
    pub actor: String,
    /// `user`, `token`, `admin_token`, `cli`, `anonymous`.
    pub kind: &'static str,
    /// The client address (none for the command line).
    pub address: Option<String>,
}

impl Who {
    /// `principal`, from `address`.
    pub fn principal(principal: &Principal, address: Option<String>) -> Who {
        Who {
            actor: principal.name(),
            kind: principal.kind(),
            address,
        }
    }

    /// The operator at the server's command line (`switchboard user …`, `token …`).
    pub fn command_line() -> Who {
        Who {
            actor: "command line".into(),
            kind: "cli",
            address: None,
        }
    }

    /// Someone not (yet) authenticated, naming themselves `claimed` (a failed sign-in).
    pub fn anonymous(claimed: &str, address: Option<String>) -> Who {
        Who {
            actor: claimed.to_string(),
            kind: "anonymous",
            address,
        }
    }
}

/// The row for `change` by `who`, now.
pub fn entry(who: &Who, change: Change) -> AuditRow {
    AuditRow {
        id: uuid::Uuid::new_v4().to_string(),
        at: Utc::now().naive_utc(),
        actor: who.actor.clone(),
        actor_kind: who.kind.to_string(),
        tenant_id: change.tenant,
        action: change.action.to_string(),
        object: change.object,
        detail: change.detail,
        address: who.address.clone(),
    }
}

/// Appends `change` by `who` to the audit log.
pub fn record(conn: &mut DbConnection, who: &Who, change: Change) -> Result<(), StoreError> {
    audit::insert(conn, &entry(who, change))
}
