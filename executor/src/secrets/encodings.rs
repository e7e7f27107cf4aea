//! The forms a secret value may leak in: raw, reversed, hex (both cases), base64 and base64url
//! at each of the three byte alignments (the characters only the value determines, so the
//! value is found inside a longer encoded stream too), URL-encoded (both hex cases, minimal and
//! every byte), and JSON-escaped. The scrubber replaces these forms and the fingerprint set
//! digests them.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;

/// Every distinct form of `value`, longest first.
pub fn forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![value.to_vec(), value.iter().rev().copied().collect()];
    out.push(hex::encode(value).into_bytes());
    out.push(hex::encode_upper(value).into_bytes());
    out.push(STANDARD.encode(value).into_bytes());
    out.push(URL_SAFE.encode(value).into_bytes());
    for shift in 0..3 {
        out.push(aligned_base64_core(value, shift, &STANDARD_NO_PAD));
        out.push(aligned_base64_core(value, shift, &URL_SAFE_NO_PAD));
    }
    for upper in [true, false] {
        out.push(percent_encode(value, upper, false));
        out.push(percent_encode(value, upper, true));
    }
    if let Ok(text) = std::str::from_utf8(value) {
        if let Ok(json) = serde_json::to_string(text) {
            let inner = json.trim_start_matches('"').trim_end_matches('"');
            out.push(inner.as_bytes().to_vec());
            out.push(inner.replace('/', "\\/").into_bytes());
        }
    }
    out.retain(|f| !f.is_empty());
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// The base64 characters of `value` that do not depend on its neighbours when it starts
/// `shift` bytes (0, 1 or 2) into a 3-byte group of a longer stream.
pub fn aligned_base64_core(value: &[u8], shift: usize, engine: &impl Engine) -> Vec<u8> {
    let mut shifted = vec![0u8; shift];
    shifted.extend_from_slice(value);
    let encoded = engine.encode(&shifted).into_bytes();
    // Character i covers bits [6i, 6i + 6) of the stream: drop those that touch the `shift`
    // neighbour bytes before, and those that run past the value's last bit.
    let first = (shift * 8).div_ceil(6);
    let end = (shifted.len() * 8) / 6;
    encoded
        .get(first..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// URL-encoding of `value`: every byte outside the unreserved set (`every_byte`: every byte)
/// as `%XX`, with upper- or lower-case hex.
pub fn percent_encode(value: &[u8], upper: bool, every_byte: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved && !every_byte {
            out.push(b);
        } else if upper {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        }
    }
    out
}
