//! The CalDAV wire (RFC 4791 over WebDAV, RFC 4918): the requests switchboard
//! sends to a tenant's calendar collection — `PROPFIND` to check it,
//! `REPORT calendar-query` with a time range to find a day's events and
//! `REPORT calendar-multiget` with `<C:expand>` to have the server expand the
//! recurring ones (§9.6.5), `PUT` to create an event
//! (`If-None-Match: *`, §5.3.2), `GET` to re-read one of ours the owner
//! changed, and `DELETE` with `If-Match` — and the
//! multistatus parser (pure) for their answers.

use std::time::Duration;

use awc::http::Method;
use chrono::NaiveDateTime;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::CalendarError;

/// How long one CalDAV request may take; a tool's whole budget is larger, so
/// a slow calendar becomes a clear answer to the model, not a tool timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest multistatus body read, bytes (a day of a busy calendar is far less).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Characters of an error body kept in an error.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// One calendar collection and the account that reads and writes it.
#[derive(Clone)]
pub struct CalDav {
    /// Collection URL ending in `/`.
    pub collection: String,
    pub username: String,
    pub password: String,
    /// TLS connector for `https://` collections.
    pub tls: Option<openssl::ssl::SslConnector>,
}

/// One `<D:response>` of a multistatus (RFC 4918 §14.24).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DavResponse {
    pub href: String,
    /// `getetag`, quotes kept (an ETag is compared as sent).
    pub etag: Option<String>,
    /// `C:calendar-data`: the iCalendar text of the resource.
    pub calendar_data: Option<String>,
    /// Whether `resourcetype` holds `C:calendar` (RFC 4791 §4.2).
    pub is_calendar: bool,
    /// The names in `C:supported-calendar-component-set` (§5.2.3), e.g. `VEVENT`.
    pub components: Vec<String>,
}

/// An event created by [`CalDav::create`]: its URL and the ETag the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub href: String,
    pub etag: Option<String>,
}

fn method(name: &'static str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap_or(Method::GET)
}

/// `YYYYMMDDTHHMMSSZ` (RFC 5545 §3.3.5, UTC form), as `time-range` wants.
fn utc_stamp(t: NaiveDateTime) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The calendar-query of every VEVENT with an instance overlapping `[from, to)`
/// (UTC), as stored (RFC 4791 §7.8): the server matches recurring events by
/// their instances (§9.9) but sends them unexpanded.
pub fn day_query(from: NaiveDateTime, to: NaiveDateTime) -> String {
    let (s, e) = (utc_stamp(from), utc_stamp(to));
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{s}" end="{e}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>"#
    )
}

