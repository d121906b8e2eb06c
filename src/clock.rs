//! Virtual time. The core never reads a wall clock: the driver (or a headless loop) advances it
//! in fixed ticks, so the same inputs always meet the same instants.

use serde::Serialize;
use std::fmt;

/// Length of one fixed simulation step. 10 ms is fine enough for the ball's physics and coarse
/// enough that an hour of game time is only 360,000 steps.
pub const TICK_MS: u64 = 10;

/// The default instant that virtual time zero maps to in object timestamps
/// (`creationTimestamp`, `lastHeartbeatTime`): fixed, so headless runs replay byte for byte.
pub const EPOCH_UNIX_SECONDS: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

static EPOCH: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(EPOCH_UNIX_SECONDS);

/// Interactive shells (`serve`, `play`) anchor virtual time zero at their start, so the
/// timestamps kubectl reads ages from are real. The core never reads a clock itself: it is
/// told. Digests do not depend on this (they hash game milliseconds).
pub fn set_epoch(unix_seconds: i64) {
    EPOCH.store(unix_seconds, std::sync::atomic::Ordering::Relaxed);
}

fn epoch() -> i64 {
    EPOCH.load(std::sync::atomic::Ordering::Relaxed)
}

/// Milliseconds of game time since the world started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    pub fn from_secs_f64(secs: f64) -> Millis {
        Millis((secs.max(0.0) * 1000.0).round() as u64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn saturating_sub(self, other: Millis) -> Millis {
        Millis(self.0.saturating_sub(other.0))
    }

    /// RFC 3339 with second precision, as Kubernetes writes `metav1.Time`.
    pub fn to_rfc3339(self) -> String {
        let secs = epoch() + (self.0 / 1000) as i64;
        jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_default()
    }

    /// RFC 3339 with microseconds, as Kubernetes writes `metav1.MicroTime` (Lease renewTime).
    pub fn to_rfc3339_micros(self) -> String {
        let secs = epoch() + (self.0 / 1000) as i64;
        let micros = (self.0 % 1000) * 1000;
        match jiff::Timestamp::from_second(secs) {
            Ok(t) => {
                let whole = t.strftime("%Y-%m-%dT%H:%M:%S").to_string();
                format!("{whole}.{micros:06}Z")
            }
            Err(_) => String::new(),
        }
    }

    /// Parses what [`Millis::to_rfc3339`] and [`Millis::to_rfc3339_micros`] write (and any RFC
    /// 3339 instant) back to game time; instants before the epoch clamp to zero.
    pub fn parse_rfc3339(text: &str) -> Option<Millis> {
        let ts: jiff::Timestamp = text.parse().ok()?;
        let ms = ts.as_millisecond() - epoch() * 1000;
        Some(Millis(ms.max(0) as u64))
    }
}

impl std::ops::Add for Millis {
    type Output = Millis;
    fn add(self, rhs: Millis) -> Millis {
        Millis(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Millis {
    /// `m:ss.t`, the game clock's face.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = self.0 / 100;
        write!(f, "{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
    }
}

/// Parses durations the way people write them on a command line: `500ms`, `2s`, `1.5s`, `5m`,
/// `1h`, or `1m30s`.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("bad duration {text:?}: expected a number, e.g. 5s or 1m30s"));
        }
        let value: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("bad duration {text:?}: {:?} is not a number", &rest[..number_len]))?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("bad duration {text:?}: missing unit (ms, s, m or h)")),
            unit => return Err(format!("bad duration {text:?}: unknown unit {unit:?} (use ms, s, m or h)")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(Millis::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl_flags() {
        assert_eq!(parse_duration("500ms"), Ok(Millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Millis(2000)));
        assert_eq!(parse_duration("1.5s"), Ok(Millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Millis(90_000)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let t = Millis(61_250);
        assert_eq!(t.to_rfc3339(), "2026-01-01T00:01:01Z");
        assert_eq!(t.to_rfc3339_micros(), "2026-01-01T00:01:01.250000Z");
        assert_eq!(Millis::parse_rfc3339(&t.to_rfc3339_micros()), Some(t));
        assert_eq!(t.to_string(), "1:01.2");
    }
}
