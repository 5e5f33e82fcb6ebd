//! The outbound HTTP client every REST, chat and CalDAV request is sent with:
//! one per thread, TLS context and timeout. A leaf module any layer may use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

/// Which client a thread may reuse: the TLS context's address (none: the
/// default) and the timeout in ms.
type ClientKey = (usize, u128);

thread_local! {
    /// This thread's clients (awc clients cannot change threads). Building
    /// one loads the system's CA certificates (~40 ms); a kept client also
    /// keeps its idle connections for the next request to the same host.
    static CLIENTS: RefCell<HashMap<ClientKey, awc::Client>> = RefCell::new(HashMap::new());
}

/// An HTTP client whose connect and request timeouts are `timeout`, speaking
/// TLS through `tls` for `https://` URLs (none: the system's CA roots). Built
/// once per thread, TLS context and timeout, then shared: the connectors are
/// made at start-up and live as long as the process, and the kept client
/// holds its context, so an address names one context for good.
pub fn shared(tls: Option<&openssl::ssl::SslConnector>, timeout: Duration) -> awc::Client {
    let key = (
        tls.map_or(0, |t| std::ptr::from_ref(t.context()) as usize),
        timeout.as_millis(),
    );
    CLIENTS.with(|clients| {
        clients
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let mut connector = awc::Connector::new()
                    .timeout(timeout)
                    .conn_keep_alive(Duration::ZERO);
                if let Some(tls) = tls {
                    connector = connector.openssl(tls.clone());
                }
                awc::Client::builder()
                    .connector(connector)
                    .timeout(timeout)
                    .finish()
            })
            .clone()
    })
}
