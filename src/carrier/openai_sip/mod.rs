//! OpenAI SIP (`POST /openai/webhook`): a business points its SIP trunk at
//! OpenAI (`sip:<project id>@sip.api.openai.com;transport=tls`); OpenAI
//! announces each call with a signed webhook, switchboard accepts it with the
//! tenant's session (or rejects it with a SIP status) and steers it over a
//! sideband WebSocket. The audio never reaches switchboard: OpenAI carries it
//! and runs the model; switchboard keeps routing, admission, tools,
//! transcripts, transfers and the dashboard. docs/openai-sip.md.
//!
//! [`webhook`] verifies and reads the webhooks, [`accept`] builds the accept
//! bodies, [`call`] is the per-call actor; [`decide`] routes an announced
//! call. OpenAI may announce one call on both surfaces (GPT-Live and
//! Realtime): the tenant's `api` picks the one acted on.

pub mod accept;
pub mod call;
pub mod webhook;

use crate::call_tree::call::route::{route_call, RouteKeys};
use crate::carrier::env::CarrierEnv;
use crate::model::api::ModelApi;
use crate::model::provider::Provider;
use crate::rest::openai_calls::{OpenAiCalls, Surface};
use call::{SipCallSetup, SIP_NOT_FOUND, SIP_UNAVAILABLE};
use webhook::Incoming;

/// What to do with an announced call.
pub enum Decision {
    /// Ask the Supervisor to admit it.
    Start(Box<SipCallSetup>),
    /// Turn it away with this SIP status (no tenant, or the tenant cannot run).
    Reject {
        controls: OpenAiCalls,
        status: u16,
        why: String,
    },
    /// Not for this surface (the tenant answers on the other one), or nothing
    /// can be done (no OpenAI key to answer with): answered 200, nothing sent.
    Ignore(String),
}

/// Routes `incoming` (by the SIP `To`, the caller from `From`) to its tenant
/// and decides, as for any call: the tenant must speak OpenAI, on the surface
/// the webhook came for.
pub fn decide(env: &CarrierEnv, incoming: &Incoming) -> Decision {
    let config = &env.config;
    let Some(key) = config.model_key(Provider::OpenAi).filter(|k| !k.is_empty()) else {
        return Decision::Ignore("no OpenAI API key (OPENAI_API_KEY) to answer with".into());
    };
    let controls = OpenAiCalls::new(&config.openai.api_base, key, env.tls.clone());
    let to = incoming.to_number();
    let from = incoming.from_number();
    let who = format!(
        "openai-sip {} ({})",
        incoming.id,
        incoming.sip_call_id().unwrap_or("no Call-ID")
    );
    let tenant = match route_call(
        &env.tenants,
        &env.metrics,
        &who,
        RouteKeys {
            tenant: None,
            dialled: to.as_deref(),
            account_sid: None,
        },
        None,
    ) {
        Ok(tenant) => tenant,
        Err(e) => {
            return Decision::Reject {
                controls,
                status: SIP_NOT_FOUND,
                why: e.to_string(),
            }
        }
    };
    let wanted = match config.api_for(&tenant) {
        ModelApi::Live => Surface::Live,
        ModelApi::Realtime => Surface::Realtime,
    };
    if wanted != incoming.surface {
        return Decision::Ignore(format!(
            "tenant {} answers on {}, not {}",
            tenant.id,
            wanted.as_str(),
            incoming.surface.as_str()
        ));
    }
    let provider = tenant.provider.unwrap_or(config.model.provider);
    if provider != Provider::OpenAi {
        return Decision::Reject {
            controls,
            status: SIP_UNAVAILABLE,
            why: format!(
                "tenant {} runs on {}, not OpenAI",
                tenant.id,
                provider.as_str()
            ),
        };
    }
    if env.is_draining() {
        return Decision::Reject {
            controls,
            status: SIP_UNAVAILABLE,
            why: "the server is shutting down".into(),
        };
    }
    Decision::Start(Box::new(SipCallSetup {
        call_id: uuid::Uuid::new_v4().to_string(),
        surface: incoming.surface,
        openai_id: incoming.id.clone(),
        from,
        to,
        tenant,
        controls,
    }))
}
