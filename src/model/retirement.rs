//! Model ids with an announced shutdown, and the start-up check against them:
//! a configured id on the list logs a WARN with its date and replacement
//! while the date is ahead, and refuses start-up once it has passed (every
//! call would fail at the provider).
//!
//! Sources (read 2026-12-04; docs/models.md keeps them in our words): OpenAI's
//! deprecations page (developers.openai.com/api/docs/deprecations) — its
//! 2026-04-22 notice (shutdown 2026-07-23), the gpt-4o preview realtime group
//! (shutdown 2026-05-07), and the realtime/audio notice for 2027-01-20 as
//! summarised by integrators (Retell's 2027-01-19 model-replacement notice);
//! the transcription models' 2027-02-26 shutdown from the same page.

use chrono::NaiveDate;

/// One model id OpenAI has scheduled for shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retirement {
    /// The model id as configured (`gpt-realtime`).
    pub id: &'static str,
    /// The first day the id stops working.
    pub shutdown: (i32, u32, u32),
    /// OpenAI's recommended replacement.
    pub replacement: &'static str,
}

/// Every id with an announced shutdown that switchboard could be configured
/// with (realtime voice and transcription models).
pub const RETIREMENTS: &[Retirement] = &[
    Retirement {
        id: "gpt-4o-realtime-preview",
        shutdown: (2026, 5, 7),
        replacement: "gpt-realtime-1.5",
    },
    Retirement {
        id: "gpt-4o-realtime-preview-2024-12-17",
        shutdown: (2026, 5, 7),
        replacement: "gpt-realtime-1.5",
    },
    Retirement {
        id: "gpt-4o-realtime-preview-2025-06-03",
        shutdown: (2026, 5, 7),
        replacement: "gpt-realtime-1.5",
    },
    Retirement {
        id: "gpt-4o-mini-realtime-preview",
        shutdown: (2026, 5, 7),
        replacement: "gpt-realtime-mini",
    },
    Retirement {
        id: "gpt-4o-mini-realtime-preview-2024-12-17",
        shutdown: (2026, 7, 23),
        replacement: "gpt-realtime-mini",
    },
    Retirement {
        id: "gpt-realtime-mini-2025-10-06",
        shutdown: (2026, 7, 23),
        replacement: "gpt-realtime-mini",
    },
    Retirement {
        id: "gpt-realtime",
        shutdown: (2027, 1, 20),
        replacement: "gpt-realtime-2.1",
    },
    Retirement {
        id: "gpt-realtime-2025-08-28",
        shutdown: (2027, 1, 20),
        replacement: "gpt-realtime-2.1",
    },
    Retirement {
        id: "gpt-realtime-mini",
        shutdown: (2027, 1, 20),
        replacement: "gpt-realtime-2.1-mini",
    },
    Retirement {
        id: "whisper-1",
        shutdown: (2027, 2, 26),
        replacement: "gpt-live-transcribe",
    },
    Retirement {
        id: "gpt-4o-transcribe",
        shutdown: (2027, 2, 26),
        replacement: "gpt-live-transcribe",
    },
    Retirement {
        id: "gpt-4o-mini-transcribe",
        shutdown: (2027, 2, 26),
        replacement: "gpt-live-transcribe",
    },
];

impl Retirement {
    /// The shutdown day as a date.
    pub fn date(&self) -> NaiveDate {
        let (y, m, d) = self.shutdown;
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MAX)
    }
}

/// The entry for `id`, if it has an announced shutdown.
pub fn lookup(id: &str) -> Option<&'static Retirement> {
    RETIREMENTS.iter().find(|r| r.id == id.trim())
}

/// A configured id past its shutdown date: start-up refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {id:?} was shut down by OpenAI on {date}; use {replacement:?} instead")]
pub struct RetiredModel {
    /// Where it is configured (`model.model`, `tenants[acme].…`).
    pub key: String,
    pub id: String,
    pub date: NaiveDate,
    pub replacement: &'static str,
}

/// Checks `(key, id)` pairs on `today`: the warnings for ids whose shutdown
/// is ahead (one line each, with date and replacement), or the first id
/// already shut down.
///
/// # Errors
/// [`RetiredModel`] for the first id whose shutdown date is today or past.
pub fn check<'a>(
    ids: impl IntoIterator<Item = (String, &'a str)>,
    today: NaiveDate,
) -> Result<Vec<String>, RetiredModel> {
    let mut warnings = Vec::new();
    for (key, id) in ids {
        let Some(r) = lookup(id) else {
            continue;
        };
        if today >= r.date() {
            return Err(RetiredModel {
                key,
                id: id.trim().to_string(),
                date: r.date(),
                replacement: r.replacement,
            });
        }
        warnings.push(format!(
            "{key} = {:?} shuts down on {} (OpenAI); switch to {:?} before then",
            id.trim(),
            r.date(),
            r.replacement
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn ahead_warns_with_date_and_past_refuses() {
        let ids = || vec![("model.model".to_string(), "gpt-realtime")];
        let warnings = check(ids(), day(2026, 12, 4)).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("2027-01-20") && warnings[0].contains("gpt-realtime-2.1"));
        let err = check(ids(), day(2027, 1, 20)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model.model = \"gpt-realtime\" was shut down by OpenAI on 2027-01-20; use \"gpt-realtime-2.1\" instead"
        );
        assert!(
            check(vec![("m".into(), "gpt-realtime-2.1")], day(2030, 1, 1))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn every_date_is_a_real_day() {
        for r in RETIREMENTS {
            assert_ne!(r.date(), NaiveDate::MAX, "{}", r.id);
            assert!(
                lookup(r.replacement).is_none_or(|n| n.date() > r.date()),
                "{}",
                r.id
            );
        }
    }
}
