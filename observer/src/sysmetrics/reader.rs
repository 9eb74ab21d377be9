//! Reading system metrics on this box, in-process: sysinfo for memory, swap,
//! load, uptime and interface counters; `statvfs` for disks and inodes
//! (any path, not only mount points); `/proc/stat` for CPU time and the
//! entries of `/proc` for the process count.
//!
//! CPU comes from `/proc/stat` rather than sysinfo because sysinfo only
//! gives a usage since *its own* previous refresh, which two `cpu` checks at
//! different intervals would share; the raw counters let each check keep its
//! own baseline ([`super::Sample::value_since`]). Processes are counted from
//! the directory listing alone: sysinfo would open every process's files.
//!
//! Only what is asked is read: the sysinfo objects are created on the first
//! metric that needs them and reused afterwards.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sysinfo::{MemoryRefreshKind, Networks, System};

use super::{CpuTimes, MetricSpec, MetricValue, NetCounters, Sample, percent};

/// Why a metric could not be read, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("cannot read the file system of {path}: {source}")]
    FileSystem { path: PathBuf, source: io::Error },
    #[error("the file system of {path} keeps no inode counts")]
    NoInodeCounts { path: PathBuf },
    #[error("no network interface {name:?} on this host (known: {})", known.join(", "))]
    NoSuchInterface { name: String, known: Vec<String> },
    #[error("cannot read {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
}

/// Reads metrics; keeps the sysinfo objects between readings.
#[derive(Default)]
pub struct SystemReader {
    system: Option<System>,
    networks: Option<Networks>,
}

impl std::fmt::Debug for SystemReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemReader")
            .field("system", &self.system.is_some())
            .field("networks", &self.networks.is_some())
            .finish()
    }
}

impl SystemReader {
    pub fn new() -> SystemReader {
        SystemReader::default()
    }

    /// One reading of `spec`, taken now.
    pub fn sample(&mut self, spec: &MetricSpec) -> Result<Sample, MetricError> {
        let gauge = |v| Ok(Sample::Gauge(v));
        match spec {
            MetricSpec::Cpu => Ok(Sample::Cpu {
                at: Instant::now(),
                times: read_cpu_times()?,
            }),
            MetricSpec::Net(name) => {
                let counters = self.net_counters(name)?;
                Ok(Sample::Net {
                    at: Instant::now(),
                    counters,
                })
            }
            MetricSpec::Memory => {
                let sys = self.memory(MemoryRefreshKind::nothing().with_ram())?;
                let total = sys.total_memory();
                let available = sys.available_memory();
                gauge(MetricValue::Memory {
                    used_percent: percent(total.saturating_sub(available), total),
                    available_bytes: available,
                    total_bytes: total,
                })
            }
            MetricSpec::Swap => {
                let sys = self.memory(MemoryRefreshKind::nothing().with_swap())?;
                let total = sys.total_swap();
                let used = sys.used_swap();
                gauge(MetricValue::Swap {
                    used_percent: percent(used, total),
                    used_bytes: used,
                    total_bytes: total,
                })
            }
            MetricSpec::Load1 | MetricSpec::Load5 | MetricSpec::Load15 => {
                let load = System::load_average().map_err(|e| MetricError::Unreadable {
                    what: "the load average",
                    reason: e.to_string(),
                })?;
                let average = match spec {
                    MetricSpec::Load1 => load.one,
                    MetricSpec::Load5 => load.five,
                    _ => load.fifteen,
                };
                gauge(MetricValue::Load { average })
            }
            MetricSpec::Disk(path) => {
                let fs = statvfs(path)?;
                let used = fs.blocks.saturating_sub(fs.blocks_free);
                // As df: used ÷ (used + available to unprivileged users),
                // because the blocks reserved for root are not usable space.
                gauge(MetricValue::Disk {
                    used_percent: percent(used, used + fs.blocks_available),
                    free_bytes: fs.blocks_available.saturating_mul(fs.fragment_size),
                    total_bytes: fs.blocks.saturating_mul(fs.fragment_size),
                })
            }
            MetricSpec::Inodes(path) => {
                let fs = statvfs(path)?;
                if fs.files == 0 {
                    return Err(MetricError::NoInodeCounts { path: path.clone() });
                }
                gauge(MetricValue::Inodes {
                    used_percent: percent(fs.files.saturating_sub(fs.files_free), fs.files),
                    free: fs.files_available,
                    total: fs.files,
                })
            }
            MetricSpec::Uptime => {
                let seconds = System::uptime().map_err(|e| MetricError::Unreadable {
                    what: "the uptime",
                    reason: e.to_string(),
                })?;
                gauge(MetricValue::Uptime { seconds })
            }
            MetricSpec::Processes => gauge(MetricValue::Processes {
                count: count_processes(Path::new("/proc"))?,
            }),
        }
    }

