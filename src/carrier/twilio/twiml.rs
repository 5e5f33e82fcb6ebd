//! TwiML documents we answer Twilio webhooks with (pure string builders): the
//! `<Connect><Stream>` that starts a Media Stream, SMS replies, spoken messages,
//! transfers (dial with screening) and the voicemail `<Record>`. Every text and
//! attribute value is XML-escaped as Twilio's own helper libraries escape it
//! (see `text` and `attr`). Serve them as `Content-Type: text/xml`. Also
//! Twilio's side of a `<Connect><Stream>` answer ([`parse_connect_stream`]:
//! which stream to open and with which parameters, read with quick-xml), for
//! the load generator's callers. Facts: Twilio docs "TwiML Voice: `<Stream>`",
//! "`<Connect>`", "`<Dial>`", "`<Number>`", "`<Gather>`", "`<Record>`", error 31922
//! (`wss://` only).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Text content escaped as Twilio's helper libraries write it (the `twilio`
/// npm package's xmlbuilder `textEscape`): `&`, `<`, `>` and CR; quotes and
/// apostrophes stay as they are.
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value escaped as the helper libraries write it (xmlbuilder
/// `attEscape`): `&`, `<`, `"`, tab, LF and CR.
fn attr(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

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
    inner.push_str(&attr(stream_url));
    inner.push_str("\">");
    for (name, value) in parameters {
        inner.push_str("<Parameter name=\"");
        inner.push_str(&attr(name));
        inner.push_str("\" value=\"");
        inner.push_str(&attr(value));
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
    response(&format!("<Message>{}</Message>", text(body)))
}

/// `<Response/>` equivalent with nothing to do: `<Response></Response>` (no reply
/// SMS; for a call, Twilio hangs up).
pub fn empty() -> String {
    response("")
}

/// `<Response><Say>text</Say></Response>`: speak `text` (Twilio's default voice),
/// then the call continues with nothing left, i.e. ends.
pub fn say(text: &str) -> String {
    response(&format!("<Say>{}</Say>", self::text(text)))
}

/// `<Response><Hangup/></Response>`: end the call.
pub fn hangup() -> String {
    response("<Hangup/>")
}

/// `<Response><Say>text</Say><Hangup/></Response>`: speak, then end the call.
pub fn say_and_hangup(text: &str) -> String {
    response(&format!("<Say>{}</Say><Hangup/>", self::text(text)))
}

/// Transfer with screening: `<Response><Dial action=… timeout=…><Number
/// url=…>number</Number></Dial></Response>` ("TwiML Voice: `<Dial>`",
/// "`<Number>`").
///
/// `number` is E.164; `ring_secs` is `<Dial timeout>` (seconds of ringing,
/// Twilio accepts 5–600). `screen_url` returns TwiML that Twilio runs on the
/// called party after they answer and before the legs are bridged (the
/// caller keeps hearing ringback); when it ends with the called party still
/// on the line, the legs are bridged. `action_url` is requested (POST) when
/// the dialled leg ends, with `DialCallStatus`, `DialCallDuration` and
/// `DialBridged`; its answer is what the caller's leg runs next.
pub fn dial_with_screening(
    number: &str,
    action_url: &str,
    ring_secs: u32,
    screen_url: &str,
) -> String {
    response(&format!(
        "<Dial action=\"{}\" timeout=\"{ring_secs}\"><Number url=\"{}\">{}</Number></Dial>",
        attr(action_url),
        attr(screen_url),
        text(number)
    ))
}

/// Seconds the screening `<Gather>` waits for the on-call person's key.
pub const SCREEN_GATHER_SECS: u32 = 8;

/// Screening: `<Response><Gather numDigits="1" action=… timeout=…><Say>prompt</Say></Gather><Hangup/></Response>`
/// ("TwiML Voice: `<Gather>`"). A key posts `Digits` to `action_url`;
/// silence for `timeout_secs` falls through to `<Hangup/>`, which declines
/// the transfer (the called party's leg ends before any bridge).
pub fn screen(prompt: &str, action_url: &str, timeout_secs: u32) -> String {
    response(&format!(
        "<Gather numDigits=\"1\" action=\"{}\" timeout=\"{timeout_secs}\"><Say>{}</Say></Gather><Hangup/>",
        attr(action_url),
        text(prompt)
    ))
}

/// The voicemail a caller leaves when the receptionist's model is gone.
#[derive(Debug, Clone, Copy)]
pub struct VoicemailRecord<'a> {
    /// Spoken first (`<Say>`), asking for a message after the tone.
    pub prompt: &'a str,
    /// `<Record action>`: requested when the recording ends; its answer ends
    /// the call (see [`say_and_hangup`]).
    pub action_url: &'a str,
    /// `<Record recordingStatusCallback>`: told when the recording file is
    /// ready (`recordingStatusCallbackEvent="completed"`).
    pub status_url: &'a str,
    /// `<Record maxLength>`, seconds.
    pub max_secs: u32,
    /// `<Record timeout>`: seconds of silence that end the recording.
    pub silence_secs: u32,
}

/// Voicemail: `<Response><Say>prompt</Say><Record action=… maxLength=…
/// playBeep="true" recordingStatusCallback=… recordingStatusCallbackEvent="completed"
/// timeout=…/></Response>` (Twilio "TwiML Voice: `<Record>`": the beep marks
/// the start; the recording ends on silence, `maxLength`, a key or a hang-up).
pub fn voicemail(record: &VoicemailRecord<'_>) -> String {
    response(&format!(
        "<Say>{}</Say><Record action=\"{}\" maxLength=\"{}\" playBeep=\"true\" \
         recordingStatusCallback=\"{}\" recordingStatusCallbackEvent=\"completed\" \
         timeout=\"{}\"/>",
        text(record.prompt),
        attr(record.action_url),
        record.max_secs,
        attr(record.status_url),
        record.silence_secs
    ))
}

/// What a `<Connect><Stream>` answer tells Twilio: where to open the Media
/// Stream and what to send back in its `start.customParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAnswer {
    /// `<Stream url>`, unescaped (`wss://…/media-stream`; `ws://` on loopback).
    pub url: String,
    /// `<Parameter name value>` children of that `<Stream>`, unescaped, in
    /// document order.
    pub parameters: Vec<(String, String)>,
}

