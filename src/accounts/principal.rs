//! The principal of a request: who it is ([`Actor`]), which tenants' data it
//! sees ([`Scope`]) and which [`Access`] levels its [`Role`] passes.
//!
//! | role | sees | Read | Handle (mark handled, transfer) | Manage (settings, hang-up, callbacks, recording, audit) |
//! | --- | --- | --- | --- | --- |
//! | admin (admin token, admin user) | every tenant | yes | yes | yes |
//! | owner | its tenant | yes | yes | yes |
//! | staff | its tenant | yes | yes | no |
//! | integration token | its tenant | yes | unless read-only | unless read-only |

use serde::{Deserialize, Serialize};

/// What a route asks of its caller. Every route declares one (`http::routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// No principal: carrier webhooks and sockets that prove themselves
    /// otherwise (signatures, per-call grants, single-use tokens), the
    /// dashboard page, health, sign-in.
    Public,
    /// Read the tenant's calls, messages, bookings, notifications, events.
    Read,
    /// The front desk's actions: mark a message handled, transfer a live call.
    Handle,
    /// The owner's: settings and session edits, hang-up, callbacks,
    /// recordings, browser test calls, the audit log.
    Manage,
}

/// A person's role (`users.role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The whole server's operator.
    Admin,
    /// Everything of their tenant.
    Owner,
    /// Read, mark handled, transfer.
    Staff,
}

impl Role {
    /// `admin`, `owner` or `staff`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
            Role::Staff => "staff",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            "staff" => Ok(Role::Staff),
            other => Err(format!("role {other:?}: use owner, staff or admin")),
        }
    }
}

/// Which tenants' data a principal sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every tenant's, and what belongs to none.
    All,
    /// One tenant's (by id).
    Tenant(String),
}

/// The tenant filter of a list, after a principal's [`Scope`] met the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantFilter {
    /// Every tenant (an admin who named none).
    Any,
    /// This tenant only.
    Only(String),
    /// Nothing: the tenant asked for is not in scope (answered as an empty list).
    Nothing,
}

impl TenantFilter {
    /// The tenant to filter by (`None` for [`TenantFilter::Any`]).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            TenantFilter::Only(t) => Some(t),
            _ => None,
        }
    }
}

impl Scope {
    /// Whether data of `tenant` (`None`: of no tenant) is in scope.
    pub fn allows(&self, tenant: Option<&str>) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(own) => tenant == Some(own.as_str()),
        }
    }

    /// The one tenant, for a tenant scope.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t),
        }
    }

    /// A list's filter: the tenant `asked` for, narrowed to this scope.
    pub fn filter(&self, asked: Option<&str>) -> TenantFilter {
        match (self, asked) {
            (Scope::All, None) => TenantFilter::Any,
            (Scope::All, Some(t)) => TenantFilter::Only(t.to_string()),
            (Scope::Tenant(own), None) => TenantFilter::Only(own.clone()),
            (Scope::Tenant(own), Some(t)) if t == own => TenantFilter::Only(own.clone()),
            (Scope::Tenant(_), Some(_)) => TenantFilter::Nothing,
        }
    }
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// Someone holding `server.admin_token` (scripts, `switchboard call`).
    AdminToken,
    /// A signed-in person.
    User { id: String, email: String },
    /// An integration token.
    Token { id: String, name: String },
}

/// A request's authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub actor: Actor,
    pub role: Role,
    pub scope: Scope,
    /// A read-only integration token: [`Access::Read`] only.
    pub read_only: bool,
    /// Authenticated by the session cookie (a browser): its state-changing
    /// requests must come from our own origin.
    pub by_cookie: bool,
}

impl Principal {
    /// The holder of the admin token.
    pub fn admin_token() -> Principal {
        Principal {
            actor: Actor::AdminToken,
            role: Role::Admin,
            scope: Scope::All,
            read_only: false,
            by_cookie: false,
        }
    }

    /// A signed-in user; `None` for a row whose role or tenant does not fit
    /// (an owner without a tenant: refused rather than guessed).
    pub fn user(row: &crate::store::UserRow, by_cookie: bool) -> Option<Principal> {
        let role: Role = row.role.parse().ok()?;
        let scope = match (role, &row.tenant_id) {
            (Role::Admin, None) => Scope::All,
            (Role::Owner | Role::Staff, Some(t)) => Scope::Tenant(t.clone()),
            _ => return None,
        };
        Some(Principal {
            actor: Actor::User {
                id: row.id.clone(),
                email: row.email.clone(),
            },
            role,
            scope,
            read_only: false,
            by_cookie,
        })
    }

    /// An integration token: the owner's reach in its tenant, or reads only.
    pub fn token(row: &crate::store::ApiTokenRow) -> Principal {
        Principal {
            actor: Actor::Token {
                id: row.id.clone(),
                name: row.name.clone(),
            },
            role: Role::Owner,
            scope: Scope::Tenant(row.tenant_id.clone()),
            read_only: row.read_only,
            by_cookie: false,
        }
    }

    /// Whether this principal passes `access`.
    pub fn may(&self, access: Access) -> bool {
        match access {
            Access::Public | Access::Read => true,
            Access::Handle => !self.read_only,
            Access::Manage => !self.read_only && matches!(self.role, Role::Admin | Role::Owner),
        }
    }

    /// The name people read in the audit log and on a handled message: the
    /// email, `token <name>`, or `admin token`.
    pub fn name(&self) -> String {
        match &self.actor {
            Actor::AdminToken => "admin token".into(),
            Actor::User { email, .. } => email.clone(),
            Actor::Token { name, .. } => format!("token {name}"),
        }
    }

    /// `admin_token`, `user` or `token` (`audit_log.actor_kind`).
    pub fn kind(&self) -> &'static str {
        match self.actor {
            Actor::AdminToken => "admin_token",
            Actor::User { .. } => "user",
            Actor::Token { .. } => "token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(role: Role, read_only: bool) -> Principal {
        Principal {
            actor: Actor::AdminToken,
            role,
            scope: Scope::Tenant("acme".into()),
            read_only,
            by_cookie: false,
        }
    }

    #[test]
    fn roles_pass_their_levels_only() {
        let levels = [Access::Public, Access::Read, Access::Handle, Access::Manage];
        let passes = |p: &Principal| levels.iter().filter(|a| p.may(**a)).count();
        assert_eq!(passes(&Principal::admin_token()), 4);
        assert_eq!(passes(&with(Role::Owner, false)), 4);
        assert_eq!(passes(&with(Role::Staff, false)), 3);
        assert_eq!(passes(&with(Role::Owner, true)), 2);
    }

    #[test]
    fn a_tenant_scope_sees_its_tenant_only_and_narrows_lists() {
        let acme = Scope::Tenant("acme".into());
        assert!(acme.allows(Some("acme")));
        assert!(!acme.allows(Some("grok")));
        assert!(!acme.allows(None));
        assert!(Scope::All.allows(None));
        assert_eq!(acme.filter(None), TenantFilter::Only("acme".into()));
        assert_eq!(acme.filter(Some("grok")), TenantFilter::Nothing);
        assert_eq!(Scope::All.filter(None), TenantFilter::Any);
        assert_eq!(
            Scope::All.filter(Some("grok")),
            TenantFilter::Only("grok".into())
        );
    }
}