    fn memory(&mut self, kind: MemoryRefreshKind) -> Result<&System, MetricError> {
        let sys = match &mut self.system {
            Some(sys) => sys,
            none => none.insert(System::new().map_err(|e| MetricError::Unreadable {
                what: "memory figures",
                reason: e.to_string(),
            })?),
        };
        sys.refresh_memory_specifics(kind);
        Ok(sys)
    }

    fn net_counters(&mut self, name: &str) -> Result<NetCounters, MetricError> {
        let networks = match &mut self.networks {
            Some(n) => n,
            none => none.insert(Networks::new().map_err(|e| MetricError::Unreadable {
                what: "the network interfaces",
                reason: e.to_string(),
            })?),
        };
        // `true`: forget interfaces that went away, so a removed interface
        // is reported as missing rather than frozen at its last counters.
        networks.refresh(true);
        let found = networks
            .iter()
            .find(|(n, _)| n.as_bytes() == name.as_bytes());
        match found {
            Some((_, data)) => Ok(NetCounters {
                received_bytes: data.total_received(),
                sent_bytes: data.total_transmitted(),
                errors: data
                    .total_errors_on_received()
                    .saturating_add(data.total_errors_on_transmitted()),
            }),
            None => {
                let mut known: Vec<String> = networks
                    .keys()
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect();
                known.sort();
                Err(MetricError::NoSuchInterface {
                    name: name.to_string(),
                    known,
                })
            }
        }
    }
}

/// The figures of `statvfs(2)` we use, in the file system's units.
#[derive(Debug, Clone, Copy)]
pub struct FsStats {
    pub fragment_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub files_available: u64,
}

/// `statvfs(2)` of the file system holding `path`.
pub fn statvfs(path: &Path) -> Result<FsStats, MetricError> {
    let error = |source| MetricError::FileSystem {
        path: path.to_path_buf(),
        source,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: `statvfs` is plain old data, valid when zeroed; the call only
    // writes into it and reads the NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut st) } != 0 {
        return Err(error(io::Error::last_os_error()));
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok(FsStats {
        fragment_size: st.f_frsize as u64,
        blocks: st.f_blocks as u64,
        blocks_free: st.f_bfree as u64,
        blocks_available: st.f_bavail as u64,
        files: st.f_files as u64,
        files_free: st.f_ffree as u64,
        files_available: st.f_favail as u64,
    })
}

/// Total and idle CPU ticks of all cores, from the `cpu` line of `/proc/stat`.
pub fn read_cpu_times() -> Result<CpuTimes, MetricError> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| MetricError::Unreadable {
        what: "/proc/stat",
        reason: e.to_string(),
    })?;
    parse_cpu_times(&text).ok_or(MetricError::Unreadable {
        what: "/proc/stat",
        reason: "no cpu line".to_string(),
    })
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`;
/// guest time is already inside user and nice, so it is not added again.
fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 4 {
        return None;
    }
    let total = fields.iter().sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes { total, idle })
}

/// Number of processes: the numeric entries of `proc_dir`.
pub fn count_processes(proc_dir: &Path) -> Result<u64, MetricError> {
    let unreadable = |e: io::Error| MetricError::Unreadable {
        what: "the process list",
        reason: e.to_string(),
    };
    let mut count = 0;
    for entry in std::fs::read_dir(proc_dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        if entry.file_name().as_bytes().iter().all(u8::is_ascii_digit) {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_line_sums_the_first_eight_fields() {
        let text = "cpu  10 1 5 100 4 0 2 3 7 0\ncpu0 1 1 1 1 1 1 1 1 1 1\n";
        assert_eq!(
            parse_cpu_times(text),
            Some(CpuTimes {
                total: 125,
                idle: 104
            })
        );
        assert_eq!(parse_cpu_times("cpu0 1 2 3 4\n"), None);
        assert_eq!(parse_cpu_times("cpu  1 x 3 4\n"), None);
    }

    #[test]
    fn processes_are_the_numeric_entries() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["1", "42", "self", "net", "7x"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(count_processes(dir.path()).unwrap(), 2);
    }
}
