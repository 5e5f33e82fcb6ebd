//! Redaction at rest (`[[tenants]] redact = ["card_number", "us_ssn"]`): what
//! a caller reads out — a card number, a Social Security number — is replaced
//! by a placeholder in what switchboard stores (transcripts, tool arguments
//! and results, messages, summaries). The live call is not changed: the model
//! heard the digits and may need them for the turn. Pure functions.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One kind of number to redact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redaction {
    /// A payment card number: 13–19 digits (single spaces or dashes between
    /// them allowed) whose check digit passes the Luhn algorithm (ISO/IEC
    /// 7812-1 Annex B) → `[card number]`.
    CardNumber,
    /// A US Social Security number, `AAA-GG-SSSS` (dashes, spaces or none)
    /// with a valid area (not 000, 666 or 900–999), group (not 00) and serial
    /// (not 0000), per the SSA's numbering rules → `[ssn]`.
    UsSsn,
}

/// What a redacted card number becomes.
pub const CARD_PLACEHOLDER: &str = "[card number]";
/// What a redacted SSN becomes.
pub const SSN_PLACEHOLDER: &str = "[ssn]";

/// Candidate card numbers: a digit, then 12–18 more, each maybe after one
/// space or dash; not inside a longer run of digits.
#[allow(
    clippy::expect_used,
    reason = "a literal pattern the regex crate accepts; every unit test below compiles it"
)]
static CARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^0-9])(\d(?:[ -]?\d){12,18})(?:$|[^0-9])").expect("a literal pattern")
});

/// Candidate SSNs: 3, 2 and 4 digits, separated alike or not at all.
#[allow(
    clippy::expect_used,
    reason = "a literal pattern the regex crate accepts; every unit test below compiles it"
)]
static SSN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^0-9])(\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})(?:$|[^0-9])")
        .expect("a literal pattern")
});

/// `text` with every number of `kinds` replaced by its placeholder; borrowed
/// unchanged when there is nothing to redact.
pub fn redact<'a>(text: &'a str, kinds: &[Redaction]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    // Cards first: their runs are longer and may hold an SSN-shaped part.
    if kinds.contains(&Redaction::CardNumber) {
        out = replace(out, &CARD, is_card_number, CARD_PLACEHOLDER);
    }
    if kinds.contains(&Redaction::UsSsn) {
        out = replace(out, &SSN, is_ssn, SSN_PLACEHOLDER);
    }
    out
}

/// Replaces the first capture group of each `pattern` match that `accept`
/// accepts. Matches are found one at a time from the end of the last one, so
/// two candidates sharing a separator are both seen.
fn replace<'a>(
    text: Cow<'a, str>,
    pattern: &Regex,
    accept: fn(&str) -> bool,
    placeholder: &str,
) -> Cow<'a, str> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(caps) = pattern.captures_at(&text, at) {
        let Some(found) = caps.get(1) else { break };
        if accept(found.as_str()) {
            spans.push(found.range());
        }
        // Resume at the candidate's end: its trailing non-digit may open the next.
        at = found.end();
    }
    if spans.is_empty() {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in spans {
        out.push_str(&text[last..span.start]);
        out.push_str(placeholder);
        last = span.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

fn digits(candidate: &str) -> Vec<u32> {
    candidate.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// 13–19 digits whose Luhn sum is a multiple of 10.
fn is_card_number(candidate: &str) -> bool {
    let digits = digits(candidate);
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An SSN the SSA could have issued: area not 000, 666 or 9xx; group not 00;
/// serial not 0000.
fn is_ssn(candidate: &str) -> bool {
    let d = digits(candidate);
    if d.len() != 9 {
        return false;
    }
    let number = |ds: &[u32]| ds.iter().fold(0, |n, &x| n * 10 + x);
    let (area, group, serial) = (number(&d[..3]), number(&d[3..5]), number(&d[5..]));
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Redaction] = &[Redaction::CardNumber, Redaction::UsSsn];

    #[test]
    fn card_numbers_that_pass_luhn_are_redacted_in_any_spacing() {
        for said in [
            "my card is 4242424242424242 thanks",
            "my card is 4242 4242 4242 4242 thanks",
            "my card is 4242-4242-4242-4242 thanks",
            "my card is 3782 822463 10005 thanks", // Amex test number, 15 digits
        ] {
            assert_eq!(
                redact(said, BOTH),
                "my card is [card number] thanks",
                "{said}"
            );
        }
    }

    #[test]
    fn digit_runs_failing_luhn_or_too_short_stay() {
        for said in [
            "order 4242424242424241 please",
            "call me at +1 555 010 0001",
            "reference 1234567890123",
        ] {
            assert_eq!(redact(said, BOTH), said);
        }
    }

    #[test]
    fn ssns_are_redacted_and_impossible_ones_stay() {
        assert_eq!(redact("ssn 123-45-6789.", BOTH), "ssn [ssn].");
        assert_eq!(redact("ssn 123 45 6789", BOTH), "ssn [ssn]");
        assert_eq!(redact("123456789", BOTH), "[ssn]");
        for kept in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert_eq!(redact(kept, BOTH), kept);
        }
    }

    #[test]
    fn only_the_kinds_asked_for_are_redacted() {
        let said = "card 4242424242424242 ssn 123-45-6789";
        assert_eq!(
            redact(said, &[Redaction::UsSsn]),
            "card 4242424242424242 ssn [ssn]"
        );
        assert_eq!(
            redact(said, &[Redaction::CardNumber]),
            "card [card number] ssn 123-45-6789"
        );
        assert!(matches!(redact(said, &[]), Cow::Borrowed(_)));
    }

    #[test]
    fn two_numbers_in_a_row_are_both_redacted() {
        assert_eq!(
            redact("4242424242424242 and 5555555555554444", BOTH),
            "[card number] and [card number]"
        );
    }
}
