//! The start-up exposure audit: which doors of a configured server an outsider
//! could walk through, and whether `switchboard serve` may start with them.
//!
//! A server is *public* when `server.bind` or the host of `server.public_url` is
//! not loopback (`127.0.0.0/8`, `::1`, `localhost`). A public server with any
//! [`Door`] open refuses to start — one line naming each door and the key that
//! closes it — unless `server.insecure_public = true`. On loopback (or with
//! `insecure_public`) the same list is logged as one WARN line. One door is
//! refused on every address: a SendGrid key without `messaging.email_secret`
//! (an open mail relay harms the people it mails, not only us).
//! docs/operations.md "Exposing switchboard" is the operator's checklist of the same doors.

use std::net::{IpAddr, SocketAddr};

use crate::config::Config;
use crate::net::is_loopback;

/// One way in that needs no credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// No `SWITCHBOARD_TWILIO__AUTH_TOKEN`: `/twiml` and every `/twiml/…`
    /// webhook (transfer, voicemail, `/twiml/amd`), `/media-stream` and
    /// `/sms/inbound` (always served) accept unsigned requests.
    TwilioUnsigned,
    /// No `jambonz.username` + `SWITCHBOARD_JAMBONZ__PASSWORD`: anyone may open a
    /// `/jambonz` call and drive its tools.
    JambonzOpen,
    /// `SWITCHBOARD_SENDGRID__API_KEY` without `SWITCHBOARD_MESSAGING__EMAIL_SECRET`:
    /// a forged `/email/inbound` post would be answered by email (a mail relay).
    EmailRelay,
    /// No admin token and no accounts (`serve` generates a token into
    /// `data/admin-token` when unset, so this is open only for a server
    /// started without `serve`).
    NoAdminToken,
    /// Accounts sign in (`POST /api/login`) while `server.public_url` is not
    /// https: passwords and session cookies would cross the network in clear.
    SignInOverHttp,
    /// `cluster.nats_url` names a NATS server off this host, reached without
    /// credentials or without TLS: whoever reaches it reads callers' events
    /// and can fill the cluster's buckets.
    NatsOpen,
}

impl Door {
    /// What is open, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Door::TwilioUnsigned => "Twilio routes accept unsigned requests",
            Door::JambonzOpen => "/jambonz accepts calls without credentials",
            Door::EmailRelay => "/email/inbound would email replies to unauthenticated posts",
            Door::NoAdminToken => "no admin token and no accounts",
            Door::SignInOverHttp => "accounts sign in over plain http",
            Door::NatsOpen => "the cluster's NATS is off this host without credentials and TLS",
        }
    }

    /// The configuration key(s) that close it.
    pub fn fix(self) -> &'static str {
        match self {
            Door::TwilioUnsigned => "SWITCHBOARD_TWILIO__AUTH_TOKEN",
            Door::JambonzOpen => "jambonz.username and SWITCHBOARD_JAMBONZ__PASSWORD",
            Door::EmailRelay => "SWITCHBOARD_MESSAGING__EMAIL_SECRET",
            Door::NoAdminToken => "SWITCHBOARD_SERVER__ADMIN_TOKEN or `switchboard user add`",
            Door::SignInOverHttp => "server.public_url = https://… (TLS here or at a proxy)",
            Door::NatsOpen => {
                "a cluster credential (nats_user, nkey_seed_file, credentials_file or \
                 SWITCHBOARD_CLUSTER__NATS_TOKEN) and cluster.tls_ca_file or require_tls"
            }
        }
    }

    /// Whether start-up refuses this door on every address, loopback included.
    pub fn refused_everywhere(self) -> bool {
        matches!(self, Door::EmailRelay)
    }
}

impl std::fmt::Display for Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (set {})", self.what(), self.fix())
    }
}

/// The refusal: one line naming each open door and the key to set.
#[derive(Debug, thiserror::Error)]
#[error("refusing to start: {0}")]
pub struct Refused(String);

/// What the audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Why the server counts as public (`server.bind 0.0.0.0:8080 is not
    /// loopback`), or `None` on loopback.
    pub public: Option<String>,
    /// The open doors, in [`Door`] order.
    pub doors: Vec<Door>,
    /// `server.insecure_public`.
    pub insecure_public: bool,
}

fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

