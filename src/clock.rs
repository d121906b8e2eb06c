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

/// The instant virtual time zero maps to in object timestamps: a World's own (its store
/// carries it), so two Worlds in one process stamp independently. Headless runs keep
/// [`EPOCH_UNIX_SECONDS`]; interactive shells (`serve`, `play`) anchor it at their start, so the
/// timestamps kubectl reads ages from are real. The core never reads a clock itself: it is told.
/// Digests do not depend on it (they hash game milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    unix_seconds: i64,
    /// Where the World's resourceVersions start (after it); see
    /// [`Epoch::with_resource_version_base`].
    resource_version_base: u64,
}

impl Default for Epoch {
    fn default() -> Epoch {
        Epoch { unix_seconds: EPOCH_UNIX_SECONDS, resource_version_base: 0 }
    }
}

impl Epoch {
    /// Virtual time zero at this many seconds since 1970 (UTC).
    pub fn at_unix_seconds(unix_seconds: i64) -> Epoch {
        Epoch { unix_seconds, resource_version_base: 0 }
    }

    /// The same epoch, its World's resourceVersions starting after `base`. A live server's
    /// store starts afresh where etcd would keep its revision, so a server passes a base that
    /// grows with real time (a thousand per millisecond since 1970): it then starts past every
    /// version an earlier server process issued, and a client resuming from one is told to
    /// relist. Headless runs start at 0; nothing but the versions themselves depends on it.
    pub fn with_resource_version_base(self, base: u64) -> Epoch {
        Epoch { resource_version_base: base, ..self }
    }

    pub fn resource_version_base(self) -> u64 {
        self.resource_version_base
    }

    /// Seconds since 1970 (UTC) that virtual time zero stands for (an input log records it).
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// RFC 3339 with second precision, as Kubernetes writes `metav1.Time`.
    pub fn stamp(self, at: Millis) -> String {
        self.format(at, false)
    }

    /// RFC 3339 with microseconds, as Kubernetes writes `metav1.MicroTime` (Lease renewTime).
    pub fn stamp_micros(self, at: Millis) -> String {
        self.format(at, true)
    }

    /// [`Epoch::stamp_micros`] written into `into`, reusing its allocation (a Lease renewal
    /// overwrites the copy's previous renewTime).
    pub fn stamp_micros_into(self, at: Millis, into: &mut String) {
        into.clear();
        self.write_or_nothing(at, true, into);
    }

    /// [`Epoch::stamp`] held inline (a second-precision stamp is 20 bytes): an Event's
    /// timestamps cost no allocation, nor do their copies.
    pub fn stamp_compact(self, at: Millis) -> compact_str::CompactString {
        let mut text = compact_str::CompactString::const_new("");
        if self.write(at, false, &mut text).is_err() {
            text.clear();
        }
        text
    }

    /// Formatted straight into one allocation: every Lease renewal and pod start stamps a time,
    /// thousands per game second on the stadium.
    fn format(self, at: Millis, micros: bool) -> String {
        let mut text = String::with_capacity(if micros { 27 } else { 20 });
        self.write_or_nothing(at, micros, &mut text);
        text
    }

    /// Appends the stamp to `text`, or nothing for an instant past what RFC 3339 can write.
    fn write_or_nothing(self, at: Millis, micros: bool, text: &mut String) {
        let start = text.len();
        if self.write(at, micros, text).is_err() {
            text.truncate(start);
        }
    }

    /// Appends the stamp to `text`; an error leaves a partial stamp for the caller to drop.
    /// Digits are written by hand, not through `write!`: every pod write stamps a time.
    fn write(self, at: Millis, micros: bool, text: &mut impl fmt::Write) -> fmt::Result {
        let secs = self.unix_seconds.saturating_add((at.0 / 1000) as i64);
        let t = jiff::Timestamp::from_second(secs).map_err(|_| fmt::Error)?;
        let d = jiff::tz::Offset::UTC.to_datetime(t);
        // RFC 3339 years are four digits: jiff's range is -9999..=9999, and a negative year
        // has no RFC 3339 form.
        let year = u32::try_from(d.year()).map_err(|_| fmt::Error)?;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, d.month() as u32);
        put(8, 2, d.day() as u32);
        put(11, 2, d.hour() as u32);
        put(14, 2, d.minute() as u32);
        put(17, 2, d.second() as u32);
        let len = if micros {
            put(20, 6, ((at.0 % 1000) * 1000) as u32);
            buf.len()
        } else {
            buf[19] = b'Z';
            20
        };
        text.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }

    /// Parses what [`Epoch::stamp`] and [`Epoch::stamp_micros`] write (and any RFC 3339
    /// instant) back to game time; instants before the epoch clamp to zero.
    pub fn parse(self, text: &str) -> Option<Millis> {
        let ts: jiff::Timestamp = text.parse().ok()?;
        let ms = ts.as_millisecond() - self.unix_seconds * 1000;
        Some(Millis(ms.max(0) as u64))
    }
}

