//! TwiML documents we answer Twilio webhooks with (pure string builders): the
//! `<Connect><Stream>` that starts a Media Stream, SMS replies, spoken messages and
//! transfers. Every text and attribute value is XML-escaped (`& < > " '`) with
//! quick-xml. Serve them as `Content-Type: text/xml`. Facts: Twilio docs "TwiML
//! Voice: `<Stream>`", "`<Connect>`", "`<Dial>`", error 31922 (`wss://` only).

use quick_xml::escape::escape;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Wraps `inner` verbs in the XML declaration and `<Response>`.
fn response(inner: &str) -> String {
    let mut out = String::with_capacity(DECL.len() + 21 + inner.len());
    out.push_str(DECL);
    out.push_str("<Response>");
    out.push_str(inner);
    out.push_str("</Response>");
    out
}

/// `<Response><Connect><Stream url=…><Parameter name=… value=…/>…</Stream></Connect></Response>`.
///
/// `stream_url` must be `wss://` with no query string (Twilio drops queries; error
/// 31922 for other schemes) — pass per-call data as `parameters`, which arrive in
/// the stream's `start.customParameters`. `<Connect>` blocks: Twilio runs nothing
/// after it until our server closes the socket.
pub fn connect_stream(stream_url: &str, parameters: &[(&str, &str)]) -> String {
    let mut inner = String::with_capacity(64 + stream_url.len() + parameters.len() * 48);
    inner.push_str("<Connect><Stream url=\"");
    inner.push_str(&escape(stream_url));
    inner.push_str("\">");
    for (name, value) in parameters {
        inner.push_str("<Parameter name=\"");
        inner.push_str(&escape(*name));
        inner.push_str("\" value=\"");
        inner.push_str(&escape(*value));
        inner.push_str("\"/>");
    }
    inner.push_str("</Stream></Connect>");
    response(&inner)
}

/// Whether `host` names this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The start-up warning due when the `<Stream url>` switchboard writes would not
/// be `wss://`: Twilio accepts only `wss://` stream URLs (error 31922), and the
/// scheme follows `server.public_url` (`http` → `ws`). `None` for an `https://`
/// public URL, or one on a loopback host (local testing). With no public URL the
/// stream URL follows each webhook request's scheme — `ws://` behind a
/// TLS-terminating proxy — so a non-loopback `bind` gets the warning too.
pub fn stream_url_warning(public_url: &str, bind: &str) -> Option<String> {
    if public_url.is_empty() {
        let loopback = bind
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false);
        return (!loopback).then(|| {
            "server.public_url is empty: TwiML stream URLs follow each webhook's scheme and \
             Host, which is ws:// behind a TLS-terminating proxy, and Twilio accepts only \
             wss:// (error 31922); set server.public_url to the public https:// URL"
                .to_string()
        });
    }
    let url = url::Url::parse(public_url).ok()?;
    if url.scheme() == "https" || url.host().as_ref().is_some_and(is_loopback_host) {
        return None;
    }
    Some(format!(
        "server.public_url {public_url} is not https: TwiML will point Twilio at \
         ws://…/media-stream, and Twilio accepts only wss:// stream URLs (error 31922); \
         serve switchboard behind TLS and set an https:// public_url"
    ))
}

/// SMS reply: `<Response><Message>body</Message></Response>` (Twilio sends `body`
/// back to the sender; up to 1600 characters).
pub fn message(body: &str) -> String {
    response(&format!("<Message>{}</Message>", escape(body)))
}

/// `<Response/>` equivalent with nothing to do: `<Response></Response>` (no reply
/// SMS; for a call, Twilio hangs up).
pub fn empty() -> String {
    response("")
}

/// `<Response><Say>text</Say></Response>`: speak `text` (Twilio's default voice),
/// then the call continues with nothing left, i.e. ends.
pub fn say(text: &str) -> String {
    response(&format!("<Say>{}</Say>", escape(text)))
}

/// `<Response><Say>text</Say><Hangup/></Response>`: speak, then end the call.
pub fn say_and_hangup(text: &str) -> String {
    response(&format!("<Say>{}</Say><Hangup/>", escape(text)))
}

