//! Operator edits to the model session: voice, instructions and turn-detection
//! eagerness. [`SessionOverrides`] holds per-tenant settings for calls that start
//! later (`PUT /api/tenants/{id}/session`, in memory, lost on restart);
//! [`ApplySessionSettings`] pushes settings to one live call
//! (`POST /api/calls/{id}/session`), which sends the model a `session.update`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::session::Eagerness;
use crate::tenant::TenantConfig;

/// Longest instructions text accepted from the admin API, characters.
pub const MAX_INSTRUCTIONS_CHARS: usize = 16_000;

/// Settings an operator may change; `None` keeps the configured value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Voice name (`marin`, `cedar`, `eve`, …).
    #[serde(default)]
    pub voice: Option<String>,
    /// Replaces the tenant's extra `instructions` (the identity, company brief and
    /// business-hours parts are still generated).
    #[serde(default)]
    pub instructions: Option<String>,
    /// Semantic turn detection eagerness (`low`, `medium`, `high`, `auto`; OpenAI only).
    #[serde(default)]
    pub eagerness: Option<Eagerness>,
}

/// Why settings were refused (HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error("voice must not be empty")]
    EmptyVoice,
    #[error("instructions longer than {MAX_INSTRUCTIONS_CHARS} characters")]
    InstructionsTooLong,
}

impl SessionSettings {
    /// Checks the values; the error says which one is wrong.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.voice.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(SettingsError::EmptyVoice);
        }
        if self
            .instructions
            .as_deref()
            .is_some_and(|i| i.chars().count() > MAX_INSTRUCTIONS_CHARS)
        {
            return Err(SettingsError::InstructionsTooLong);
        }
        Ok(())
    }

    /// Takes every value `other` sets.
    pub fn merge(&mut self, other: &SessionSettings) {
        if other.voice.is_some() {
            self.voice = other.voice.clone();
        }
        if other.instructions.is_some() {
            self.instructions = other.instructions.clone();
        }
        if other.eagerness.is_some() {
            self.eagerness = other.eagerness;
        }
    }

    /// The tenant as a call should see it: voice and instructions replaced where set.
    pub fn apply(&self, tenant: &Arc<TenantConfig>) -> Arc<TenantConfig> {
        if self.voice.is_none() && self.instructions.is_none() {
            return tenant.clone();
        }
        let mut edited = tenant.as_ref().clone();
        if let Some(voice) = &self.voice {
            edited.voice = Some(voice.clone());
        }
        if let Some(instructions) = &self.instructions {
            edited.instructions = instructions.clone();
        }
        Arc::new(edited)
    }
}

/// Per-tenant settings for new calls, with the edit count each came from
/// (`tenants.session_version`). Read once per call start (never on the audio
/// path).
#[derive(Debug, Default)]
pub struct SessionOverrides {
    by_tenant: RwLock<HashMap<String, (SessionSettings, i64)>>,
}

impl SessionOverrides {
    /// The settings for `tenant_id` (empty when none were set).
    pub fn get(&self, tenant_id: &str) -> SessionSettings {
        self.by_tenant
            .read()
            .map(|m| m.get(tenant_id).map(|(s, _)| s.clone()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Holds `settings` (the whole of them, as stored) for `tenant_id` when
    /// `version` is newer than the held one; whether it was.
    pub fn apply(&self, tenant_id: &str, settings: SessionSettings, version: i64) -> bool {
        let Ok(mut map) = self.by_tenant.write() else {
            return false;
        };
        match map.get(tenant_id) {
            Some((_, held)) if *held >= version => false,
            _ => {
                map.insert(tenant_id.to_string(), (settings, version));
                true
            }
        }
    }
}

/// Changes the session of one live call; the call merges the settings into its own
/// and sends the model a `session.update` (jambonz: an `llm:update` command).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ApplySessionSettings(pub SessionSettings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_settings_apply_newer_edits_only() {
        let overrides = SessionOverrides::default();
        let cedar = SessionSettings {
            voice: Some("cedar".into()),
            instructions: Some("Speak Spanish.".into()),
            eagerness: Some(Eagerness::High),
        };
        assert!(overrides.apply("acme-dental", cedar.clone(), 2));
        // An older edit heard late does not undo a newer one.
        let marin = SessionSettings {
            voice: Some("marin".into()),
            ..Default::default()
        };
        assert!(!overrides.apply("acme-dental", marin.clone(), 1));
        assert!(!overrides.apply("acme-dental", marin, 2));
        let held = overrides.get("acme-dental");
        assert_eq!(held, cedar);
        let tenant = Arc::new(TenantConfig::example());
        let edited = held.apply(&tenant);
        assert_eq!(edited.voice.as_deref(), Some("cedar"));
        assert_eq!(edited.instructions, "Speak Spanish.");
        assert_eq!(overrides.get("other"), SessionSettings::default());
    }

    #[test]
    fn empty_voice_is_refused() {
        let s = SessionSettings {
            voice: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(s.validate(), Err(SettingsError::EmptyVoice));
    }
}
