//! Host names to addresses without the C library: `/etc/hosts` first, then
//! the name servers of `/etc/resolv.conf`, through hickory-resolver.
//!
//! A statically linked glibc program must not call `getaddrinfo`: it would
//! need the NSS libraries of the glibc it was linked with at run time. Both
//! files are read when the first name is resolved and read again when
//! either changes (DHCP rewrites resolv.conf; an operator edits hosts), so
//! a long-running observer follows them.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hickory_resolver::config::{ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Hosts, TokioResolver};

/// Where the resolver's configuration is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

impl Default for ResolverFiles {
    fn default() -> ResolverFiles {
        ResolverFiles {
            hosts: PathBuf::from("/etc/hosts"),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
        }
    }
}

/// Why a name gave no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{name} is not in {hosts} and the name servers know no address for it")]
    NotFound { name: String, hosts: String },
    #[error("{name} is not in {hosts}, and {resolv_conf} names no name server to ask")]
    NotInHosts {
        name: String,
        hosts: String,
        resolv_conf: String,
    },
    #[error("no answer about {name} from the name servers within {:.1} s", after.as_secs_f64())]
    Timeout { name: String, after: Duration },
    #[error("cannot resolve {name}: {reason}")]
    Failed { name: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Config { path: String, reason: String },
}

/// Resolves names; cheap to clone (one shared resolver).
#[derive(Clone)]
pub struct NameResolver {
    files: ResolverFiles,
    current: Arc<Mutex<Option<Loaded>>>,
}

struct Loaded {
    /// Modification times of hosts and resolv.conf when they were read.
    stamps: (Option<SystemTime>, Option<SystemTime>),
    resolver: TokioResolver,
    /// Whether resolv.conf names any name server.
    has_servers: bool,
}

impl std::fmt::Debug for NameResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameResolver")
            .field("files", &self.files)
            .finish()
    }
}

impl NameResolver {
    pub fn new(files: ResolverFiles) -> NameResolver {
        NameResolver {
            files,
            current: Arc::new(Mutex::new(None)),
        }
    }

    pub fn files(&self) -> &ResolverFiles {
        &self.files
    }

    /// The addresses of `host`, IPv4 first. An address literal is returned
    /// as it is, with no lookup. Must run inside a tokio runtime.
    pub async fn resolve(
        &self,
        host: &str,
        timeout: Duration,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let (resolver, has_servers) = self.resolver()?;
        if !has_servers {
            // Only the hosts file can answer; hickory would say "no
            // connections available", which tells the operator nothing.
            let found = resolver.lookup_ip(host).await.ok();
            let addresses = found.map(|l| sorted(l.iter())).unwrap_or_default();
            if addresses.is_empty() {
                return Err(ResolveError::NotInHosts {
                    name: host.to_string(),
                    hosts: self.files.hosts.display().to_string(),
                    resolv_conf: self.files.resolv_conf.display().to_string(),
                });
            }
            return Ok(addresses);
        }
        let lookup = match tokio::time::timeout(timeout, resolver.lookup_ip(host)).await {
            Err(_) => {
                return Err(ResolveError::Timeout {
                    name: host.to_string(),
                    after: timeout,
                });
            }
            Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => {
                return Err(self.not_found(host));
            }
            Ok(Err(e)) => {
                return Err(ResolveError::Failed {
                    name: host.to_string(),
                    reason: e.to_string(),
                });
            }
            Ok(Ok(lookup)) => lookup,
        };
        let addresses = sorted(lookup.iter());
        if addresses.is_empty() {
            return Err(self.not_found(host));
        }
        Ok(addresses)
    }

    fn not_found(&self, host: &str) -> ResolveError {
        ResolveError::NotFound {
            name: host.to_string(),
            hosts: self.files.hosts.display().to_string(),
        }
    }

    /// The resolver for the files as they are now, rebuilt if they changed.
    fn resolver(&self) -> Result<(TokioResolver, bool), ResolveError> {
        let stamps = (
            modified(&self.files.hosts),
            modified(&self.files.resolv_conf),
        );
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(loaded) = current.as_ref()
            && loaded.stamps == stamps
        {
            return Ok((loaded.resolver.clone(), loaded.has_servers));
        }
        let (resolver, has_servers) = build(&self.files)?;
        *current = Some(Loaded {
            stamps,
            resolver: resolver.clone(),
            has_servers,
        });
        Ok((resolver, has_servers))
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// IPv4 first: on a LAN it is the address most services listen on.
fn sorted(addresses: impl Iterator<Item = IpAddr>) -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = addresses.collect();
    addresses.sort_by_key(|a| a.is_ipv6());
    addresses.dedup();
    addresses
}

fn build(files: &ResolverFiles) -> Result<(TokioResolver, bool), ResolveError> {
    let config_error = |path: &Path, reason: String| ResolveError::Config {
        path: path.display().to_string(),
        reason,
    };
    // No resolv.conf, or one without a `nameserver` line: names from the
    // hosts file still resolve and others are "not found" — no name server
    // is asked (glibc would try 127.0.0.1; a box without a resolver
    // configured is better told plainly).
    let no_server = || {
        (
            ResolverConfig::from_parts(None, vec![], vec![]),
            ResolverOpts::default(),
        )
    };
    let (config, mut options) = match std::fs::read(&files.resolv_conf) {
        Ok(data) if !has_name_server(&data) => no_server(),
        Ok(data) => hickory_resolver::system_conf::parse_resolv_conf(data)
            .map_err(|e| config_error(&files.resolv_conf, e.to_string()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => no_server(),
        Err(e) => return Err(config_error(&files.resolv_conf, e.to_string())),
    };
    let has_servers = !config.name_servers().is_empty();
    // The hosts file is ours to read, from the configured path.
    options.use_hosts_file = ResolveHosts::Never;
    let mut resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(options)
        .build()
        .map_err(|e| config_error(&files.resolv_conf, e.to_string()))?;
    let mut hosts = Hosts::default();
    match File::open(&files.hosts) {
        Ok(file) => hosts
            .read_hosts_conf(file)
            .map_err(|e| config_error(&files.hosts, e.to_string()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(config_error(&files.hosts, e.to_string())),
    }
    resolver.set_hosts(Arc::new(hosts));
    Ok((resolver, has_servers))
}

fn has_name_server(resolv_conf: &[u8]) -> bool {
    String::from_utf8_lossy(resolv_conf)
        .lines()
        .any(|l| l.split_whitespace().next() == Some("nameserver"))
}
