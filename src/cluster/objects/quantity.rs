//! Kubernetes resource quantities (`500m`, `2`, `1Gi`, `512Mi`, `1G`, `1e3`).
//!
//! Stored as thousandths of the base unit (millicores for cpu, millibytes for memory) in an
//! `i64`, like upstream's `MilliValue()`, so the scheduler adds integers and never floats.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a quantity did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not a number followed by an optional known suffix.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {0:?})")]
    Malformed(String),
    /// The value does not fit in 64 bits of milli-units.
    #[error("quantity {0:?} is too large")]
    TooLarge(String),
}

/// A parsed quantity that remembers how it was written, so it serializes as the user wrote it.
#[derive(Clone, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    milli: i64,
}

impl Quantity {
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let milli = parse_milli(text)?;
        Ok(Quantity { text: text.trim().to_string(), milli })
    }

    /// A cpu quantity from millicores, written the way kubectl shows it.
    pub fn from_millicores(milli: i64) -> Quantity {
        let text = if milli % 1000 == 0 { (milli / 1000).to_string() } else { format!("{milli}m") };
        Quantity { text, milli }
    }

    /// A memory quantity from bytes, written with the largest exact binary suffix.
    pub fn from_bytes(bytes: i64) -> Quantity {
        let mut text = bytes.to_string();
        for (suffix, size) in [("Ti", 1i64 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if bytes != 0 && bytes % size == 0 {
                text = format!("{}{suffix}", bytes / size);
                break;
            }
        }
        Quantity { text, milli: bytes.saturating_mul(1000) }
    }

    pub fn from_count(count: i64) -> Quantity {
        Quantity { text: count.to_string(), milli: count.saturating_mul(1000) }
    }

    /// Thousandths of the base unit: millicores for cpu.
    pub fn milli(&self) -> i64 {
        self.milli
    }

    /// The base unit, rounded up as upstream's `Value()` does: bytes for memory, a count for pods.
    pub fn value(&self) -> i64 {
        self.milli.div_euclid(1000) + i64::from(self.milli.rem_euclid(1000) != 0)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn parse_milli(raw: &str) -> Result<i64, QuantityError> {
    let text = raw.trim();
    let malformed = || QuantityError::Malformed(raw.to_string());
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number == "+" || number == "-" || number.matches('.').count() > 1 {
        return Err(malformed());
    }
    if number[1..].contains(['+', '-']) {
        return Err(malformed());
    }
    // The multiplier as (base, exponent): value = number * base^exponent.
    let (base, exponent): (i128, i32) = match suffix {
        "" => (10, 0),
        "n" => (10, -9),
        "u" => (10, -6),
        "m" => (10, -3),
        "k" => (10, 3),
        "M" => (10, 6),
        "G" => (10, 9),
        "T" => (10, 12),
        "P" => (10, 15),
        "E" => (10, 18),
        "Ki" => (2, 10),
        "Mi" => (2, 20),
        "Gi" => (2, 30),
        "Ti" => (2, 40),
        "Pi" => (2, 50),
        "Ei" => (2, 60),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| malformed())?;
            if !(-30..=30).contains(&exp) {
                return Err(QuantityError::TooLarge(raw.to_string()));
            }
            (10, exp)
        }
        _ => return Err(malformed()),
    };
    let negative = number.starts_with('-');
    let digits = number.trim_start_matches(['+', '-']);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(malformed());
    }
    if frac.len() > 18 || whole.len() > 30 {
        return Err(QuantityError::TooLarge(raw.to_string()));
    }
    // Exact arithmetic: mantissa / 10^frac_len * base^exponent * 1000, rounded up (as upstream
    // rounds sub-milli cpu up to 1m).
    let mantissa: i128 = format!("{whole}{frac}").parse().map_err(|_| malformed())?;
    let mut numerator = mantissa.checked_mul(1000).ok_or_else(|| QuantityError::TooLarge(raw.to_string()))?;
    let mut denominator: i128 = 10_i128.pow(frac.len() as u32);
    let too_large = || QuantityError::TooLarge(raw.to_string());
    if exponent >= 0 {
        numerator =
            numerator.checked_mul(base.checked_pow(exponent as u32).ok_or_else(too_large)?).ok_or_else(too_large)?;
    } else {
        denominator = denominator.checked_mul(base.pow((-exponent) as u32)).ok_or_else(too_large)?;
    }
    let milli = (numerator + denominator - 1) / denominator;
    let milli = i64::try_from(milli).map_err(|_| too_large())?;
    Ok(if negative { -milli } else { milli })
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a string or a bare number, as YAML manifests write `cpu: 2`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(i64),
            Float(f64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        };
        Quantity::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn milli(text: &str) -> i64 {
        Quantity::parse(text).unwrap().milli()
    }

    #[test]
    fn parses_cpu_like_kubernetes() {
        assert_eq!(milli("500m"), 500);
        assert_eq!(milli("2"), 2000);
        assert_eq!(milli("0.5"), 500);
        assert_eq!(milli(".25"), 250);
        assert_eq!(milli("100u"), 1, "sub-milli cpu rounds up to 1m");
        assert_eq!(milli("1e3"), 1_000_000);
    }

    #[test]
    fn parses_memory_like_kubernetes() {
        assert_eq!(Quantity::parse("1Gi").unwrap().value(), 1 << 30);
        assert_eq!(Quantity::parse("512Mi").unwrap().value(), 512 << 20);
        assert_eq!(Quantity::parse("1G").unwrap().value(), 1_000_000_000);
        assert_eq!(Quantity::parse("1.5Gi").unwrap().value(), 3 << 29);
        assert_eq!(Quantity::parse("128974848").unwrap().value(), 128_974_848);
        assert_eq!(Quantity::parse("8Ei").unwrap_err(), QuantityError::TooLarge("8Ei".into()));
    }

    #[test]
    fn rejects_malformed_quantities() {
        for bad in ["", "m", "1.2.3", "12x", "1Gb", "--1", "1-", "Gi", "1 Gi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should not parse");
        }
        let err = Quantity::parse("12x").unwrap_err().to_string();
        assert!(err.contains("12x"), "the message names the input: {err}");
    }

    #[test]
    fn serializes_as_written_and_builds_canonical_forms() {
        let q: Quantity = serde_json::from_str("\"250m\"").unwrap();
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"250m\"");
        let n: Quantity = serde_json::from_str("4").unwrap();
        assert_eq!(n.milli(), 4000);
        assert_eq!(Quantity::from_millicores(1500).as_str(), "1500m");
        assert_eq!(Quantity::from_millicores(4000).as_str(), "4");
        assert_eq!(Quantity::from_bytes(8 << 30).as_str(), "8Gi");
    }
}
