//! Routing an incoming call to its tenant, the same way for every carrier edge
//! (Twilio's voice webhook and media stream, jambonz `session:new`): resolve the
//! tenant, check that the way the call arrives can carry it, and on refusal count
//! `calls_refused_total` and log one line. Each edge then answers its carrier in
//! its own words (TwiML, a WebSocket close, a jambonz `say` + `hangup`).

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::model::provider::Provider;
use crate::tenant::{RoutingError, TenantConfig, Tenants};

/// What the carrier says about where a call is headed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteKeys<'a> {
    /// A `tenant` custom parameter (Twilio `<Parameter>`), which wins.
    pub tenant: Option<&'a str>,
    /// The number dialled (E.164).
    pub dialled: Option<&'a str>,
    /// The carrier account id (Twilio `AccountSid`, jambonz `account_sid`).
    pub account_sid: Option<&'a str>,
}

/// Why a call found no tenant to serve it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteRefusal {
    /// No tenant owns the call (`routing.unknown_number = "refuse"`, unknown id).
    #[error(transparent)]
    NoTenant(#[from] RoutingError),
    /// The tenant's provider is reached only through jambonz, and this call came
    /// to switchboard's own model link (Twilio, browser).
    #[error("{0}")]
    NoDirectLink(String),
}

impl RouteRefusal {
    /// The `reason` label of `calls_refused_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            RouteRefusal::NoTenant(_) => "routing",
            RouteRefusal::NoDirectLink(_) => "no_direct_link",
        }
    }
}

/// The tenant for a call `who` (a log label such as `twilio MZ…: call CA…`).
/// `direct_link` is the default provider when switchboard's own model link will
/// carry the call (its tenant must have one); `None` when the carrier runs the
/// model (jambonz).
///
/// Errors: [`RouteRefusal`], already counted and logged.
pub fn route_call(
    tenants: &Tenants,
    metrics: &Metrics,
    who: &str,
    keys: RouteKeys<'_>,
    direct_link: Option<Provider>,
) -> Result<Arc<TenantConfig>, RouteRefusal> {
    let routed = tenants
        .resolve(keys.tenant, keys.dialled, keys.account_sid)
        .map_err(RouteRefusal::from)
        .and_then(|tenant| match direct_link {
            Some(default) => tenant
                .check_direct_link(default)
                .map(|()| tenant)
                .map_err(RouteRefusal::NoDirectLink),
            None => Ok(tenant),
        });
    if let Err(refusal) = &routed {
        log::warn!("{who} refused: {refusal}");
        metrics
            .calls_refused
            .with_label_values(&[refusal.metric_label()])
            .inc();
    }
    routed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RoutingConfig, UnknownNumber};

    fn refused_count(metrics: &Metrics, label: &str) -> u64 {
        metrics.calls_refused.with_label_values(&[label]).get()
    }

    #[test]
    fn refusals_are_counted_by_kind_and_direct_link_is_checked_only_when_asked() {
        let mut ultravox = TenantConfig::example();
        ultravox.id = "ultravox-only".into();
        ultravox.provider = Some(Provider::Ultravox);
        let routing = RoutingConfig {
            unknown_number: UnknownNumber::Refuse,
            ..RoutingConfig::default()
        };
        let tenants = Tenants::new(&[TenantConfig::example(), ultravox], routing);
        let metrics = Metrics::new().unwrap();
        let by_id = |id| RouteKeys {
            tenant: Some(id),
            ..RouteKeys::default()
        };

        let unknown = RouteKeys {
            dialled: Some("+1999"),
            ..RouteKeys::default()
        };
        assert!(matches!(
            route_call(&tenants, &metrics, "t", unknown, Some(Provider::OpenAi)),
            Err(RouteRefusal::NoTenant(RoutingError::UnknownNumber(_)))
        ));
        assert_eq!(refused_count(&metrics, "routing"), 1);

        let direct = route_call(
            &tenants,
            &metrics,
            "t",
            by_id("ultravox-only"),
            Some(Provider::OpenAi),
        );
        assert!(matches!(direct, Err(RouteRefusal::NoDirectLink(_))));
        assert_eq!(refused_count(&metrics, "no_direct_link"), 1);

        // jambonz runs the model itself: the same tenant is routed.
        let via_jambonz = route_call(&tenants, &metrics, "t", by_id("ultravox-only"), None);
        assert_eq!(
            via_jambonz.map(|t| t.id.clone()),
            Ok("ultravox-only".into())
        );
        assert_eq!(refused_count(&metrics, "routing"), 1);
        assert_eq!(refused_count(&metrics, "no_direct_link"), 1);
    }
}
