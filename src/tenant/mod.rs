//! Tenants: the businesses a receptionist answers for. Declared in `config.toml`
//! (`[[tenants]]`), upserted into the `tenants` table at start-up, and resolved per
//! call by the dialled number, the carrier account id, or a `tenant` custom parameter.
//! A tenant's owner-notification settings ([`owner_notify`]) and how its local
//! time reads ([`local_time()`]) live here too, so `notify` builds on `tenant`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::model::provider::Provider;

pub mod calendar;
pub mod keypad;
pub mod local_time;
pub mod owner_notify;
pub mod recording;
pub mod redaction;

pub use local_time::local_time;
pub use owner_notify::{OwnerEventKind, OwnerNotify};

/// `[routing]`: what happens to a call for a number no tenant owns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// `default` (route to `default_tenant`) or `refuse`.
    pub unknown_number: UnknownNumber,
    /// Tenant id used for unknown numbers; empty = the first tenant.
    pub default_tenant: String,
}

/// Policy for calls to numbers that belong to no tenant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UnknownNumber {
    /// Route to `routing.default_tenant` (or the first tenant).
    Default,
    /// Refuse the call.
    Refuse,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            unknown_number: UnknownNumber::Default,
            default_tenant: String::new(),
        }
    }
}

/// One business, as declared in `[[tenants]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Stable id used in URLs, custom parameters and rows (`acme-dental`).
    pub id: String,
    /// Display name, said by the receptionist.
    pub name: String,
    /// E.164 numbers that ring this tenant (`+15550100000`).
    #[serde(default)]
    pub phone_numbers: Vec<String>,
    /// Carrier account ids (Twilio `AC…`, jambonz account_sid) owned by this tenant.
    #[serde(default)]
    pub account_sids: Vec<String>,
    /// IANA time zone of the business (`America/New_York`).
    #[serde(default = "default_tz")]
    pub time_zone: String,
    /// Opening hours per weekday (`mon` … `sun` → `"09:00-17:00"`); a missing day is closed.
    /// An empty table means always open.
    #[serde(default)]
    pub business_hours: BTreeMap<String, String>,
    /// What the business does, quoted to the model in a `<company_brief>` block.
    #[serde(default)]
    pub company_brief: String,
    /// Extra instructions for the receptionist.
    #[serde(default)]
    pub instructions: String,
    /// Instructions used while the business is closed.
    #[serde(default = "default_after_hours")]
    pub after_hours_instructions: String,
    /// Voice override (else `model.voice`).
    #[serde(default)]
    pub voice: Option<String>,
    /// Provider override (else `model.provider`).
    #[serde(default)]
    pub provider: Option<Provider>,
    /// Voice API override (else `model.api`): `realtime` or `live` (GPT-Live,
    /// OpenAI only).
    #[serde(default)]
    pub api: Option<crate::model::api::ModelApi>,
    /// On-call numbers for transfers, in order of preference.
    #[serde(default)]
    pub transfer_numbers: Vec<String>,
    /// Tools the model may call; empty = every tool (built-in and MCP).
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// Bookable services and their slot length in minutes (`cleaning = 60`); keys
    /// are what `checkAvailability`/`createBooking` accept as `service`.
    #[serde(default)]
    pub services: BTreeMap<String, u32>,
    /// Local dates (`YYYY-MM-DD`) the business is closed all day (holidays).
    #[serde(default)]
    pub closures: Vec<NaiveDate>,
    /// Owner notifications (`[tenants.notify]`): recipients, events, quiet hours.
    #[serde(default)]
    pub notify: OwnerNotify,
    /// Keys the caller may press and what each does at once, without asking
    /// the model (`[tenants.keypad]`: `"0" = "transfer"`, `"9" = "message"`).
    /// Keys not listed are told to the model as caller events.
    #[serde(default)]
    pub keypad: BTreeMap<keypad::KeypadKey, keypad::KeypadAction>,
    /// What the receptionist says to an answering machine on an outbound call
    /// before hanging up; `{business}` and `{number}` (the tenant's first
    /// phone number) are filled in. `None`: [`DEFAULT_VOICEMAIL_SCRIPT`].
    #[serde(default)]
    pub voicemail_script: Option<String>,
    /// The business's own CalDAV calendar (`[tenants.calendar]`): availability
    /// is read from it and bookings are written to it. `None`: bookings live in
    /// switchboard's `appointments` table only.
    #[serde(default)]
    pub calendar: Option<calendar::CalendarConfig>,
    /// Numbers replaced by a placeholder in everything stored for this
    /// tenant (`redact = ["card_number", "us_ssn"]`); the live call is not
    /// changed. Empty: nothing is redacted.
    #[serde(default)]
    pub redact: Vec<redaction::Redaction>,
    /// Days a call's transcript, tool arguments, message bodies and voicemail
    /// audio are kept (by each one's own time); `None`: kept for ever. The
    /// hourly purge removes what is older (docs/operations.md#retention).
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Days a call's summary is kept; `None`: as long as the call row.
    #[serde(default)]
    pub retention_days_summary: Option<u32>,
    /// Local call recording (`[tenants.recording]`): off by default.
    #[serde(default)]
    pub recording: recording::RecordingPolicy,
}

