//! Owner notifications: what the business owner is told, when, and how it gets
//! there. Tools and the end of a call turn what happened into
//! [`OwnerEvent`]s; [`enqueue`] stores one `notifications` row per recipient in
//! the same transaction as the event's own row (never lost, never stored
//! twice); the [`Notifier`] actor sends them through the Twilio Messages API
//! and SendGrid mail-send with retries, holding non-urgent ones through the
//! tenant's quiet hours ([`OwnerNotify`], `[tenants.notify]`, owned by
//! [`crate::tenant`] and re-exported here for existing paths).

pub mod delivery;
pub mod event;
pub mod voicemail;

pub use crate::tenant::{local_time, OwnerEventKind, OwnerNotify};
pub use delivery::{Attempt, CallEnded, DeliverNow, Notifier};
pub use event::{enqueue, notifications_for, OwnerEvent};