/// A World's clock read at one instant: game time now, and where game time zero is in the
/// timestamps its objects carry (what a shell needs to show an object's age).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub now: Millis,
    pub epoch: Epoch,
}

impl Reading {
    /// How long ago a timestamp written by this World was.
    pub fn age_of(self, stamp: &str) -> Option<Millis> {
        self.epoch.parse(stamp).map(|at| self.now.saturating_sub(at))
    }
}

/// Milliseconds of game time since the world started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    /// Reads back the game clock's face (`m:ss.t`, as `Display` writes it), to the tenth.
    pub fn parse_clock(face: &str) -> Option<Millis> {
        let (minutes, rest) = face.split_once(':')?;
        let (seconds, tenths) = rest.split_once('.')?;
        let (minutes, seconds, tenths): (u64, u64, u64) =
            (minutes.parse().ok()?, seconds.parse().ok()?, tenths.parse().ok()?);
        if seconds >= 60 || tenths >= 10 {
            return None;
        }
        let tenths = minutes.checked_mul(600)?.checked_add(seconds * 10 + tenths)?;
        Some(Millis(tenths.checked_mul(100)?))
    }

    pub fn from_secs_f64(secs: f64) -> Millis {
        Millis((secs.max(0.0) * 1000.0).round() as u64)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn saturating_sub(self, other: Millis) -> Millis {
        Millis(self.0.saturating_sub(other.0))
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
        let epoch = Epoch::default();
        assert_eq!(epoch.stamp(t), "2026-01-01T00:01:01Z");
        assert_eq!(epoch.stamp_micros(t), "2026-01-01T00:01:01.250000Z");
        assert_eq!(epoch.parse(&epoch.stamp_micros(t)), Some(t));
        let mut reused = "2025-12-31T23:59:59.999000Z".to_string();
        epoch.stamp_micros_into(t, &mut reused);
        assert_eq!(reused, epoch.stamp_micros(t), "the old stamp is overwritten, not appended to");
        assert_eq!(t.to_string(), "1:01.2");
    }

    #[test]
    fn the_clock_face_reads_back_to_the_tenth() {
        for ms in [0, 99, 1_250, 61_250, 3_599_900, 7_322_100] {
            let face = Millis(ms).to_string();
            assert_eq!(Millis::parse_clock(&face), Some(Millis(ms / 100 * 100)), "{face}");
        }
        for bad in ["", "1:01", "1.2", "1:60.0", "1:01.10", "x:01.2", "-1:01.2"] {
            assert_eq!(Millis::parse_clock(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hand_written_digits_agree_with_jiff_on_every_field() {
        // A leap day, the last second of a year, a single-digit everything, an epoch before 1970.
        for (unix, at) in [(1_709_164_799, 1_500), (1_767_225_599, 999), (946_684_800, 3_723_004), (-86_400, 7)] {
            let epoch = Epoch::at_unix_seconds(unix);
            let expected = jiff::Timestamp::from_second(unix + (at / 1000) as i64).unwrap();
            let micros = format!("{}.{:06}Z", expected.strftime("%Y-%m-%dT%H:%M:%S"), (at % 1000) * 1000);
            assert_eq!(epoch.stamp(Millis(at)), expected.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
            assert_eq!(epoch.stamp_compact(Millis(at)), epoch.stamp(Millis(at)));
            assert_eq!(epoch.stamp_micros(Millis(at)), micros);
            assert_eq!(epoch.parse(&epoch.stamp_micros(Millis(at))), Some(Millis(at)));
        }
        // Past what RFC 3339 can write: nothing, not a partial stamp.
        assert_eq!(Epoch::at_unix_seconds(i64::MAX / 2).stamp(Millis(0)), "");
        assert_eq!(Epoch::at_unix_seconds(i64::MAX / 2).stamp_compact(Millis(0)), "");
    }

    #[test]
    fn each_epoch_stamps_its_own_instants() {
        let (a, b) = (Epoch::default(), Epoch::at_unix_seconds(EPOCH_UNIX_SECONDS + 3_600));
        assert_eq!(a.stamp(Millis(1_000)), "2026-01-01T00:00:01Z");
        assert_eq!(b.stamp(Millis(1_000)), "2026-01-01T01:00:01Z");
        // The same text is a different game time to each.
        assert_eq!(b.parse("2026-01-01T01:00:01Z"), Some(Millis(1_000)));
        assert_eq!(a.parse("2026-01-01T01:00:01Z"), Some(Millis(3_601_000)));
    }
}