/// Why `config` is reachable from outside this host, if it is.
fn public_reason(config: &Config) -> Option<String> {
    if let Ok(bind) = config.server.bind.parse::<SocketAddr>() {
        if !is_loopback(bind.ip()) {
            return Some(format!(
                "server.bind {} is not loopback",
                config.server.bind
            ));
        }
    }
    let url = url::Url::parse(&config.server.public_url).ok()?;
    let loopback = match url.host()? {
        url::Host::Domain(d) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        url::Host::Ipv4(v4) => v4.is_loopback(),
        url::Host::Ipv6(v6) => is_loopback(IpAddr::V6(v6)),
    };
    (!loopback).then(|| {
        format!(
            "server.public_url {} is not loopback",
            config.server.public_url
        )
    })
}

/// Whether any server of `cluster.nats_url` (a comma-separated list) is not
/// loopback. An unparsable one counts as off this host.
fn nats_off_host(config: &Config) -> bool {
    if !config.cluster.enabled() {
        return false;
    }
    config.cluster.nats_url.split(',').any(|one| {
        let one = one.trim();
        let with_scheme = if one.contains("://") {
            one.to_string()
        } else {
            format!("nats://{one}")
        };
        match url::Url::parse(&with_scheme)
            .ok()
            .and_then(|u| u.host().map(|h| h.to_owned()))
        {
            // `nats://` is not a special scheme: its IP hosts come as text.
            Some(url::Host::Domain(d)) => match d.trim_matches(['[', ']']).parse::<IpAddr>() {
                Ok(ip) => !is_loopback(ip),
                Err(_) => !d.eq_ignore_ascii_case("localhost"),
            },
            Some(url::Host::Ipv4(v4)) => !v4.is_loopback(),
            Some(url::Host::Ipv6(v6)) => !is_loopback(IpAddr::V6(v6)),
            None => true,
        }
    })
}

/// Whether [`audit`]'s verdict can depend on the number of accounts: a
/// public server, or one without an admin token. `serve` reads the `users`
/// table only then (a loopback server with a token starts without touching
/// the database before its migrations).
pub fn counts_accounts(config: &Config) -> bool {
    public_reason(config).is_some() || !is_set(&config.server.admin_token)
}

/// Audits `config` as it will be served (after `serve` has filled in a generated
/// admin token), with `accounts` people able to sign in (`users` rows).
pub fn audit(config: &Config, accounts: i64) -> Audit {
    let mut doors = Vec::new();
    if !is_set(&config.twilio.auth_token) {
        doors.push(Door::TwilioUnsigned);
    }
    // With a provider key and no credentials `/jambonz` refuses every
    // request (it would hand out the key): closed, not open.
    if config.jambonz_credentials().is_none() && !config.has_provider_key() {
        doors.push(Door::JambonzOpen);
    }
    if is_set(&config.sendgrid.api_key) && !is_set(&config.messaging.email_secret) {
        doors.push(Door::EmailRelay);
    }
    if !is_set(&config.server.admin_token) && accounts == 0 {
        doors.push(Door::NoAdminToken);
    }
    if accounts > 0 && !config.server.public_url.starts_with("https://") {
        doors.push(Door::SignInOverHttp);
    }
    if nats_off_host(config) && !(config.cluster.has_credentials() && config.cluster.uses_tls()) {
        doors.push(Door::NatsOpen);
    }
    Audit {
        public: public_reason(config),
        doors,
        insecure_public: config.server.insecure_public,
    }
}