/// Why a webhook answer is not a `<Connect><Stream>`.
#[derive(Debug, thiserror::Error)]
pub enum TwimlError {
    /// Not well-formed XML, or an attribute that does not unescape.
    #[error("not well-formed TwiML: {0}")]
    Xml(#[from] quick_xml::Error),
    /// `<Connect><Stream>` without its `url` attribute.
    #[error("<Connect><Stream> has no url attribute")]
    StreamWithoutUrl,
    /// Well-formed TwiML with no `<Connect><Stream>` (a `<Say>` + `<Hangup/>`
    /// refusal, say); `verbs` lists the `<Response>`'s verbs, e.g. `Say, Hangup`.
    #[error("no <Connect><Stream> in the answer (verbs: {verbs})")]
    NoStream { verbs: String },
}

/// The unescaped value of attribute `name` of `element`.
fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>, TwimlError> {
    match element
        .try_get_attribute(name)
        .map_err(quick_xml::Error::from)?
    {
        Some(a) => Ok(Some(a.unescape_value()?.into_owned())),
        None => Ok(None),
    }
}

/// Reads a voice webhook's answer as Twilio does for a bidirectional stream:
/// the first `<Connect><Stream url>` and its `<Parameter name value>`s (a
/// `<Parameter>` without a name is skipped; a missing value is empty).
///
/// # Errors
/// [`TwimlError::Xml`] for malformed XML, [`TwimlError::StreamWithoutUrl`],
/// and [`TwimlError::NoStream`] when the document has no `<Connect><Stream>`.
pub fn parse_connect_stream(xml: &str) -> Result<StreamAnswer, TwimlError> {
    let mut reader = Reader::from_str(xml);
    // Names of the open elements, outermost first.
    let mut open: Vec<String> = Vec::new();
    let mut verbs: Vec<String> = Vec::new();
    let mut answer: Option<StreamAnswer> = None;
    // Inside the answer's `<Stream>` (its parameters are collected).
    let mut in_stream = false;
    loop {
        let (element, empty) = match reader.read_event()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if open.pop().as_deref() == Some("Stream") {
                    in_stream = false;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(element.local_name().as_ref()).into_owned();
        let parent = open.last().map(String::as_str);
        if open.len() == 1 && parent == Some("Response") {
            verbs.push(name.clone());
        }
        match (name.as_str(), parent) {
            ("Stream", Some("Connect")) if answer.is_none() => {
                let url = attribute(&element, "url")?.ok_or(TwimlError::StreamWithoutUrl)?;
                answer = Some(StreamAnswer {
                    url,
                    parameters: Vec::new(),
                });
                in_stream = !empty;
            }
            ("Parameter", Some("Stream")) if in_stream => {
                if let (Some(name), Some(a)) = (attribute(&element, "name")?, answer.as_mut()) {
                    let value = attribute(&element, "value")?.unwrap_or_default();
                    a.parameters.push((name, value));
                }
            }
            _ => {}
        }
        if !empty {
            open.push(name);
        }
    }
    answer.ok_or_else(|| TwimlError::NoStream {
        verbs: verbs.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn escaping_is_the_helper_librarys() {
        // As the `twilio` npm package's VoiceResponse writes it: apostrophes and
        // `>` in attributes left alone, quotes escaped only in attributes.
        assert_eq!(
            say(NASTY),
            format!("{DECL}<Response><Say>Tom &amp; Jerry's &lt;\"shop\"&gt;</Say></Response>")
        );
        assert_eq!(
            connect_stream("wss://x/s", &[("n", NASTY)]),
            format!(
                "{DECL}<Response><Connect><Stream url=\"wss://x/s\"><Parameter name=\"n\" \
                 value=\"Tom &amp; Jerry's &lt;&quot;shop&quot;>\"/></Stream></Connect></Response>"
            )
        );
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
    fn dial_with_screening_sets_action_timeout_and_number_url() {
        let els = parse(&dial_with_screening(
            "+15550002222",
            "https://sb.example.net/twiml/dial-action?call=a&b",
            20,
            "https://sb.example.net/twiml/screen?call=a&b='c'",
        ));
        assert_eq!(els[1].name, "Dial");
        assert_eq!(
            els[1].attrs,
            [
                (
                    "action".into(),
                    "https://sb.example.net/twiml/dial-action?call=a&b".into()
                ),
                ("timeout".into(), "20".into())
            ]
        );
        assert_eq!(els[2].name, "Number");
        assert_eq!(
            els[2].attrs,
            [(
                "url".into(),
                "https://sb.example.net/twiml/screen?call=a&b='c'".into()
            )]
        );
        assert_eq!(els[2].text, "+15550002222");
    }

    #[test]
    fn screening_gathers_one_digit_then_hangs_up() {
        let els = parse(&screen(NASTY, "/twiml/screen-result?call=a&b", 8));
        let names: Vec<_> = els.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["Response", "Gather", "Say", "Hangup"]);
        assert_eq!(
            els[1].attrs,
            [
                ("numDigits".into(), "1".into()),
                ("action".into(), "/twiml/screen-result?call=a&b".into()),
                ("timeout".into(), "8".into())
            ]
        );
        assert_eq!(els[2].text, NASTY);
    }

    #[test]
    fn a_connect_stream_answer_reads_back_url_and_parameters() {
        let xml = connect_stream(
            "ws://127.0.0.1:8080/media-stream",
            &[("tenant", "acme"), ("note", NASTY), ("prewarm", "0a1b")],
        );
        let answer = parse_connect_stream(&xml).unwrap();
        assert_eq!(answer.url, "ws://127.0.0.1:8080/media-stream");
        assert_eq!(
            answer.parameters,
            [
                ("tenant".to_string(), "acme".to_string()),
                ("note".to_string(), NASTY.to_string()),
                ("prewarm".to_string(), "0a1b".to_string())
            ]
        );
    }

    #[test]
    fn twilio_style_answers_parse_with_whitespace_and_explicit_end_tags() {
        // As a person writes TwiML (Twilio's docs examples): indented, with
        // `<Parameter></Parameter>` pairs and a `<Start><Stream>` (unidirectional,
        // not the call's media) before the `<Connect>`.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Start><Stream url="wss://fork.example.com/tap"><Parameter name="x" value="fork"/></Stream></Start>
  <Say>Connecting</Say>
  <Connect>
    <Stream url="wss://sb.example.net/media-stream">
      <Parameter name="to" value="+15550100000"></Parameter>
      <Parameter value="nameless"/>
      <Parameter name="empty"/>
    </Stream>
  </Connect>
</Response>"#;
        let answer = parse_connect_stream(xml).unwrap();
        assert_eq!(answer.url, "wss://sb.example.net/media-stream");
        assert_eq!(
            answer.parameters,
            [
                ("to".to_string(), "+15550100000".to_string()),
                ("empty".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn answers_without_a_stream_name_their_verbs() {
        let err = parse_connect_stream(&say_and_hangup("Sorry.")).unwrap_err();
        assert!(
            matches!(&err, TwimlError::NoStream { verbs } if verbs == "Say, Hangup"),
            "{err}"
        );
        let err =
            parse_connect_stream("<Response><Connect><Stream/></Connect></Response>").unwrap_err();
        assert!(matches!(err, TwimlError::StreamWithoutUrl), "{err}");
        let err = parse_connect_stream("<Response><Connect></Response>").unwrap_err();
        assert!(matches!(err, TwimlError::Xml(_)), "{err}");
        let err = parse_connect_stream("").unwrap_err();
        assert!(matches!(err, TwimlError::NoStream { .. }), "{err}");
    }
}
