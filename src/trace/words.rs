//! Numbers and words for the annotated text: `18,402`, `1 event`/`2 events`, `12 µs`,
//! `1.5` per second. Shared by the trace renderer, the stages' notes and the lessons.

/// A rate for the collapsed-run line: whole numbers with separators for a flood
/// (`18,402`), one decimal below 10 so that a slow repeat such as an idle server's 999 ms wake-up
/// reads `1.5`, not a rounded-up `2`.
pub fn rate(per_second: f64) -> String {
    if per_second < 10.0 {
        format!("{per_second:.1}")
    } else {
        group(per_second.round() as u64)
    }
}

/// `18402` → `18,402`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A short duration for "time blocked": µs, ms or s.
pub fn duration(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A span of time for a count line: `1.0 s`, or `50 ms` under a second.
pub fn seconds(s: f64) -> String {
    if s < 0.9995 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The units change exactly at their boundaries: below a millisecond µs, below a second ms.
    #[test]
    fn durations_pick_their_unit_at_the_boundaries() {
        assert_eq!(duration(0.000_012), "12 µs");
        assert_eq!(duration(0.001), "1.0 ms");
        assert_eq!(duration(0.25), "250.0 ms");
        assert_eq!(duration(1.0), "1.00 s");
        assert_eq!(duration(2.5), "2.50 s");
    }

    /// A count line's span: ms under a second, then seconds with one decimal (0.9995 s would
    /// round to "1000 ms", so it is already "1.0 s").
    #[test]
    fn spans_are_ms_under_a_second_then_seconds() {
        assert_eq!(seconds(0.05), "50 ms");
        assert_eq!(seconds(0.9995), "1.0 s");
        assert_eq!(seconds(2.04), "2.0 s");
    }

    /// Rates keep one decimal below 10 per second (an idle server's wake-ups), whole numbers
    /// with separators from 10 on (a flood).
    #[test]
    fn rates_keep_a_decimal_only_when_slow() {
        assert_eq!(rate(1.04), "1.0");
        assert_eq!(rate(10.0), "10");
        assert_eq!(rate(18_402.4), "18,402");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }
}
