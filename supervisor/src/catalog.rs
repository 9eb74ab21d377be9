//! The catalog: every host that has a configuration file, with its expanded
//! text and version, read from the hosts and includes folders.
//!
//! The reading is done here, by the async shell (on its own thread), never by
//! the state machine: [`CatalogLoader::rescan`] re-reads both folders after
//! every batch of change notifications and hands the state machine only the
//! hosts whose entry changed ([`HostChange`]). Content hashes decide what
//! changed, so a `touch` or an editor's temporary files change nothing.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use conf::{ConfigVersion, HostConfig, HostFileError, HostName, load_host};

/// Largest file read when comparing folder contents; a larger host file is
/// an error reported by `conf`, and this only needs to notice changes.
const HASH_READ_LIMIT: u64 = 2 << 20;

/// The text served to a host and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedConfig {
    pub version: ConfigVersion,
    pub text: Arc<str>,
}

/// What the supervisor knows about one host's configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// `None` when the file exists but cannot be read at all (too large,
    /// permissions): the host is answered `NoConfig` until it is fixed.
    pub served: Option<ServedConfig>,
    /// Every include the file uses, transitively (also missing ones).
    pub includes: BTreeSet<String>,
    /// Configuration errors, as `FILE:LINE: message`.
    pub errors: Vec<String>,
    /// One-line description for `--check` and the log.
    pub summary: String,
    /// Every tag its checks carry, for filtering the fleet page by tag
    /// (shared by every snapshot of the host).
    pub tags: Arc<BTreeSet<String>>,
}

impl HostEntry {
    /// The version served, if any.
    pub fn version(&self) -> Option<u64> {
        self.served.as_ref().map(|s| s.version.0)
    }

    /// An entry from its parts, for tests and tools that build a catalog
    /// without files.
    pub fn from_text(text: &str, includes: &[&str], errors: &[&str]) -> Self {
        HostEntry {
            served: Some(ServedConfig {
                version: ConfigVersion::of(text),
                text: text.into(),
            }),
            includes: includes.iter().map(|s| s.to_string()).collect(),
            errors: errors.iter().map(|s| s.to_string()).collect(),
            summary: String::new(),
            tags: Arc::default(),
        }
    }
}

/// A host whose entry changed: `None` when its file is gone.
#[derive(Debug, Clone)]
pub struct HostChange {
    pub host: HostName,
    pub entry: Option<Arc<HostEntry>>,
}

/// Names in a configuration folder that are editors' or tools' temporary
/// files, never configuration: hidden files, `name~` backups and Vim's
/// `4913` probe.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~') || name == "4913"
}

/// Loads one host's file; `None` when it has none.
pub fn load_entry(hosts_dir: &Path, includes_dir: &Path, host: &HostName) -> Option<HostEntry> {
    match load_host(hosts_dir, includes_dir, host) {
        Ok(load) => {
            let summary = summarize(
                host,
                &load.config,
                load.expanded.version,
                &load.expanded.includes,
            );
            Some(HostEntry {
                served: Some(ServedConfig {
                    version: load.expanded.version,
                    text: load.expanded.text.into(),
                }),
                includes: load.expanded.includes,
                errors: load.errors.iter().map(ToString::to_string).collect(),
                summary,
                tags: Arc::new(tags_of(&load.config)),
            })
        }
        Err(HostFileError::NotFound) => None,
        Err(e) => Some(HostEntry {
            served: None,
            includes: BTreeSet::new(),
            errors: vec![format!("hosts/{host}: {e}")],
            summary: format!("{host}: unreadable"),
            tags: Arc::default(),
        }),
    }
}

