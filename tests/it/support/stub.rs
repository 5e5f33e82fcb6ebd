//! A local HTTP server standing in for a third-party API (Twilio REST, an
//! OpenAI-compatible chat endpoint): it records every request and answers with a
//! test-supplied responder.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as form pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&self.body).unwrap_or_default()
    }
}

/// An answer: status, content type and body.
pub type RawReply = (u16, &'static str, Vec<u8>);

type Responder = dyn Fn(&Recorded, usize) -> RawReply + Send + Sync;

/// A running stub server.
pub struct HttpStub {
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    handle: actix_web::dev::ServerHandle,
}

struct State {
    requests: Arc<Mutex<Vec<Recorded>>>,
    respond: Box<Responder>,
}

async fn record(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let recorded = Recorded {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: body.to_vec(),
    };
    let n = {
        let mut all = state.requests.lock().unwrap();
        all.push(recorded.clone());
        all.len() - 1
    };
    let (status, content_type, body) = (state.respond)(&recorded, n);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type(content_type)
        .body(body)
}

impl HttpStub {
    /// Starts the stub on `127.0.0.1:0`; `respond(request, index)` gives status and JSON body.
    pub async fn start(
        respond: impl Fn(&Recorded, usize) -> (u16, serde_json::Value) + Send + Sync + 'static,
    ) -> HttpStub {
        HttpStub::start_raw(move |r, n| {
            let (status, json) = respond(r, n);
            (status, "application/json", json.to_string().into_bytes())
        })
        .await
    }

    /// Starts the stub on `127.0.0.1:0`; `respond(request, index)` gives status,
    /// content type and body (a recording's WAV, say).
    pub async fn start_raw(
        respond: impl Fn(&Recorded, usize) -> RawReply + Send + Sync + 'static,
    ) -> HttpStub {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(State {
            requests: requests.clone(),
            respond: Box::new(respond),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("stub binds");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        HttpStub {
            base: format!("http://{addr}"),
            requests,
            handle,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
