//! `X-Twilio-Signature` webhook validation (pure functions). Twilio signs each
//! webhook with base64(HMAC-SHA1(auth token, URL + sorted form parameters)); JSON
//! bodies are covered instead by a `bodySHA256` query parameter inside the signed
//! URL. Because Twilio sometimes signs with an explicit default port and sometimes
//! without, [`validate`] accepts either form, like Twilio's own helpers; and since
//! twilio-node normalises the URL first (WHATWG `new URL(url).toString()`, which
//! percent-encodes `'` in a query as `%27`) while twilio-python uses it as given,
//! [`validate`] also tries the normalised spelling and the one with `%27` decoded,
//! so a webhook URL with a `'` validates however it was signed. Facts: Twilio
//! "Webhook security"; twilio-python `twilio/request_validator.py`, twilio-node
//! `src/webhooks/webhooks.ts` and `spec/unit/webhooks/webhooks.spec.js`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The signature Twilio would send for `url` and form `params`: base64 (padded) of
/// HMAC-SHA1 keyed with `auth_token` over `url` followed by `name + value` for every
/// parameter, ordered by name (byte order, so uppercase first). A name given more
/// than once contributes each distinct value once, values sorted (as both helper
/// libraries do).
/// Empty values still count. `url` is used exactly as given (query string included).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    for (name, value) in pairs {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// True when `signature` (the `X-Twilio-Signature` header) matches `url` and
/// `params` under `auth_token`, for any of these spellings of `url`: as received,
/// WHATWG-normalised (twilio-node's `new URL()`: `'` → `%27` in the query, host
/// lower-cased, default port dropped), and with `%27` decoded to `'`; each with
/// its port (the scheme's default port — 443 for `https`/`wss`, 80 for
/// `http`/`ws` — added when absent) and without any port, as both official
/// helpers do. Comparisons are constant-time. For WebSocket upgrades pass the
/// public `wss://` URL and no params; for a GET webhook pass no params (they are
/// in the URL's query).
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    if signature.is_empty() {
        return false;
    }
    let mut candidates: Vec<String> = Vec::with_capacity(9);
    for spelling in url_spellings(url) {
        let (with_port, without_port) = port_variants(&spelling);
        for candidate in [with_port, without_port, Some(spelling)]
            .into_iter()
            .flatten()
        {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
    }
    let mut ok = false;
    for candidate in &candidates {
        ok |= ct_eq(&compute(auth_token, candidate, params), signature);
    }
    ok
}

/// `url` as received, its WHATWG serialisation (what twilio-node signs), and the
/// received form with `%27` decoded to `'` (a client or proxy may encode the quote
/// of a URL Twilio signed unencoded). Duplicates removed, order kept.
fn url_spellings(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    if let Ok(parsed) = url::Url::parse(url) {
        out.push(parsed.to_string());
    }
    if url.contains("%27") {
        out.push(url.replace("%27", "'"));
    }
    out.dedup();
    out
}

/// Validates a JSON-body webhook: `url_with_body_sha256` is the full request URL,
/// whose query carries `bodySHA256` = lowercase hex SHA-256 of the raw `body`.
/// True only when that hash matches `body` and `signature` matches the URL (with no
/// parameters appended, ports as [`validate`]). False when `bodySHA256` is absent.
pub fn validate_json_body(
    auth_token: &str,
    url_with_body_sha256: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Some(expected) = body_sha256_param(url_with_body_sha256) else {
        return false;
    };
    let actual = hex_lower(&Sha256::digest(body));
    let body_ok = ct_eq(&actual, &expected.to_ascii_lowercase());
    let sig_ok = validate(auth_token, url_with_body_sha256, &[], signature);
    body_ok & sig_ok
}

/// Constant-time string comparison (length is not secret).
fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// The `bodySHA256` query value of `url`, percent-decoded.
fn body_sha256_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v.into_owned())
}

