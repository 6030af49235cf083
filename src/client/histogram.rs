//! Round-trip times, kept in a fixed log-linear histogram: its memory does not grow with the
//! number of messages (so it cannot disturb the RSS figure), and a percentile is read with at most
//! 1/32 (about 3%) relative error. The maximum is kept exactly.

use std::time::Duration;

/// Sub-buckets per power of two: the relative resolution.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for any u64 nanosecond count.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max_ns: 0,
        }
    }
}

/// The bucket of a value: exact below 32 ns, then 32 buckets per power of two.
fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros(); // >= SUB_BITS
    let sub = (ns >> (exp - SUB_BITS)) as usize & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + sub
}

/// The largest value that falls in bucket `b`.
fn upper_bound(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let group = (b / SUB) as u32; // >= 1
    let sub = (b % SUB) as u64;
    let shift = group - 1;
    ((SUB as u64 + sub + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The value below which a fraction `q` of the samples fall (bucket upper bound, never
    /// above the true maximum); 0 when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(upper_bound(b).min(self.max_ns));
            }
        }
        self.max()
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lies_in_its_bucket_within_three_percent() {
        for ns in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            65,
            1000,
            123_456,
            9_999_999,
            u64::MAX / 3,
        ] {
            let b = bucket(ns);
            assert!(upper_bound(b) >= ns, "{ns}");
            let low = if b == 0 { 0 } else { upper_bound(b - 1) + 1 };
            assert!(low <= ns, "{ns}");
            assert!(
                (upper_bound(b) - low) as f64 <= ns as f64 / 32.0 + 1.0,
                "{ns}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_known_set() {
        let mut h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).as_micros() as f64;
        assert!((50.0..=52.0).contains(&p50), "{p50}");
        assert_eq!(h.max(), Duration::from_micros(100));
        assert_eq!(h.quantile(1.0), Duration::from_micros(100));
    }
}
