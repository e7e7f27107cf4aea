//! Replaces secret values and their encodings ([`super::encodings::forms`]) with a marker
//! naming the secret (`[secret:npm-token]`), over a whole captured output (so a value a child
//! wrote in two pieces is found whole) and over anything bound for a record or a log. Hex is
//! matched in any mix of cases.

use std::borrow::Cow;

use regex::bytes::{Regex, RegexBuilder};

use super::encodings::forms;
use super::SecretValue;

/// Shortest tail of a truncated output that is scrubbed when it is the start of a form.
const MIN_TAIL_BYTES: usize = 4;

/// A scrubber for the values in use by one execution.
#[derive(Debug, Default)]
pub struct Scrubber {
    /// Every form, longest first, with the marker of its secret.
    forms: Vec<(Vec<u8>, String)>,
    /// Hex forms: matched in any mix of cases.
    hex_forms: Vec<Vec<u8>>,
    matcher: Option<Regex>,
}

/// The marker that replaces a form of secret `name`.
pub fn marker(name: &str) -> String {
    format!("[secret:{name}]")
}

impl Scrubber {
    /// A scrubber for `(name, value)` pairs; empty input scrubs nothing.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a SecretValue)>) -> Self {
        let mut all: Vec<(Vec<u8>, String)> = Vec::new();
        let mut hex_forms = Vec::new();
        for (name, value) in secrets {
            hex_forms.push(hex::encode(value.as_bytes()).into_bytes());
            for form in forms(value.as_bytes()) {
                all.push((form, marker(name)));
            }
        }
        // Longest first: the regex alternation prefers the earlier branch at a position.
        all.sort_by_key(|f| std::cmp::Reverse(f.0.len()));
        all.dedup_by(|a, b| a.0 == b.0);
        if all.is_empty() {
            return Scrubber::default();
        }
        let pattern = all
            .iter()
            .map(
                |(form, _)| match hex_forms.iter().any(|h| h.eq_ignore_ascii_case(form)) {
                    true => format!("(?i:{})", escape_bytes(form)),
                    false => escape_bytes(form),
                },
            )
            .collect::<Vec<_>>()
            .join("|");
        let matcher = RegexBuilder::new(&pattern)
            .unicode(false)
            .size_limit(64 << 20)
            .build()
            .ok();
        Scrubber {
            forms: all,
            hex_forms,
            matcher,
        }
    }

    /// Whether there is anything to scrub.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `data` with every form replaced by its marker. `truncated`: the output was cut at a
    /// cap, so a tail that begins a form (a value cut in half) is replaced too.
    pub fn scrub<'d>(&self, data: &'d [u8], truncated: bool) -> Cow<'d, [u8]> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(data);
        };
        let mut out: Cow<'d, [u8]> = if matcher.is_match(data) {
            Cow::Owned(
                matcher
                    .replace_all(data, |caps: &regex::bytes::Captures<'_>| {
                        let found = caps.get(0).map(|m| m.as_bytes()).unwrap_or_default();
                        self.marker_of(found).as_bytes().to_vec()
                    })
                    .into_owned(),
            )
        } else {
            Cow::Borrowed(data)
        };
        if truncated {
            if let Some((start, name)) = self.partial_tail(&out) {
                let mut owned = out.into_owned();
                owned.truncate(start);
                owned.extend_from_slice(name.as_bytes());
                out = Cow::Owned(owned);
            }
        }
        out
    }

    /// [`Self::scrub`] for text (a status, a message, a record field).
    pub fn scrub_str<'s>(&self, text: &'s str) -> Cow<'s, str> {
        match self.scrub(text.as_bytes(), false) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    fn marker_of(&self, found: &[u8]) -> &str {
        self.forms
            .iter()
            .find(|(form, _)| form == found)
            .or_else(|| {
                self.forms.iter().find(|(form, _)| {
                    form.eq_ignore_ascii_case(found)
                        && self.hex_forms.iter().any(|h| h.eq_ignore_ascii_case(found))
                })
            })
            .map_or("[secret]", |(_, m)| m.as_str())
    }

    /// The longest tail of `data` (at least [`MIN_TAIL_BYTES`]) that is a proper prefix of a
    /// form: where it starts and the marker.
    fn partial_tail(&self, data: &[u8]) -> Option<(usize, &str)> {
        let mut best: Option<(usize, &str)> = None;
        for (form, name) in &self.forms {
            let longest = (form.len() - 1).min(data.len());
            for len in (MIN_TAIL_BYTES..=longest).rev() {
                if data.ends_with(&form[..len]) {
                    let start = data.len() - len;
                    if best.is_none_or(|(s, _)| start < s) {
                        best = Some((start, name.as_str()));
                    }
                    break;
                }
            }
        }
        best
    }
}

/// A regex (bytes, no Unicode) matching `bytes` literally.
fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
