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