/// `(with_port, without_port)` spellings of `url`, or `None` when `url` has no
/// recognisable `scheme://authority`. The query string is kept byte for byte.
fn port_variants(url: &str) -> (Option<String>, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (None, None);
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    // Host part starts after any userinfo.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, hostport) = authority.split_at(host_start);
    // A port follows the last ':' that is not inside an IPv6 literal.
    let port_sep = match hostport.rfind(']') {
        Some(close) => hostport[close..].find(':').map(|i| close + i),
        None => hostport.rfind(':'),
    };
    let (host, port) = match port_sep {
        Some(i) if hostport[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&hostport[..i], Some(&hostport[i + 1..]))
        }
        _ => (hostport, None),
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "443",
        _ => "80",
    };
    let port = port.filter(|p| !p.is_empty()).unwrap_or(default_port);
    let with = format!("{scheme}://{userinfo}{host}:{port}{tail}");
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    (Some(with), Some(without))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors: twilio-python tests/unit/test_request_validator.py.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn computes_published_signature() {
        assert_eq!(
            compute(TOKEN, URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        let mut shuffled = params();
        shuffled.reverse();
        assert_eq!(
            compute(TOKEN, URL, &shuffled),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(validate(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn accepts_signatures_made_with_or_without_default_port() {
        // Twilio signed https://mycompany.com:443/…; we saw no port.
        assert!(validate(
            TOKEN,
            URL,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        // Twilio signed without a port; we saw :443.
        let with_443 = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(validate(
            TOKEN,
            with_443,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(validate(
            TOKEN,
            with_443,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(validate(
            TOKEN,
            http,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        let custom = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert!(validate(
            TOKEN,
            custom,
            &params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        ));
    }

    #[test]
    fn repeated_names_use_each_distinct_value_once_sorted() {
        let p: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(compute(TOKEN, URL, &p), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn json_body_is_covered_by_body_sha256() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(hex_lower(&Sha256::digest(body)), hash);
        let url = format!("{URL}&bodySHA256={hash}");
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert!(validate_json_body(TOKEN, &url, body, sig));
        // A tampered body fails even though the URL signature is right.
        assert!(!validate_json_body(
            TOKEN,
            &url,
            br#"{"property": "evil"}"#,
            sig
        ));
        // No bodySHA256 in the URL: refused.
        assert!(!validate_json_body(TOKEN, URL, body, sig));
    }

    #[test]
    fn rejects_wrong_token_params_url_and_signature() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        assert!(!validate("54321", URL, &params(), good));
        let mut extra = params();
        extra.push(("ToCity".into(), String::new()));
        assert!(
            !validate(TOKEN, URL, &extra, good),
            "empty values still count"
        );
        let mut changed = params();
        changed[2].1 = "9999".into();
        assert!(!validate(TOKEN, URL, &changed, good));
        assert!(!validate(
            TOKEN,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params(),
            good
        ));
        assert!(!validate(TOKEN, URL, &params(), ""));
        assert!(!validate(
            TOKEN,
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8"
        ));
        // A port signature for a different port does not validate.
        assert!(!validate(
            TOKEN,
            "http://mycompany.com:8080/myapp.php?foo=1&bar=2",
            &params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        ));
    }

    /// twilio-node's `getExpectedTwilioSignature`: the URL is normalised with
    /// WHATWG `new URL()` before signing (webhooks.ts), so `'` is signed as `%27`.
    fn node_style(token: &str, url: &str) -> String {
        compute(token, url::Url::parse(url).unwrap().as_str(), &[])
    }

    #[test]
    fn quote_in_query_validates_escaped_or_not() {
        // The four cases of twilio-node spec/unit/webhooks/webhooks.spec.js.
        let token = "s3cr3t";
        let quoted = "https://example.com/path?test=param'WithQuote";
        let escaped = "https://example.com/path?test=param%27WithQuote";
        for signed in [quoted, escaped] {
            let sig = node_style(token, signed);
            for received in [quoted, escaped] {
                assert!(
                    validate(token, received, &[], &sig),
                    "signed {signed}, received {received}"
                );
            }
        }
        // Signed as given (twilio-python, no normalisation) with a raw quote, and
        // received with the quote escaped by a proxy or client.
        let raw_sig = compute(token, quoted, &[]);
        assert!(validate(token, escaped, &[], &raw_sig));
        assert!(validate(token, quoted, &[], &raw_sig));
        // A different value still fails.
        assert!(!validate(
            token,
            "https://example.com/path?test=param%27WithQuot",
            &[],
            &raw_sig
        ));
        assert!(!validate(
            token,
            "https://example.com/path?test=param2",
            &[],
            &node_style(token, "https://example.com/path?test=param")
        ));
    }

    #[test]
    fn get_webhook_is_signed_over_url_with_query_only() {
        // A voice webhook configured as GET: parameters in the query, none appended.
        let url = "https://mycompany.com/twiml?CallSid=CA1234567890ABCDE&From=%2B14158675309&To=%2B18005551212";
        let sig = compute(TOKEN, url, &[]);
        assert!(validate(TOKEN, url, &[], &sig));
        assert!(validate(
            TOKEN,
            "https://mycompany.com:443/twiml?CallSid=CA1234567890ABCDE&From=%2B14158675309&To=%2B18005551212",
            &[],
            &sig
        ));
        let forged_query = url.replace("CA1234567890ABCDE", "CA0000000000000000");
        assert!(!validate(TOKEN, &forged_query, &[], &sig));
    }

    #[test]
    fn port_variants_keep_query_and_handle_ipv6() {
        assert_eq!(
            port_variants("wss://h.example/media?x=%27"),
            (
                Some("wss://h.example:443/media?x=%27".into()),
                Some("wss://h.example/media?x=%27".into())
            )
        );
        assert_eq!(
            port_variants("http://[::1]:8080/twiml"),
            (
                Some("http://[::1]:8080/twiml".into()),
                Some("http://[::1]/twiml".into())
            )
        );
        assert_eq!(port_variants("not a url"), (None, None));
    }
}
