//! `[tenants.calendar]`: where a tenant's own calendar lives — a CalDAV
//! calendar collection (RFC 4791 §4.2) and the account that may read and
//! write it. The password never sits in the file: `password_env` names the
//! environment variable holding it (an app password for Nextcloud, Fastmail
//! or iCloud).

use serde::{Deserialize, Serialize};

/// One tenant's CalDAV calendar.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// URL of the calendar collection (`https://cloud.example.com/remote.php/dav/calendars/dana/personal/`);
    /// events are created as `{caldav_url}/{uid}.ics`.
    pub caldav_url: String,
    /// The account's user name (HTTP Basic authentication, RFC 7617).
    pub username: String,
    /// Name of the environment variable holding the password or app password.
    pub password_env: String,
}

impl CalendarConfig {
    /// The collection URL with exactly one trailing `/` (RFC 4791 §5.3.2:
    /// a collection's members are addressed below it).
    pub fn collection_url(&self) -> String {
        format!("{}/", self.caldav_url.trim_end_matches('/'))
    }

    /// Checks the URL and the variable name; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let url_ok = url::Url::parse(&self.caldav_url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !url_ok {
            return Err(format!(
                "caldav_url {:?} is not an http:// or https:// URL",
                self.caldav_url
            ));
        }
        if self.password_env.trim().is_empty() {
            return Err("password_env: name the environment variable holding the password".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> CalendarConfig {
        CalendarConfig {
            caldav_url: url.into(),
            username: "dana".into(),
            password_env: "ACME_CALDAV_PASSWORD".into(),
        }
    }

    #[test]
    fn collection_url_ends_in_one_slash() {
        assert_eq!(config("http://h/cal//").collection_url(), "http://h/cal/");
        assert_eq!(config("http://h/cal").collection_url(), "http://h/cal/");
    }

    #[test]
    fn validate_names_a_bad_url() {
        assert!(config("ftp://h/cal").validate().is_err());
        assert!(config("https://h/cal/").validate().is_ok());
    }
}