/// Transfer: `<Response><Dial callerId=…><Number url=whisper_url>number</Number></Dial></Response>`.
///
/// `number` is E.164; `caller_id` (E.164, one of our Twilio numbers) is omitted
/// when `None`; `whisper_url` returns TwiML that Twilio plays to the called party
/// after they answer and before the legs are bridged (the caller hears ringback).
pub fn dial_with_whisper(number: &str, caller_id: Option<&str>, whisper_url: &str) -> String {
    let mut inner = String::from("<Dial");
    if let Some(id) = caller_id {
        inner.push_str(" callerId=\"");
        inner.push_str(&escape(id));
        inner.push('"');
    }
    inner.push_str("><Number url=\"");
    inner.push_str(&escape(whisper_url));
    inner.push_str("\">");
    inner.push_str(&escape(number));
    inner.push_str("</Number></Dial>");
    response(&inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    #[test]
    fn only_a_non_loopback_non_https_public_url_is_warned_about() {
        assert_eq!(
            stream_url_warning("https://voice.example.com", "0.0.0.0:8080"),
            None
        );
        assert_eq!(
            stream_url_warning("http://127.0.0.1:8080", "127.0.0.1:8080"),
            None
        );
        assert_eq!(
            stream_url_warning("http://localhost:8080", "0.0.0.0:8080"),
            None
        );
        assert_eq!(
            stream_url_warning("http://[::1]:8080", "0.0.0.0:8080"),
            None
        );
        let warning = stream_url_warning("http://voice.example.com", "0.0.0.0:8080").unwrap();
        assert!(
            warning.contains("wss://") && warning.contains("31922"),
            "{warning}"
        );
        assert_eq!(stream_url_warning("", "127.0.0.1:8080"), None);
        assert!(stream_url_warning("", "0.0.0.0:8080").is_some());
    }

    /// A parsed element: name, attributes (unescaped) and its unescaped text.
    #[derive(Debug, PartialEq)]
    struct El {
        name: String,
        attrs: Vec<(String, String)>,
        text: String,
    }

    fn element(e: &quick_xml::events::BytesStart) -> El {
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        El {
            name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
            attrs,
            text: String::new(),
        }
    }

    /// Parses a TwiML document into its elements in document order, failing on any
    /// XML error and on anything but a leading declaration.
    fn parse(xml: &str) -> Vec<El> {
        assert!(xml.starts_with(DECL), "{xml}");
        let mut reader = Reader::from_str(xml);
        let mut els: Vec<El> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    els.push(element(&e));
                    open.push(els.len() - 1);
                }
                Event::Empty(e) => els.push(element(&e)),
                Event::Text(t) => {
                    let i = *open.last().expect("text inside an element");
                    els[i].text.push_str(&t.unescape().unwrap());
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Decl(_) => {}
                Event::Eof => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(open.is_empty());
        els
    }

    const NASTY: &str = r#"Tom & Jerry's <"shop">"#;

    #[test]
    fn connect_stream_carries_url_and_escaped_parameters() {
        let xml = connect_stream(
            "wss://sb.example.net/media-stream",
            &[("tenant", "acme"), ("note", NASTY)],
        );
        assert!(!xml.contains(NASTY), "raw text must be escaped: {xml}");
        let els = parse(&xml);
        let names: Vec<_> = els.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["Response", "Connect", "Stream", "Parameter", "Parameter"]
        );
        assert_eq!(
            els[2].attrs,
            [("url".into(), "wss://sb.example.net/media-stream".into())]
        );
        assert_eq!(
            els[4].attrs,
            [
                ("name".into(), "note".into()),
                ("value".into(), NASTY.into())
            ]
        );
    }

    #[test]
    fn message_and_say_escape_text() {
        let els = parse(&message(NASTY));
        assert_eq!(els[1].name, "Message");
        assert_eq!(els[1].text, NASTY);
        let els = parse(&say(NASTY));
        assert_eq!((els[1].name.as_str(), els[1].text.as_str()), ("Say", NASTY));
        let els = parse(&say_and_hangup("Goodbye."));
        let names: Vec<_> = els.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Response", "Say", "Hangup"]);
        assert_eq!(els[1].text, "Goodbye.");
    }

    #[test]
    fn empty_is_a_bare_response() {
        let els = parse(&empty());
        assert_eq!(
            els,
            [El {
                name: "Response".into(),
                attrs: vec![],
                text: String::new()
            }]
        );
    }

    #[test]
    fn dial_with_whisper_sets_number_url_and_optional_caller_id() {
        let els = parse(&dial_with_whisper(
            "+15550002222",
            Some("+15550001111"),
            "https://sb.example.net/whisper?call=a&b='c'",
        ));
        assert_eq!(els[1].name, "Dial");
        assert_eq!(els[1].attrs, [("callerId".into(), "+15550001111".into())]);
        assert_eq!(els[2].name, "Number");
        assert_eq!(
            els[2].attrs,
            [(
                "url".into(),
                "https://sb.example.net/whisper?call=a&b='c'".into()
            )]
        );
        assert_eq!(els[2].text, "+15550002222");
        let els = parse(&dial_with_whisper("+15550002222", None, "/whisper"));
        assert!(els[1].attrs.is_empty());
    }
}
