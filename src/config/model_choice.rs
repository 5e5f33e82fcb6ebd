//! The voice model each call uses, where `[model]` and `[[tenants]]` meet:
//! the API and endpoint, the API key per provider (with the vendors' own
//! variables as fallback), and the model ids checked against announced
//! shutdowns.

use std::net::SocketAddr;

use crate::model::api::ModelApi;
use crate::model::provider::Provider;
use crate::model::settings::VendorKeys;
use crate::tenant::TenantConfig;

use super::{Config, ConfigError};

impl Config {
    /// The voice API `tenant`'s calls speak: its own `api`, else `model.api`.
    pub fn api_for(&self, tenant: &TenantConfig) -> ModelApi {
        tenant.api.unwrap_or(self.model.api)
    }

    /// The GPT-Live endpoint: `model.live.url`, else `model.url` when
    /// `model.api = "live"`, else OpenAI's (`wss://api.openai.com/v1/live/sessions`).
    pub fn live_url(&self) -> String {
        if !self.model.live.url.is_empty() {
            self.model.live.url.clone()
        } else if self.model.api == ModelApi::Live && !self.model.url.is_empty() {
            self.model.url.clone()
        } else {
            crate::model::api::LIVE_URL.to_string()
        }
    }

    /// Every OpenAI model id this configuration sends, with where it is set:
    /// the Realtime model (configured or default) when any call may use
    /// OpenAI Realtime, the transcription model, and the GPT-Live model when
    /// any call may use GPT-Live.
    pub fn openai_model_ids(&self) -> Vec<(String, &str)> {
        let providers = std::iter::once(self.model.provider)
            .chain(self.tenants.iter().filter_map(|t| t.provider))
            .collect::<Vec<_>>();
        let mut ids = Vec::new();
        if providers.contains(&Provider::OpenAi) {
            let key = if self.model.model.trim().is_empty() {
                "model.model (default)"
            } else {
                "model.model"
            };
            let realtime =
                if self.model.provider == Provider::OpenAi && !self.model.model.trim().is_empty() {
                    self.model.model.as_str()
                } else {
                    Provider::OpenAi.default_model()
                };
            ids.push((key.to_string(), realtime));
            ids.push((
                "model.transcription_model".to_string(),
                self.model.transcription_model.as_str(),
            ));
        }
        let live = std::iter::once(self.model.api)
            .chain(self.tenants.iter().filter_map(|t| t.api))
            .any(|a| a == ModelApi::Live);
        if live {
            ids.push((
                "model.live.model".to_string(),
                self.model.live.model.as_str(),
            ));
        }
        ids
    }

    /// The start-up check of [`Config::openai_model_ids`] against
    /// [`crate::model::retirement::RETIREMENTS`] on `today`: warnings for ids
    /// whose shutdown is ahead.
    ///
    /// # Errors
    /// [`ConfigError::Retired`] for an id already shut down.
    pub fn check_retirements(&self, today: chrono::NaiveDate) -> Result<Vec<String>, ConfigError> {
        crate::model::retirement::check(self.openai_model_ids(), today)
            .map_err(ConfigError::Retired)
    }

    /// Installs the vendor-named keys; `model.api_key` falls back to the one for
    /// `model.provider` when `SWITCHBOARD_MODEL__API_KEY` is unset or empty.
    pub fn take_vendor_keys(&mut self, keys: VendorKeys) {
        if self
            .model
            .api_key
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
        {
            self.model.api_key = keys.get(self.model.provider).map(str::to_string);
        }
        self.model.vendor_keys = keys;
    }

    /// The API key for a model of `provider`: `SWITCHBOARD_MODEL__API_KEY` when
    /// `provider` is `model.provider`, else (or when that is unset) the vendor's
    /// own variable (`OPENAI_API_KEY`, `XAI_API_KEY`, `ULTRAVOX_API_KEY`).
    pub fn model_key(&self, provider: Provider) -> Option<&str> {
        let own = (provider == self.model.provider)
            .then_some(self.model.api_key.as_deref())
            .flatten()
            .filter(|k| !k.trim().is_empty());
        own.or_else(|| self.model.vendor_keys.get(provider))
    }