/// Every tag written on the host's alert lines (`disk,root` gives two).
fn tags_of(config: &HostConfig) -> BTreeSet<String> {
    let lists = config
        .logs
        .iter()
        .map(|l| l.tags.as_str())
        .chain(config.processes.iter().map(|p| p.tags.as_str()))
        .chain(
            config
                .commands
                .iter()
                .flat_map(|c| c.alerts.iter().map(|a| a.tags.as_str())),
        );
    lists
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `web1: 4 log watches, 1 process watch, 2 commands, version 1a2b…,
/// includes common, sshd`.
pub fn summarize(
    host: &HostName,
    config: &HostConfig,
    version: ConfigVersion,
    includes: &BTreeSet<String>,
) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "{host}: {}, {}, {}, version {version}",
        plural(config.logs.len(), "log watch", "log watches"),
        plural(config.processes.len(), "process watch", "process watches"),
        plural(config.commands.len(), "command", "commands"),
    );
    if !includes.is_empty() {
        line.push_str(", includes ");
        line.push_str(&includes.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    line
}

/// Reads the folders and tells what changed since the last time.
#[derive(Debug)]
pub struct CatalogLoader {
    hosts_dir: PathBuf,
    includes_dir: PathBuf,
    host_files: HashMap<String, u64>,
    include_files: HashMap<String, u64>,
    entries: HashMap<HostName, Arc<HostEntry>>,
    /// File names in the hosts folder that are not host names, already
    /// mentioned in the log.
    refused_names: HashSet<String>,
}

impl CatalogLoader {
    pub fn new(hosts_dir: &Path, includes_dir: &Path) -> Self {
        CatalogLoader {
            hosts_dir: hosts_dir.to_path_buf(),
            includes_dir: includes_dir.to_path_buf(),
            host_files: HashMap::new(),
            include_files: HashMap::new(),
            entries: HashMap::new(),
            refused_names: HashSet::new(),
        }
    }

    /// Re-reads both folders; the first call reports every host.
    pub fn rescan(&mut self) -> Vec<HostChange> {
        let host_files = hash_folder(&self.hosts_dir);
        let include_files = hash_folder(&self.includes_dir);
        let changed_includes: HashSet<&String> = include_files
            .iter()
            .filter(|(name, hash)| self.include_files.get(*name) != Some(hash))
            .map(|(name, _)| name)
            .chain(
                self.include_files
                    .keys()
                    .filter(|name| !include_files.contains_key(*name)),
            )
            .collect();

        let mut reload: BTreeSet<HostName> = BTreeSet::new();
        for (name, hash) in &host_files {
            if self.host_files.get(name) == Some(hash) {
                continue;
            }
            match HostName::new(name) {
                Ok(host) => {
                    reload.insert(host);
                }
                Err(e) => {
                    if self.refused_names.insert(name.clone()) {
                        tracing::warn!(
                            "ignoring {}/{name}: not a host name ({e})",
                            self.hosts_dir.display()
                        );
                    }
                }
            }
        }
        if !changed_includes.is_empty() {
            for (host, entry) in &self.entries {
                let uses_changed = entry.includes.iter().any(|i| changed_includes.contains(i));
                if uses_changed || !entry.errors.is_empty() {
                    reload.insert(host.clone());
                }
            }
        }
        let mut changes = Vec::new();
        let gone: Vec<HostName> = self
            .entries
            .keys()
            .filter(|h| !host_files.contains_key(h.as_str()))
            .cloned()
            .collect();
        for host in gone {
            self.entries.remove(&host);
            reload.remove(&host);
            changes.push(HostChange { host, entry: None });
        }
        for host in reload {
            let entry = load_entry(&self.hosts_dir, &self.includes_dir, &host).map(Arc::new);
            let old = self.entries.get(&host);
            if old.map(|o| &**o) == entry.as_deref() {
                continue;
            }
            match &entry {
                Some(e) => self.entries.insert(host.clone(), e.clone()),
                None => self.entries.remove(&host),
            };
            changes.push(HostChange { host, entry });
        }
        self.host_files = host_files;
        self.include_files = include_files;
        changes
    }
}

/// File name → hash of content for every configuration file in `dir`. A
/// missing or unreadable folder reads as empty.
/// The configuration files of a folder by name: not folders, not names
/// that are not UTF-8, not editors' backup and swap files.
pub fn config_file_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| !e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !is_ignored_name(n))
        .collect();
    names.sort();
    Ok(names)
}

fn hash_folder(dir: &Path) -> HashMap<String, u64> {
    let mut files = HashMap::new();
    let names = match config_file_names(dir) {
        Ok(names) => names,
        Err(e) => {
            tracing::warn!("cannot read configuration folder {}: {e}", dir.display());
            return files;
        }
    };
    for name in names {
        let path = dir.join(&name);
        let mut hasher = DefaultHasher::new();
        match std::fs::File::open(&path) {
            Ok(file) => {
                let mut bytes = Vec::new();
                match file.take(HASH_READ_LIMIT).read_to_end(&mut bytes) {
                    Ok(_) => hasher.write(&bytes),
                    // Unreadable: a distinct hash, so fixing it is a change.
                    Err(_) => hasher.write_u8(1),
                }
            }
            Err(_) => hasher.write_u8(2),
        }
        files.insert(name, hasher.finish());
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(changes: &[HostChange]) -> Vec<String> {
        let mut v: Vec<String> = changes.iter().map(|c| c.host.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn rescan_reports_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        let includes = dir.path().join("includes");
        std::fs::create_dir_all(&hosts).unwrap();
        std::fs::create_dir_all(&includes).unwrap();
        std::fs::write(includes.join("common"), "ps_command: ps -ef\n").unwrap();
        std::fs::write(hosts.join("web1"), "include: common\n").unwrap();
        std::fs::write(hosts.join("web2"), "include: common\n").unwrap();
        std::fs::write(hosts.join("db"), "# nothing\n").unwrap();
        std::fs::write(hosts.join("web1~"), "backup\n").unwrap();
        std::fs::write(hosts.join("bad name"), "x\n").unwrap();
        let mut loader = CatalogLoader::new(&hosts, &includes);
        assert_eq!(names(&loader.rescan()), ["db", "web1", "web2"]);
        assert!(loader.rescan().is_empty(), "nothing changed");

        // Same content rewritten: nothing.
        std::fs::write(hosts.join("db"), "# nothing\n").unwrap();
        assert!(loader.rescan().is_empty());

        std::fs::write(includes.join("common"), "ps_command: ps -e\n").unwrap();
        assert_eq!(names(&loader.rescan()), ["web1", "web2"]);

        std::fs::remove_file(hosts.join("db")).unwrap();
        let changes = loader.rescan();
        assert_eq!(names(&changes), ["db"]);
        assert!(changes[0].entry.is_none());
    }
}
