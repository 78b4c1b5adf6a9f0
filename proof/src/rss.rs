//! A process's resident memory, read from `/proc/<pid>/status`.

use anyhow::{Context, Result, anyhow};

/// `VmRSS` of process `pid`, in bytes.
pub fn vm_rss_bytes(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).ok_or_else(|| anyhow!("{path} has no VmRSS line"))
}

/// The `VmRSS:   123456 kB` line of a status file, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let amount: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(amount * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kilobytes_of_vm_rss() {
        let status = "Name:\tsmstrigger\nVmHWM:\t  200000 kB\nVmRSS:\t  123456 kB\nThreads:\t8\n";
        assert_eq!(parse_vm_rss(status), Some(123_456 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        assert!(vm_rss_bytes(std::process::id()).unwrap() > 0);
    }
}