/// Longest `retention_days` (and `_summary`): a hundred years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Longest `voicemail_script`, characters: the `<Say>` document must stay
/// under Twilio's ~4000-character limit for an inline `Twiml` update.
pub const MAX_VOICEMAIL_SCRIPT_CHARS: usize = 1000;

/// The voicemail left on an outbound call's answering machine when the tenant
/// sets no `voicemail_script`.
pub const DEFAULT_VOICEMAIL_SCRIPT: &str = "Hello, this is the receptionist at {business}. \
     We're returning your call; please call us back at {number}. Goodbye.";

fn default_tz() -> String {
    "UTC".into()
}

fn default_after_hours() -> String {
    "The office is closed now. Take a message or offer a callback during business hours; \
     transfer only if the caller says it is urgent."
        .into()
}

impl TenantConfig {
    /// The tenant shipped in the default config, so a fresh `serve` answers calls.
    pub fn example() -> Self {
        TenantConfig {
            id: "acme-dental".into(),
            name: "Acme Dental".into(),
            phone_numbers: vec!["+15550100000".into()],
            account_sids: Vec::new(),
            time_zone: "America/New_York".into(),
            business_hours: BTreeMap::new(),
            company_brief: "Acme Dental is a family dental practice offering cleanings, \
                            fillings and check-ups."
                .into(),
            instructions: "Keep replies short and friendly.".into(),
            after_hours_instructions: default_after_hours(),
            voice: None,
            provider: None,
            api: None,
            transfer_numbers: Vec::new(),
            allowed_tools: Vec::new(),
            services: [("cleaning", 60), ("checkup", 30), ("filling", 45)]
                .into_iter()
                .map(|(name, minutes)| (name.to_string(), minutes))
                .collect(),
            closures: Vec::new(),
            notify: Default::default(),
            keypad: BTreeMap::new(),
            voicemail_script: None,
            calendar: None,
            redact: Vec::new(),
            retention_days: None,
            retention_days_summary: None,
            recording: recording::RecordingPolicy::default(),
        }
    }

