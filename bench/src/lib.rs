//! What the load programs of `bench/benches` share: their arguments, the CPU time this process
//! has used, and percentiles. See `bench/README.md` for the benchmarks themselves.

use std::time::Duration;

/// The program's arguments, without the `--bench` flag that `cargo bench` appends to every
/// bench target it runs.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect()
}

/// The CPU time (user and system, every thread) this process has used so far, from Linux's
/// `/proc/self/stat`; `None` where that file cannot be read.
pub fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks of USER_HZ, which is 100 on Linux.
    Some(Duration::from_millis((user + system) * 10))
}

/// The `q` quantile (0 to 1) of `sorted` durations, by nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A comma-separated list of numbers, such as `1,8,32`.
pub fn numbers(list: &str) -> Result<Vec<usize>, std::num::ParseIntError> {
    list.split(',').map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&values, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&values, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
