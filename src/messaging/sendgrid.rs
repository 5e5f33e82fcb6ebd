//! SendGrid: the Inbound Parse webhook's parsed-mode fields turned into one
//! [`InboundEmail`] (docs/sendgrid.md §Parsed-mode fields: `from`, `to`, `subject`, `text`, `html`,
//! `headers`, `envelope` JSON, `attachments` count …). Replies go out through
//! `crate::rest::sendgrid`.

use serde::Deserialize;

/// Why an Inbound Parse post was refused.
#[derive(Debug, thiserror::Error)]
pub enum SendGridError {
    /// The post lacks a usable sender address (`from`, or `envelope.from`).
    #[error("no sender address in from/envelope")]
    NoSender,
}

/// An email as SendGrid Inbound Parse delivered it (parsed mode).
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEmail {
    /// Sender address, lowercase (`ana@sender.example`).
    pub from: String,
    /// Display name from the `From` header, when present.
    pub from_name: Option<String>,
    /// First recipient address (`support@parse.example.com`).
    pub to: String,
    pub subject: String,
    /// Plain-text body: `text`, else `html` with tags stripped, else empty.
    pub text: String,
    /// The `Message-ID` header, used as the provider id (idempotency).
    pub message_id: Option<String>,
    /// Number of attachments SendGrid reported (`attachments`).
    pub attachments: u32,
}

#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

/// Builds an [`InboundEmail`] from the post's text fields (name, value).
/// Field names are case-sensitive as SendGrid sends them.
///
/// Errors: [`SendGridError::NoSender`] when neither `from` nor `envelope.from`
/// holds an address.
pub fn parse_fields(fields: &[(String, String)]) -> Result<InboundEmail, SendGridError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let envelope: Envelope = get("envelope")
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_default();
    let (from_name, from) = match get("from").and_then(parse_mailbox) {
        Some(m) => m,
        None => (
            None,
            envelope
                .from
                .as_deref()
                .and_then(parse_mailbox)
                .map(|(_, a)| a)
                .ok_or(SendGridError::NoSender)?,
        ),
    };
    let to = get("to")
        .and_then(|t| t.split(',').find_map(parse_mailbox))
        .map(|(_, a)| a)
        .or_else(|| {
            envelope
                .to
                .first()
                .and_then(|t| parse_mailbox(t))
                .map(|(_, a)| a)
        })
        .unwrap_or_default();
    let text = match get("text").filter(|t| !t.trim().is_empty()) {
        Some(t) => t.trim().to_owned(),
        None => get("html").map(strip_tags).unwrap_or_default(),
    };
    Ok(InboundEmail {
        from,
        from_name,
        to,
        subject: get("subject").unwrap_or_default().trim().to_owned(),
        text,
        message_id: get("headers").and_then(message_id),
        attachments: get("attachments")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or(0),
    })
}

/// `Ana Example <ana@x.example>` → (Some("Ana Example"), "ana@x.example");
/// `ana@x.example` → (None, …). `None` when there is no `@` address.
pub fn parse_mailbox(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    let (name, addr) = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            let name = text[..open].trim().trim_matches('"').trim();
            (
                (!name.is_empty()).then(|| name.to_owned()),
                &text[open + 1..close],
            )
        }
        _ => (None, text),
    };
    let addr = addr.trim().to_ascii_lowercase();
    let valid = addr.contains('@')
        && !addr.starts_with('@')
        && !addr.ends_with('@')
        && !addr.contains(char::is_whitespace);
    valid.then_some((name, addr))
}

/// The `Message-ID` value of a raw header block (unfolded, angle brackets kept).
fn message_id(headers: &str) -> Option<String> {
    let mut lines = headers.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("message-id") {
            let mut value = value.trim().to_owned();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next.trim());
                lines.next();
            }
            return (!value.is_empty()).then_some(value);
        }
    }
    None
}

/// Text of an HTML body: tags dropped, whitespace collapsed.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_the_documented_sample_post() {
        // The example post of docs/sendgrid.md §Parsed-mode fields.
        let email = parse_fields(&fields(&[
            ("from", "Ana Example <ana@sender.example>"),
            ("to", "support@parse.example.com"),
            ("subject", "Order 1234"),
            ("text", "Where is my order?"),
            (
                "envelope",
                r#"{"to":["support@parse.example.com"],"from":"ana@sender.example"}"#,
            ),
            (
                "charsets",
                r#"{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}"#,
            ),
            ("SPF", "pass"),
            ("attachments", "0"),
            (
                "headers",
                "Received: by mx\nMessage-ID:\n <abc@sender.example>\nSubject: Order 1234\n",
            ),
        ]))
        .unwrap();
        assert_eq!(email.from, "ana@sender.example");
        assert_eq!(email.from_name.as_deref(), Some("Ana Example"));
        assert_eq!(email.to, "support@parse.example.com");
        assert_eq!(email.subject, "Order 1234");
        assert_eq!(email.text, "Where is my order?");
        assert_eq!(email.message_id.as_deref(), Some("<abc@sender.example>"));
        assert_eq!(email.attachments, 0);
    }

    #[test]
    fn falls_back_to_envelope_and_html() {
        let email = parse_fields(&fields(&[
            ("from", "undisclosed"),
            (
                "envelope",
                r#"{"to":["desk@acme.example"],"from":"Bob@Example.com"}"#,
            ),
            ("html", "<p>Hello <b>there</b></p>"),
            ("attachments", "2"),
        ]))
        .unwrap();
        assert_eq!(email.from, "bob@example.com");
        assert_eq!(email.to, "desk@acme.example");
        assert_eq!(email.text, "Hello there");
        assert_eq!(email.attachments, 2);
        assert!(matches!(
            parse_fields(&fields(&[("subject", "x")])),
            Err(SendGridError::NoSender)
        ));
    }
}
