//! Small helpers shared by the command groups: files, keys, grants and dates.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

use trust_sdk::clock::{now, unix_secs};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Reads a whole file, or standard input for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// Writes `bytes` to `path` (mode 0600, replacing it), or to standard output for `-`.
pub fn write_output(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .context("cannot write standard output")?;
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// The text form of a grant: URL-safe base64 with padding (what `Biscuit::to_base64` and the
/// stock `biscuit` command line write), plus a newline.
pub fn encode_grant(bytes: &[u8]) -> String {
    let mut text = base64::engine::general_purpose::URL_SAFE.encode(bytes);
    text.push('\n');
    text
}

/// Decodes a grant file: URL-safe base64 (padded or not), standard base64, or raw Biscuit bytes.
pub fn decode_grant(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    if let Ok(text) = std::str::from_utf8(bytes) {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if text.is_empty() {
            bail!("the grant is empty");
        }
        for engine in [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD] {
            if let Ok(decoded) = engine.decode(&text) {
                return Ok(decoded);
            }
        }
        if text.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("the grant is not valid base64");
        }
    }
    Ok(bytes.to_vec())
}

/// Reads a grant from a file (or `-` for standard input) and decodes it to Biscuit bytes.
pub fn read_grant(path: &Path) -> anyhow::Result<Vec<u8>> {
    decode_grant(&read_input(path)?).with_context(|| format!("grant `{}`", path.display()))
}

/// Loads a hex secret key written by `trustctl keygen`.
pub fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(trust_sdk::keys::load(path)?)
}

/// Parses a hex public key (`ed25519/` prefix accepted).
pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    Ok(trust_sdk::keys::verifying_key_from_hex(text)?)
}

/// `PermissionDenied` → `PERMISSION_DENIED`: the canonical gRPC code name.
pub fn canonical_code(debug_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug_name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// How an SDK error is shown: RPC refusals as `CODE: message`.
pub fn describe_sdk_error(error: &trust_sdk::SdkError) -> String {
    match error {
        trust_sdk::SdkError::Rpc { code, message } => {
            format!("{}: {message}", canonical_code(code))
        }
        other => other.to_string(),
    }
}

/// Converts an SDK error into an anyhow error that shows the gRPC code canonically.
pub fn sdk(error: trust_sdk::SdkError) -> anyhow::Error {
    anyhow!(describe_sdk_error(&error))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats Unix seconds as RFC 3339 in UTC (`2025-01-31T12:00:00Z`).
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub fn format_time(t: SystemTime) -> String {
    format_rfc3339(unix_secs(t))
}

/// Parses RFC 3339 (`2025-01-31T12:00:00Z`, `2025-01-31T14:00:00.5+02:00`) to Unix milliseconds.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not an RFC 3339 date-time such as 2025-01-31T12:00:00Z");
    let s = text.trim();
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(range).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut rest = s.get(19..).ok_or_else(bad)?;
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(bad());
        }
        let padded: String = digits.chars().chain("000".chars()).take(3).collect();
        millis = padded.parse().map_err(|_| bad())?;
        rest = frac.get(digits.len()..).ok_or_else(bad)?;
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || !matches!(ob[0], b'+' | b'-') || ob[3] != b':' {
                return Err(bad());
            }
            let h: i64 = rest
                .get(1..3)
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?;
            let m: i64 = rest
                .get(4..6)
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)?;
            let sign = if ob[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Ok(secs * 1000 + millis)
}

/// `in 14m 59s` / `expired 3s ago`, relative to now.
pub fn relative(t: SystemTime) -> String {
    let now = unix_secs(now());
    let then = unix_secs(t);
    let span = |s: i64| {
        let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
        match (h, m) {
            (0, 0) => format!("{sec}s"),
            (0, _) => format!("{m}m {sec}s"),
            _ => format!("{h}h {m}m"),
        }
    };
    if then >= now {
        format!("in {}", span(then - now))
    } else {
        format!("{} ago", span(now - then))
    }
}

/// `NAME=VALUE` split at the first `=`; `what` names the flag in errors.
pub(crate) fn parse_pair(text: &str, what: &str) -> anyhow::Result<(String, String)> {
    let (left, right) = text
        .split_once('=')
        .ok_or_else(|| anyhow!("{what} `{text}` must be written NAME=VALUE"))?;
    if left.is_empty() {
        bail!("{what} `{text}` has an empty name");
    }
    Ok((left.to_string(), right.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T12:34:56.789Z").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(format_rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T14:34:56+02:00").unwrap(),
            parse_rfc3339_ms("2024-02-29T12:34:56Z").unwrap()
        );
        assert!(parse_rfc3339_ms("2024-02-29").is_err());
        assert!(parse_rfc3339_ms("2024-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn grant_encodings() {
        let bytes = vec![0xfb, 0xff, 0x01, 0x02];
        let text = encode_grant(&bytes);
        assert_eq!(text, "-_8BAg==\n");
        assert_eq!(decode_grant(text.as_bytes()).unwrap(), bytes);
        assert_eq!(decode_grant(b"-_8BAg").unwrap(), bytes);
        assert_eq!(decode_grant(b"+/8BAg==").unwrap(), bytes);
        assert_eq!(canonical_code("PermissionDenied"), "PERMISSION_DENIED");
    }
}