fn list(doors: &[Door]) -> String {
    doors
        .iter()
        .map(Door::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Audit {
    /// The verdict: `Err` with the refusal line when the server must not start;
    /// otherwise the WARN line to log (`None` when no door is open).
    pub fn verdict(&self) -> Result<Option<String>, Refused> {
        if self.doors.is_empty() {
            return Ok(None);
        }
        match &self.public {
            Some(reason) if !self.insecure_public => Err(Refused(format!(
                "{reason} and {} door(s) are open: {}; or set server.insecure_public = true to \
                 start anyway",
                self.doors.len(),
                list(&self.doors)
            ))),
            _ => {
                let everywhere: Vec<Door> = self
                    .doors
                    .iter()
                    .copied()
                    .filter(|d| d.refused_everywhere())
                    .collect();
                if !everywhere.is_empty() {
                    return Err(Refused(format!(
                        "{} (required on every address)",
                        list(&everywhere)
                    )));
                }
                Ok(Some(match &self.public {
                    Some(reason) => format!(
                        "server.insecure_public = true: {reason}, serving with {} open door(s): {}",
                        self.doors.len(),
                        list(&self.doors)
                    ),
                    None => format!(
                        "{} open door(s), fine on loopback but refused on a public address: {}",
                        self.doors.len(),
                        list(&self.doors)
                    ),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback config with every door closed.
    fn locked() -> Config {
        let mut c = Config::default();
        c.server.bind = "127.0.0.1:8080".into();
        c.server.admin_token = Some("admin".into());
        c.twilio.auth_token = Some("tw".into());
        c.jambonz.username = "jambonz".into();
        c.jambonz.password = Some("pw".into());
        c
    }

    #[test]
    fn locked_config_is_clear_on_a_public_address() {
        let mut c = locked();
        c.server.bind = "0.0.0.0:8080".into();
        c.sendgrid.api_key = Some("SG.x".into());
        c.messaging.email_secret = Some("s".into());
        let audit = audit(&c, 0);
        assert!(audit.public.is_some());
        assert_eq!(audit.verdict().unwrap(), None);
    }

    #[test]
    fn each_door_is_refused_in_public_and_warned_on_loopback() {
        type Open = fn(&mut Config);
        let cases: [(Door, Open); 5] = [
            (Door::TwilioUnsigned, |c| c.twilio.auth_token = None),
            (Door::JambonzOpen, |c| {
                c.jambonz.password = Some(String::new())
            }),
            (Door::EmailRelay, |c| {
                c.sendgrid.api_key = Some("SG.x".into())
            }),
            (Door::NoAdminToken, |c| c.server.admin_token = None),
            (Door::NatsOpen, |c| {
                c.cluster.nats_url = "nats://10.0.0.5:4222".into()
            }),
        ];
        for (door, open) in cases {
            let mut c = locked();
            open(&mut c);
            c.server.public_url = "https://voice.example.com".into();
            let refused = audit(&c, 0).verdict().unwrap_err().to_string();
            assert!(refused.contains(door.fix()), "{door:?}: {refused}");
            assert!(refused.contains("server.public_url"), "{refused}");
            assert!(!refused.contains('\n'));
            c.server.public_url = "http://localhost:8080".into();
            let loopback = audit(&c, 0);
            assert_eq!(loopback.public, None);
            if door.refused_everywhere() {
                assert!(loopback.verdict().is_err(), "{door:?} on loopback");
            } else {
                let warn = loopback.verdict().unwrap().expect("warn line");
                assert!(warn.contains(door.fix()), "{warn}");
            }
        }
    }

    #[test]
    fn accounts_close_the_admin_door_but_need_https_in_public() {
        let mut c = locked();
        c.server.admin_token = None;
        c.server.bind = "0.0.0.0:8080".into();
        c.server.public_url = "https://voice.example.com".into();
        assert!(audit(&c, 0).verdict().is_err(), "no token, no accounts");
        assert_eq!(audit(&c, 2).verdict().unwrap(), None);
        c.server.public_url = "http://voice.example.com".into();
        let refused = audit(&c, 2).verdict().unwrap_err().to_string();
        assert!(refused.contains(Door::SignInOverHttp.fix()), "{refused}");
        c.server.bind = "127.0.0.1:8080".into();
        c.server.public_url = String::new();
        let warn = audit(&c, 2).verdict().unwrap().expect("warned on loopback");
        assert!(warn.contains("plain http"), "{warn}");
    }

    #[test]
    fn a_nats_off_this_host_needs_a_credential_and_tls() {
        let mut c = locked();
        c.cluster.nats_url = "nats://127.0.0.1:4222".into();
        assert!(!audit(&c, 0).doors.contains(&Door::NatsOpen));
        c.cluster.nats_url = "nats://nats.internal:4222".into();
        c.cluster.nats_user = "node".into();
        assert!(audit(&c, 0).doors.contains(&Door::NatsOpen), "no TLS");
        c.cluster.tls_ca_file = "/etc/nats/ca.pem".into();
        assert!(!audit(&c, 0).doors.contains(&Door::NatsOpen));
        c.cluster.nats_user = String::new();
        assert!(
            audit(&c, 0).doors.contains(&Door::NatsOpen),
            "no credential"
        );
    }

    #[test]
    fn insecure_public_starts_with_a_warning_but_never_relays_mail() {
        let mut c = locked();
        c.server.bind = "[::]:8080".into();
        c.twilio.auth_token = None;
        c.server.insecure_public = true;
        let warn = audit(&c, 0).verdict().unwrap().expect("warn");
        assert!(warn.contains("server.insecure_public = true"), "{warn}");
        c.sendgrid.api_key = Some("SG.x".into());
        let refused = audit(&c, 0).verdict().unwrap_err().to_string();
        assert!(refused.contains("SWITCHBOARD_MESSAGING__EMAIL_SECRET"));
    }
}