    /// What to set for `provider`'s key, for start-up reports: the vendor
    /// variable, plus `SWITCHBOARD_MODEL__API_KEY` when `provider` is `model.provider`.
    pub fn model_key_hint(&self, provider: Provider) -> String {
        let env = VendorKeys::env_name(provider);
        if provider == self.model.provider {
            format!("{env} (or SWITCHBOARD_MODEL__API_KEY)")
        } else {
            env.to_string()
        }
    }

    /// Tenants whose provider has no API key, each with its provider and a line
    /// naming the variable to set (start-up report).
    pub fn missing_model_keys(&self) -> Vec<(Provider, String)> {
        self.tenants
            .iter()
            .filter_map(|t| {
                let provider = t.provider.unwrap_or(self.model.provider);
                self.model_key(provider).is_none().then(|| {
                    let line = format!(
                        "tenant {}: provider {} has no API key; set {}",
                        t.id,
                        provider.as_str(),
                        self.model_key_hint(provider)
                    );
                    (provider, line)
                })
            })
            .collect()
    }

    /// Whether any model provider key is configured (`model.api_key` or a
    /// vendor's variable): what an open `/jambonz` would hand out in its
    /// `llm` verb.
    pub fn has_provider_key(&self) -> bool {
        let set = |k: &Option<String>| k.as_deref().is_some_and(|k| !k.is_empty());
        set(&self.model.api_key)
            || set(&self.model.vendor_keys.openai)
            || set(&self.model.vendor_keys.xai)
            || set(&self.model.vendor_keys.ultravox)
    }

    /// The realtime endpoint calls connect to: `model.url`, or the built-in simulator
    /// on our own listener (`ws://127.0.0.1:PORT/sim/v1/realtime`).
    pub fn model_url(&self, local: SocketAddr) -> String {
        if self.model.api == ModelApi::Live {
            // `model.url` is the GPT-Live endpoint then; Realtime tenants go to OpenAI's.
            "wss://api.openai.com/v1/realtime".to_string()
        } else if self.model.url.is_empty() {
            format!("ws://127.0.0.1:{}/sim/v1/realtime", local.port())
        } else {
            self.model.url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_named_keys_back_up_the_model_key_per_provider() {
        let keys = VendorKeys::from_vars(|name| match name {
            "OPENAI_API_KEY" => Some("sk-openai".into()),
            "XAI_API_KEY" => Some("  ".into()),
            "ULTRAVOX_API_KEY" => Some("uv-key".into()),
            _ => None,
        });
        assert_eq!(keys.xai, None, "an empty variable counts as unset");
        assert!(
            !format!("{keys:?}").contains("sk-openai"),
            "Debug hides keys"
        );
        let mut config = Config::default();
        config.take_vendor_keys(keys.clone());
        assert_eq!(config.model.api_key.as_deref(), Some("sk-openai"));
        assert_eq!(config.model_key(Provider::Ultravox), Some("uv-key"));
        assert_eq!(config.model_key(Provider::Xai), None);
        // SWITCHBOARD_MODEL__API_KEY wins for model.provider only.
        let mut config = Config::default();
        config.model.api_key = Some("sk-switchboard".into());
        config.take_vendor_keys(keys);
        assert_eq!(config.model_key(Provider::OpenAi), Some("sk-switchboard"));
        assert_eq!(config.model_key(Provider::Ultravox), Some("uv-key"));
        let mut tenant = TenantConfig::example();
        tenant.provider = Some(Provider::Xai);
        config.tenants = vec![tenant];
        let missing = config.missing_model_keys();
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, Provider::Xai);
        assert!(missing[0].1.contains("acme-dental") && missing[0].1.contains("XAI_API_KEY"));
    }
}
