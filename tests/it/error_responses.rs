//! Error answers are built in one place: `src/http/error.rs` (`ApiError`,
//! issue 28). This reads the library's source, like `architecture.rs`, and
//! fails on any other file that builds a 4xx/5xx response by hand: an
//! `HttpResponse` builder named for an error status (`HttpResponse::NotFound()`),
//! a response built with an error `StatusCode` (`HttpResponse::build(StatusCode::CONFLICT)`),
//! actix-web's error helpers (`ErrorBadRequest(…)`), or an `{"error": …}` body
//! made with `json!` in a file that uses actix-web. Code is read without
//! comment lines and `#[cfg(test)]` modules, with whitespace removed.

use std::collections::BTreeSet;
use std::path::Path;

use actix_web::http::StatusCode;

use crate::architecture::rust_files;

/// The one file that builds error answers.
const THE_ONE_PLACE: &str = "src/http/error.rs";

/// Hand-built error answers that stay, each for its reason: (file, what is
/// built, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "src/http/ops.rs",
        "HttpResponse::ServiceUnavailable(",
        "`/health` answers 503 with its health document while draining: a \
         readiness answer load balancers read the status of, not an error",
    ),
    (
        "src/model/simulator/mod.rs",
        "HttpResponse::Forbidden(",
        "the built-in simulator stands in for a voice-model provider: its \
         handshake refusals are a provider's plain-text answers, not \
         switchboard's API (and `model` sits below `http`)",
    ),
    (
        "src/loadtest/sip.rs",
        "HttpResponse::NotFound(",
        "the SIP load generator stands in for OpenAI: a sideband attach to a \
         call that has ended is answered 404 as OpenAI answers it, not by \
         switchboard's API",
    ),
    (
        "src/model/simulator/mod.rs",
        "HttpResponse::ServiceUnavailable(",
        "the built-in simulator refusing connections on purpose (tests of a \
         provider outage), as a provider would: plain text, not switchboard's API",
    ),
];

/// `Bad Request` → `badrequest`: names compared without case or separators.
fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every 4xx/5xx status, squashed, as code names it: the `StatusCode`
/// constant (`BAD_REQUEST`), the `HttpResponse` builder and the actix-web
/// helper (`BadRequest`, `ErrorBadRequest`).
fn error_status_names() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = (400..600)
        .filter_map(|n| StatusCode::from_u16(n).ok())
        .filter_map(|s| s.canonical_reason())
        .map(squash)
        .collect();
    // actix-web's builder for 505 leaves out the "HTTP".
    names.insert("versionnotsupported".into());
    names
}

/// The code of a file: without its test module, comment lines and whitespace.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The identifier starting at `at` in `code`.
fn ident_at(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Calls that build or set a response's status from the `StatusCode` that
/// follows them (as opposed to comparing one).
const STATUS_SETTERS: &[&str] = &[
    "build(",
    "new(",
    "status(",
    "with_status(",
    "with_body(",
    "status_mut()=",
];

/// The error answers `text` (a source file) builds by hand, as the code
/// that builds each (`HttpResponse::NotFound(`).
fn hand_built_errors(text: &str) -> Vec<String> {
    let names = error_status_names();
    let code = code_of(text);
    let mut found = Vec::new();
    // `HttpResponse::NotFound()` and other builders named for an error status.
    for (at, prefix) in code.match_indices("HttpResponse::") {
        let name = ident_at(&code, at + prefix.len());
        let call = at + prefix.len() + name.len();
        if code[call..].starts_with('(') && names.contains(&squash(name)) {
            found.push(format!("HttpResponse::{name}("));
        }
    }
    // `HttpResponse::build(StatusCode::CONFLICT)`, `.status(StatusCode::…)`, …
    for (at, prefix) in code.match_indices("StatusCode::") {
        let name = ident_at(&code, at + prefix.len());
        let setter = STATUS_SETTERS.iter().any(|s| code[..at].ends_with(s));
        if setter && names.contains(&squash(name)) {
            found.push(format!("StatusCode::{name}"));
        }
    }
    // actix-web's helpers: `ErrorBadRequest(…)`, `error::ErrorNotFound(…)`.
    for (at, prefix) in code.match_indices("Error") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name = ident_at(&code, at + prefix.len());
        let call = at + prefix.len() + name.len();
        if !name.is_empty() && code[call..].starts_with('(') && names.contains(&squash(name)) {
            found.push(format!("Error{name}("));
        }
    }
    // An `{"error": …}` body by hand, in a file that answers HTTP.
    if code.contains("actix_web") {
        for _ in code.match_indices("json!({\"error\"") {
            found.push("json!({\"error\"".to_string());
        }
    }
    found
}

#[test]
fn the_checker_finds_hand_built_errors_and_only_those() {
    let planted = r#"
        use actix_web::{error, http::StatusCode, HttpResponse};
        /// `HttpResponse::NotFound()` in a doc comment is no answer.
        pub async fn handler(ok: bool) -> HttpResponse {
            if ok {
                return HttpResponse::Ok().json(serde_json::json!({"stored": true}));
            }
            if matches!(StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN) {
                return HttpResponse::build(StatusCode::ACCEPTED).finish();
            }
            let _ = error::ErrorBadRequest("no");
            let _ = HttpResponse::build(StatusCode::CONFLICT).finish();
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "error": "try later" }))
        }
        #[cfg(test)]
        mod tests {
            fn refuse() -> actix_web::HttpResponse { actix_web::HttpResponse::Forbidden().finish() }
        }
    "#;
    assert_eq!(
        hand_built_errors(planted),
        [
            "HttpResponse::ServiceUnavailable(",
            "StatusCode::CONFLICT",
            "ErrorBadRequest(",
            "json!({\"error\"",
        ]
    );
    // Not an answer: an `{"error": …}` for the model in a file without actix-web.
    assert!(hand_built_errors(r#"fn out() -> Value { json!({"error": "no"}) }"#).is_empty());
}

#[test]
fn error_answers_are_built_only_by_api_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 50, "the source was not read: {files:?}");
    let mut offenders = Vec::new();
    let mut used = BTreeSet::new();
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == THE_ONE_PLACE {
            continue;
        }
        for built in hand_built_errors(&std::fs::read_to_string(file).unwrap()) {
            match ALLOWED
                .iter()
                .position(|(f, what, _)| *f == rel && *what == built)
            {
                Some(i) => {
                    used.insert(i);
                }
                None => offenders.push(format!("{rel}: {built}")),
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "error answers built by hand (return an ApiError from src/http/error.rs instead, \
         or allow the exception in ALLOWED with its reason): {offenders:#?}"
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, (file, what, _))| format!("{file}: {what}"))
        .collect();
    assert!(
        stale.is_empty(),
        "ALLOWED entries no longer needed: {stale:?}"
    );
}
