//! Who may do what: the people who sign in (owner and staff of one tenant,
//! admins of the whole server), integration tokens of one tenant, and the
//! admin token, each seen by a request as a [`Principal`] with a [`Scope`]
//! (which tenants' data it sees) and a [`Role`] (which [`Access`] levels it
//! passes). Passwords are Argon2id ([`password`]); session cookies and tokens
//! are random and kept only as SHA-256 hashes ([`secret`]); every change a
//! principal makes is written to the audit log ([`audit`]).

pub mod audit;
pub mod password;
pub mod principal;
pub mod secret;
pub mod tokens;
pub mod users;

pub use principal::{Access, Actor, Principal, Role, Scope, TenantFilter};
