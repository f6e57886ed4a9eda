//! Process figures read from `/proc/self` at scrape time: CPU seconds,
//! resident memory and open file descriptors (each socket is one), under the
//! names Prometheus' own client libraries use, so standard dashboards work.
//!
//! Written here rather than taken from a crate: three small files are read,
//! and the crates that do this also bring system-wide collectors we do not
//! need. On systems without `/proc` the figures are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports CPU time in clock ticks of `USER_HZ`, which is 100 on every
/// architecture Rust targets (it is part of the user-space ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// What one read of `/proc/self` found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    pub(crate) cpu_seconds: f64,
    pub(crate) resident_bytes: i64,
    pub(crate) open_fds: i64,
}

/// Reads the figures; `None` without `/proc`.
pub(crate) fn sample() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    Some(Sample {
        cpu_seconds: cpu_seconds(&stat)?,
        resident_bytes: resident_kib(&status)? * 1_024,
        open_fds: i64::try_from(open_fds).unwrap_or(i64::MAX),
    })
}

/// User plus system time from `/proc/self/stat`: fields 14 and 15, counted
/// after the command name, which is in parentheses and may hold spaces.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    #[expect(clippy::cast_precision_loss, reason = "ticks stay far below 2^53")]
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// `VmRSS` from `/proc/self/status`, in KiB.
fn resident_kib(status: &str) -> Option<i64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// The collector registered with the server's registry.
#[derive(Debug)]
pub(crate) struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(s) = sample() else { return Ok(()) };
        let family = encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time of this process",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(s.cpu_seconds).encode(family)?;
        let family = encoder.encode_descriptor(
            "process_resident_memory_bytes",
            "Resident memory of this process",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(s.resident_bytes).encode(family)?;
        let family = encoder.encode_descriptor(
            "process_open_fds",
            "Open file descriptors (sockets included)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(s.open_fds).encode(family)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_seconds(stat), Some(3.25));
    }

    #[test]
    fn resident_memory_is_read_in_kib() {
        assert_eq!(resident_kib("Name:\tfinstage\nVmRSS:\t   51200 kB\nThreads: 8\n"), Some(51_200));
    }

    #[test]
    fn this_process_has_cpu_time_memory_and_descriptors() {
        let s = sample().expect("the tests run on Linux");
        assert!(s.resident_bytes > 1_000_000, "{s:?}");
        assert!(s.open_fds >= 3, "{s:?}");
        assert!(s.cpu_seconds >= 0.0, "{s:?}");
    }
}