/// The calendar-multiget of `hrefs` with their recurrences expanded by the
/// server within `[from, to)` (RFC 4791 §7.9, §9.6.5): one VEVENT per
/// instance, in UTC, exceptions (`EXDATE`) left out and overrides applied.
/// Expanding only the recurring events keeps the read fast: a server that
/// expands a whole calendar query parses every event it holds (Radicale: 1.3 s
/// for 500 events against 0.1 s unexpanded, on a 2-core machine).
pub fn expand_query(hrefs: &[String], from: NaiveDateTime, to: NaiveDateTime) -> String {
    let (s, e) = (utc_stamp(from), utc_stamp(to));
    let hrefs: String = hrefs
        .iter()
        .map(|h| {
            format!(
                "  <D:href>{}</D:href>\n",
                quick_xml::escape::escape(h.as_str())
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:getetag/>
    <C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data>
  </D:prop>
{hrefs}</C:calendar-multiget>"#
    )
}

const CHECK_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:resourcetype/><C:supported-calendar-component-set/></D:prop>
</D:propfind>"#;

impl CalDav {
    fn client(&self) -> awc::Client {
        crate::http_client::shared(self.tls.as_ref(), REQUEST_TIMEOUT)
    }

    fn request(&self, method: Method, url: &str) -> awc::ClientRequest {
        self.client()
            .request(method, url)
            .basic_auth(&self.username, &self.password)
    }

    /// Sends `req` with `body`; the status and body (at most 8 MB).
    async fn send(
        &self,
        req: awc::ClientRequest,
        body: String,
    ) -> Result<(u16, Option<String>, String), CalendarError> {
        let mut resp = req
            .send_body(body)
            .await
            .map_err(|e| CalendarError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .body()
            .limit(MAX_BODY_BYTES)
            .await
            .map_err(|e| CalendarError::Unreachable(e.to_string()))?;
        Ok((status, etag, String::from_utf8_lossy(&bytes).into_owned()))
    }

    fn status_error(status: u16, body: &str) -> CalendarError {
        CalendarError::Status {
            status,
            body: body.chars().take(MAX_ERROR_BODY_CHARS).collect(),
        }
    }

    /// Checks the collection (`PROPFIND`, `Depth: 0`): it answers, is a
    /// calendar, and takes VEVENTs (a collection without
    /// `supported-calendar-component-set` takes every component, RFC 4791 §5.2.3).
    ///
    /// Errors: [`CalendarError::Unreachable`], [`CalendarError::Status`] (401
    /// for a wrong password, 404 for a wrong URL), [`CalendarError::NotACalendar`],
    /// [`CalendarError::NoEvents`], [`CalendarError::Xml`].
    pub async fn check(&self) -> Result<(), CalendarError> {
        let req = self
            .request(method("PROPFIND"), &self.collection)
            .insert_header(("Depth", "0"))
            .content_type("application/xml; charset=utf-8");
        let (status, _, body) = self.send(req, CHECK_BODY.to_owned()).await?;
        if status != 207 {
            return Err(Self::status_error(status, &body));
        }
        let responses = parse_multistatus(&body)?;
        let Some(me) = responses.first() else {
            return Err(CalendarError::NotACalendar(self.collection.clone()));
        };
        if !me.is_calendar {
            return Err(CalendarError::NotACalendar(self.collection.clone()));
        }
        if !me.components.is_empty() && !me.components.iter().any(|c| c == "VEVENT") {
            return Err(CalendarError::NoEvents(me.components.join(", ")));
        }
        Ok(())
    }

    /// Every event resource with an instance overlapping `[from, to)` (UTC),
    /// unexpanded (`REPORT calendar-query`, `Depth: 1`).
    ///
    /// Errors: [`CalendarError::Unreachable`], [`CalendarError::Status`],
    /// [`CalendarError::Xml`].
    pub async fn events_between(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<DavResponse>, CalendarError> {
        self.report(day_query(from, to)).await
    }

    /// The event resources `hrefs` (as the server named them) with their
    /// recurrences expanded within `[from, to)` (`REPORT calendar-multiget`).
    ///
    /// Errors: as [`CalDav::events_between`].
    pub async fn expanded(
        &self,
        hrefs: &[String],
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Vec<DavResponse>, CalendarError> {
        self.report(expand_query(hrefs, from, to)).await
    }

    async fn report(&self, body: String) -> Result<Vec<DavResponse>, CalendarError> {
        let req = self
            .request(method("REPORT"), &self.collection)
            .insert_header(("Depth", "1"))
            .content_type("application/xml; charset=utf-8");
        let (status, _, text) = self.send(req, body).await?;
        if status != 207 {
            return Err(Self::status_error(status, &text));
        }
        parse_multistatus(&text)
    }

    /// The URL of the event with `uid` in this collection.
    pub fn event_url(&self, uid: &str) -> String {
        let safe: String = uid
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        format!("{}{safe}.ics", self.collection)
    }

    /// Creates the event `ics` (a VCALENDAR with one VEVENT whose UID is
    /// `uid`) at [`CalDav::event_url`] with `If-None-Match: *`, so it never
    /// overwrites anything. A 412 means a resource is already there: an
    /// earlier attempt of this same write landed but its answer was lost, and
    /// it counts as created (its ETag then unknown).
    ///
    /// Errors: [`CalendarError::Unreachable`], [`CalendarError::Status`].
    pub async fn create(&self, uid: &str, ics: String) -> Result<Created, CalendarError> {
        let href = self.event_url(uid);
        let req = self
            .request(Method::PUT, &href)
            .insert_header(("If-None-Match", "*"))
            .content_type("text/calendar; charset=utf-8");
        let (status, etag, body) = self.send(req, ics).await?;
        match status {
            200..=299 => Ok(Created { href, etag }),
            412 => Ok(Created { href, etag: None }),
            _ => Err(Self::status_error(status, &body)),
        }
    }

    /// The event resource at `href` as stored: its ETag and iCalendar text,
    /// or `None` when it is gone (404, 410).
    ///
    /// Errors: [`CalendarError::Unreachable`], [`CalendarError::Status`].
    pub async fn get(&self, href: &str) -> Result<Option<(Option<String>, String)>, CalendarError> {
        let req = self.request(Method::GET, href);
        let (status, etag, body) = self.send(req, String::new()).await?;
        match status {
            200 => Ok(Some((etag, body))),
            404 | 410 => Ok(None),
            _ => Err(Self::status_error(status, &body)),
        }
    }

    /// Deletes the event at `href`, with `If-Match` when its ETag is known so
    /// an event the owner changed since is not removed blindly. Gone already
    /// (404, 410) counts as deleted.
    ///
    /// Errors: [`CalendarError::Unreachable`], [`CalendarError::Changed`] (412:
    /// the owner edited it), [`CalendarError::Status`].
    pub async fn delete(&self, href: &str, etag: Option<&str>) -> Result<(), CalendarError> {
        let mut req = self.request(Method::DELETE, href);
        if let Some(etag) = etag {
            req = req.insert_header(("If-Match", etag));
        }
        let (status, _, body) = self.send(req, String::new()).await?;
        match status {
            200..=299 | 404 | 410 => Ok(()),
            412 => Err(CalendarError::Changed(href.to_owned())),
            _ => Err(Self::status_error(status, &body)),
        }
    }
}

/// Reads a WebDAV multistatus body (RFC 4918 §13) into its responses;
/// elements are matched by local name, whatever prefixes the server chose.
///
/// Errors: [`CalendarError::Xml`] for malformed XML.
pub fn parse_multistatus(xml: &str) -> Result<Vec<DavResponse>, CalendarError> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<DavResponse> = None;
    let mut path: Vec<Vec<u8>> = Vec::new();
    let xml_err = |e: quick_xml::Error| CalendarError::Xml(e.to_string());
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if name == b"response" {
                    current = Some(DavResponse::default());
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = e.local_name();
                if let Some(r) = current.as_mut() {
                    let parent = path.last().map(Vec::as_slice);
                    match (name.as_ref(), parent) {
                        (b"calendar", Some(b"resourcetype")) => r.is_calendar = true,
                        (b"comp", Some(b"supported-calendar-component-set")) => {
                            let comp = e
                                .try_get_attribute("name")
                                .map_err(|e| xml_err(e.into()))?
                                .map(|a| a.unescape_value().map(|v| v.into_owned()))
                                .transpose()
                                .map_err(xml_err)?;
                            r.components.extend(comp);
                        }
                        _ => {}
                    }
                }
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(xml_err)?;
                take_text(current.as_mut(), &path, &text);
            }
            Event::CData(c) => {
                let text = String::from_utf8_lossy(&c.into_inner()).into_owned();
                take_text(current.as_mut(), &path, &text);
            }
            Event::End(e) => {
                path.pop();
                if e.local_name().as_ref() == b"response" {
                    out.extend(current.take());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn take_text(current: Option<&mut DavResponse>, path: &[Vec<u8>], text: &str) {
    let Some(r) = current else { return };
    match path.last().map(Vec::as_slice) {
        Some(b"href") if path.len() >= 2 && path[path.len() - 2] == b"response" => {
            r.href.push_str(text.trim())
        }
        Some(b"getetag") => r.etag = Some(text.trim().to_owned()),
        Some(b"calendar-data") => r
            .calendar_data
            .get_or_insert_with(String::new)
            .push_str(text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_answer_gives_hrefs_etags_and_calendar_data() {
        let xml = r#"<?xml version="1.0"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <response><href>/dana/cal/a.ics</href>
  <propstat><prop><getetag>"e1"</getetag>
   <C:calendar-data>BEGIN:VCALENDAR&#13;
END:VCALENDAR</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat>
 </response>
 <response><href>/dana/cal/b.ics</href>
  <propstat><prop><getetag>"e2"</getetag><C:calendar-data><![CDATA[BEGIN:VCALENDAR]]></C:calendar-data></prop></propstat>
 </response>
</multistatus>"#;
        let r = parse_multistatus(xml).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].href, "/dana/cal/a.ics");
        assert_eq!(r[0].etag.as_deref(), Some("\"e1\""));
        assert_eq!(
            r[0].calendar_data.as_deref(),
            Some("BEGIN:VCALENDAR\r\nEND:VCALENDAR")
        );
        assert_eq!(r[1].calendar_data.as_deref(), Some("BEGIN:VCALENDAR"));
    }

    #[test]
    fn a_propfind_answer_says_calendar_and_components() {
        let xml = r#"<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/dana/cal/</d:href><d:propstat><d:prop>
<d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
<cal:supported-calendar-component-set><cal:comp name="VTODO"/></cal:supported-calendar-component-set>
</d:prop></d:propstat></d:response></d:multistatus>"#;
        let r = parse_multistatus(xml).unwrap();
        assert!(r[0].is_calendar);
        assert_eq!(r[0].components, vec!["VTODO".to_string()]);
    }

    #[test]
    fn event_urls_stay_inside_the_collection() {
        let dav = CalDav {
            collection: "http://h/cal/".into(),
            username: String::new(),
            password: String::new(),
            tls: None,
        };
        assert_eq!(dav.event_url("../x/a b"), "http://h/cal/..xab.ics");
    }
}