    /// `text` as it is stored for this tenant: its `redact` kinds replaced by
    /// their placeholders ([`redaction::redact`]).
    pub fn redacted<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        redaction::redact(text, &self.redact)
    }

    /// The voicemail to leave on an answering machine: the tenant's
    /// `voicemail_script` (or [`DEFAULT_VOICEMAIL_SCRIPT`]) with `{business}`
    /// as its name and `{number}` as its first phone number (digits spaced
    /// out, so a text-to-speech voice reads them one by one).
    pub fn voicemail_script(&self) -> String {
        let number = self
            .phone_numbers
            .first()
            .map(|n| {
                n.trim_start_matches('+')
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| "this number".into());
        self.voicemail_script
            .as_deref()
            .unwrap_or(DEFAULT_VOICEMAIL_SCRIPT)
            .replace("{business}", &self.name)
            .replace("{number}", &number)
    }

    /// Checks the id, time zone and hours; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "tenant id {:?}: use letters, digits, '-' or '_'",
                self.id
            ));
        }
        if self.time_zone.parse::<Tz>().is_err() {
            return Err(format!(
                "tenant {}: unknown IANA time zone {:?}",
                self.id, self.time_zone
            ));
        }
        for (day, range) in &self.business_hours {
            parse_weekday(day).ok_or_else(|| {
                format!(
                    "tenant {}: business_hours key {day:?} is not mon…sun",
                    self.id
                )
            })?;
            parse_range(range).ok_or_else(|| {
                format!(
                    "tenant {}: business_hours.{day} {range:?} is not HH:MM-HH:MM",
                    self.id
                )
            })?;
        }
        for (service, minutes) in &self.services {
            if *minutes == 0 || *minutes > 24 * 60 {
                return Err(format!(
                    "tenant {}: services.{service} = {minutes}: slot length must be 1–1440 minutes",
                    self.id
                ));
            }
        }
        for number in &self.transfer_numbers {
            let digits = number.strip_prefix('+').unwrap_or("");
            if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "tenant {}: transfer number {number:?} is not E.164 (+15550100002)",
                    self.id
                ));
            }
        }
        self.recording
            .validate()
            .map_err(|e| format!("tenant {}: {e}", self.id))?;
        if let Some(script) = &self.voicemail_script {
            if script.trim().is_empty() || script.chars().count() > MAX_VOICEMAIL_SCRIPT_CHARS {
                return Err(format!(
                    "tenant {}: voicemail_script must be 1–{MAX_VOICEMAIL_SCRIPT_CHARS} characters",
                    self.id
                ));
            }
        }
        for (key, days) in [
            ("retention_days", self.retention_days),
            ("retention_days_summary", self.retention_days_summary),
        ] {
            if days.is_some_and(|d| d > MAX_RETENTION_DAYS) {
                return Err(format!(
                    "tenant {}: {key} must be 0–{MAX_RETENTION_DAYS} days",
                    self.id
                ));
            }
        }
        if let Some(calendar) = &self.calendar {
            calendar
                .validate()
                .map_err(|e| format!("tenant {}: calendar.{e}", self.id))?;
        }
        self.notify.validate(&self.id)
    }

    /// The provider this tenant's calls use: its own, else `default` (`model.provider`).
    pub fn provider_or(&self, default: Provider) -> Provider {
        self.provider.unwrap_or(default)
    }

    /// `Err` with the reason when switchboard's own model link cannot carry this
    /// tenant's calls (Twilio, browser): its provider is reached only through
    /// jambonz (Ultravox).
    pub fn check_direct_link(&self, default: Provider) -> Result<(), String> {
        let provider = self.provider_or(default);
        if provider.has_direct_link() {
            Ok(())
        } else {
            Err(format!(
                "tenant {}: provider {} is reached only through jambonz (its llm verb)",
                self.id,
                provider.as_str()
            ))
        }
    }

    /// Slot length of `service` in minutes, if the tenant offers it.
    pub fn slot_minutes(&self, service: &str) -> Option<u32> {
        self.services.get(service).copied()
    }

    /// Opening and closing time (local) on `date`; `None` when closed all day
    /// (weekday without hours, or a closure). Always-open tenants (no hours
    /// table) are open 00:00–24:00, given as `(00:00, 23:59:59)`.
    pub fn hours_on(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        if self.closures.contains(&date) {
            return None;
        }
        if self.business_hours.is_empty() {
            return Some((NaiveTime::MIN, NaiveTime::from_hms_opt(23, 59, 59)?));
        }
        let weekday = date.weekday();
        self.business_hours
            .iter()
            .find(|(day, _)| parse_weekday(day) == Some(weekday))
            .and_then(|(_, range)| parse_range(range))
    }

    /// The tenant's zone (validated at start-up; UTC if somehow invalid).
    pub fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(Tz::UTC)
    }

    /// Whether the business is open at `now` in its own zone.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz());
        if self.closures.contains(&local.date_naive()) {
            return false;
        }
        if self.business_hours.is_empty() {
            return true;
        }
        let today = local.weekday();
        self.business_hours.iter().any(|(day, range)| {
            parse_weekday(day) == Some(today)
                && parse_range(range)
                    .map(|(open, close)| local.time() >= open && local.time() < close)
                    .unwrap_or(false)
        })
    }

    /// The model's instructions for a call from `caller` at `now`: identity, company
    /// brief in a `<company_brief>` block, caller number, local date/time, and the
    /// after-hours instructions while closed.
    pub fn instructions(&self, caller: Option<&str>, now: DateTime<Utc>) -> String {
        let local = now.with_timezone(&self.tz());
        let mut text = format!(
            "You are the phone receptionist for {}. Speak naturally and briefly. \
             When the call connects, greet the caller with the business name.\n\
             <company_brief>\n{}\n</company_brief>\n\
             The caller's number is {}.\n\
             It is {} ({}) at the business.\n",
            self.name,
            self.company_brief,
            caller.unwrap_or("unknown"),
            local.format("%A %Y-%m-%d %H:%M"),
            self.time_zone,
        );
        if let Some(consent) = self.recording.consent_instruction() {
            text.push_str(&consent);
        }
        if !self.instructions.is_empty() {
            text.push_str(&self.instructions);
            text.push('\n');
        }
        if !self.is_open(now) {
            text.push_str("AFTER HOURS: ");
            text.push_str(&self.after_hours_instructions);
            text.push('\n');
        }
        text
    }
}

