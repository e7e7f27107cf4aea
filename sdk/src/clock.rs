//! The wall clock, read only at the edges, and the Unix-millisecond form messages carry.

use std::time::{Duration, SystemTime};

/// The wall clock. Services read it at their edge and pass it into policy and minting.
#[expect(
    clippy::disallowed_methods,
    reason = "the one place the wall clock is read"
)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    millis(now())
}

/// Milliseconds since the Unix epoch (0 before it, `i64::MAX` past the range).
pub fn millis(t: SystemTime) -> i64 {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `ms` milliseconds after the Unix epoch (the epoch itself for negative values).
pub fn from_millis(ms: i64) -> SystemTime {
    match u64::try_from(ms) {
        Ok(ms) => SystemTime::UNIX_EPOCH + Duration::from_millis(ms),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// Whole seconds since the Unix epoch.
pub fn unix_secs(t: SystemTime) -> i64 {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let t = from_millis(1_709_210_096_789);
        assert_eq!(millis(t), 1_709_210_096_789);
        assert_eq!(unix_secs(t), 1_709_210_096);
        assert_eq!(from_millis(-5), SystemTime::UNIX_EPOCH);
        assert_eq!(millis(SystemTime::UNIX_EPOCH), 0);
    }
}