fn parse_weekday(day: &str) -> Option<Weekday> {
    match day.to_ascii_lowercase().as_str() {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

fn parse_range(range: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (open, close) = range.split_once('-')?;
    let open = NaiveTime::parse_from_str(open.trim(), "%H:%M").ok()?;
    let close = NaiveTime::parse_from_str(close.trim(), "%H:%M").ok()?;
    (open < close).then_some((open, close))
}

/// Why a call found no tenant.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RoutingError {
    /// No tenant owns the number and the policy is `refuse`.
    #[error("no tenant for number {0:?}")]
    UnknownNumber(String),
    /// A `tenant` custom parameter names no tenant.
    #[error("no tenant with id {0:?}")]
    UnknownTenant(String),
    /// No tenants are configured at all.
    #[error("no tenants configured")]
    NoTenants,
}

/// Resolves calls and messages to tenants. Built once at start-up; lookups are
/// lock-free reads.
#[derive(Debug, Clone)]
pub struct Tenants {
    tenants: Vec<Arc<TenantConfig>>,
    routing: RoutingConfig,
}

impl Tenants {
    /// Indexes the configured tenants under the routing policy.
    pub fn new(tenants: &[TenantConfig], routing: RoutingConfig) -> Self {
        Tenants {
            tenants: tenants.iter().cloned().map(Arc::new).collect(),
            routing,
        }
    }

    /// All tenants, in config order.
    pub fn all(&self) -> &[Arc<TenantConfig>] {
        &self.tenants
    }

    /// A tenant by id.
    pub fn get(&self, id: &str) -> Option<Arc<TenantConfig>> {
        self.tenants.iter().find(|t| t.id == id).cloned()
    }

    /// Routes by, in order: an explicit tenant id (custom parameter), the dialled
    /// number, the carrier account id; then the unknown-number policy.
    pub fn resolve(
        &self,
        tenant_param: Option<&str>,
        dialled: Option<&str>,
        account_sid: Option<&str>,
    ) -> Result<Arc<TenantConfig>, RoutingError> {
        if let Some(id) = tenant_param.filter(|s| !s.is_empty()) {
            return self
                .get(id)
                .ok_or_else(|| RoutingError::UnknownTenant(id.to_string()));
        }
        if let Some(number) = dialled.filter(|s| !s.is_empty()) {
            if let Some(t) = self
                .tenants
                .iter()
                .find(|t| t.phone_numbers.iter().any(|n| n == number))
            {
                return Ok(t.clone());
            }
        }
        if let Some(sid) = account_sid.filter(|s| !s.is_empty()) {
            if let Some(t) = self
                .tenants
                .iter()
                .find(|t| t.account_sids.iter().any(|a| a == sid))
            {
                return Ok(t.clone());
            }
        }
        match self.routing.unknown_number {
            UnknownNumber::Refuse => Err(RoutingError::UnknownNumber(
                dialled.unwrap_or_default().to_string(),
            )),
            UnknownNumber::Default => {
                let fallback = if self.routing.default_tenant.is_empty() {
                    self.tenants.first().cloned()
                } else {
                    self.get(&self.routing.default_tenant)
                };
                fallback.ok_or(RoutingError::NoTenants)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keypad_tables_take_keypad_keys_and_known_actions_only() {
        let parse = |table: &str| {
            toml::from_str::<TenantConfig>(&format!(
                "id = \"t\"\nname = \"T\"\n[keypad]\n{table}\n"
            ))
        };
        let t = parse("\"0\" = \"transfer\"\n\"9\" = \"message\"\n\"#\" = \"message\"").unwrap();
        assert_eq!(
            t.keypad.get(&"0".parse().unwrap()),
            Some(&keypad::KeypadAction::Transfer)
        );
        assert_eq!(t.keypad.len(), 3);
        let bad_key = parse("\"10\" = \"transfer\"").unwrap_err().to_string();
        assert!(
            bad_key.contains("\"10\" is not a keypad key (one of 0-9, * or #)"),
            "{bad_key}"
        );
        let bad_action = parse("\"1\" = \"dance\"").unwrap_err().to_string();
        assert!(
            bad_action.contains("unknown variant `dance`"),
            "{bad_action}"
        );
    }

    #[test]
    fn voicemail_scripts_name_the_business_and_its_number() {
        let mut t = TenantConfig::example();
        assert_eq!(
            t.voicemail_script(),
            "Hello, this is the receptionist at Acme Dental. We're returning your call; \
             please call us back at 1 5 5 5 0 1 0 0 0 0 0. Goodbye."
        );
        t.voicemail_script = Some("{business} called; ring {number}.".into());
        assert_eq!(
            t.voicemail_script(),
            "Acme Dental called; ring 1 5 5 5 0 1 0 0 0 0 0."
        );
        assert!(t.validate().is_ok());
        t.voicemail_script = Some(" ".into());
        assert!(t.validate().unwrap_err().contains("voicemail_script"));
        t.voicemail_script = Some("x".repeat(MAX_VOICEMAIL_SCRIPT_CHARS + 1));
        assert!(t.validate().is_err());
    }

    #[test]
    fn retention_is_bounded_to_a_hundred_years() {
        let mut t = TenantConfig::example();
        t.retention_days = Some(0);
        t.retention_days_summary = Some(MAX_RETENTION_DAYS);
        assert!(t.validate().is_ok());
        t.retention_days_summary = Some(MAX_RETENTION_DAYS + 1);
        assert!(t.validate().unwrap_err().contains("retention_days_summary"));
    }

    fn dental() -> TenantConfig {
        let mut t = TenantConfig::example();
        t.business_hours = [("mon", "09:00-17:00"), ("tue", "09:00-17:00")]
            .into_iter()
            .map(|(d, r)| (d.to_string(), r.to_string()))
            .collect();
        t
    }

    #[test]
    fn open_hours_follow_the_tenant_zone() {
        let t = dental();
        // Monday 2026-11-23 14:00 UTC = 09:00 in New York (EST, UTC-5): just open.
        assert!(t.is_open(Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap()));
        assert!(!t.is_open(Utc.with_ymd_and_hms(2026, 11, 23, 13, 59, 0).unwrap()));
        // Wednesday is not listed: closed all day.
        assert!(!t.is_open(Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 0).unwrap()));
    }

    #[test]
    fn closures_close_the_whole_local_day() {
        let mut t = dental();
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(t.hours_on(monday).is_some());
        t.closures.push(monday);
        assert_eq!(t.hours_on(monday), None);
        assert!(!t.is_open(Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap()));
        let mut always = TenantConfig::example();
        always.closures.push(monday);
        assert!(!always.is_open(Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap()));
        assert!(always.is_open(Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap()));
    }

    #[test]
    fn after_hours_instructions_only_when_closed() {
        let t = dental();
        let open = t.instructions(
            Some("+15550100001"),
            Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap(),
        );
        assert!(open.contains("<company_brief>"));
        assert!(open.contains("+15550100001"));
        assert!(!open.contains("AFTER HOURS"));
        let closed = t.instructions(None, Utc.with_ymd_and_hms(2026, 11, 23, 23, 0, 0).unwrap());
        assert!(closed.contains("AFTER HOURS"));
    }

    #[test]
    fn routing_by_param_number_account_and_policy() {
        let mut other = TenantConfig::example();
        other.id = "bright-plumbing".into();
        other.phone_numbers = vec!["+15550200000".into()];
        other.account_sids = vec!["AC99".into()];
        let mut routing = RoutingConfig::default();
        let tenants = Tenants::new(&[TenantConfig::example(), other.clone()], routing.clone());
        assert_eq!(
            tenants
                .resolve(None, Some("+15550200000"), None)
                .unwrap()
                .id,
            other.id
        );
        assert_eq!(
            tenants.resolve(None, None, Some("AC99")).unwrap().id,
            other.id
        );
        assert_eq!(
            tenants
                .resolve(Some("acme-dental"), Some("+15550200000"), None)
                .unwrap()
                .id,
            "acme-dental"
        );
        assert_eq!(
            tenants.resolve(None, Some("+1999"), None).unwrap().id,
            "acme-dental"
        );
        assert!(matches!(
            tenants.resolve(Some("nope"), None, None),
            Err(RoutingError::UnknownTenant(_))
        ));
        routing.unknown_number = UnknownNumber::Refuse;
        let strict = Tenants::new(&[TenantConfig::example()], routing);
        assert_eq!(
            strict.resolve(None, Some("+1999"), None),
            Err(RoutingError::UnknownNumber("+1999".into()))
        );
    }

    #[test]
    fn invalid_hours_and_zone_are_rejected() {
        let mut t = TenantConfig::example();
        t.time_zone = "Mars/Olympus".into();
        assert!(t.validate().unwrap_err().contains("time zone"));
        let mut t = TenantConfig::example();
        t.business_hours.insert("mon".into(), "17:00-09:00".into());
        assert!(t.validate().is_err());
    }
}
