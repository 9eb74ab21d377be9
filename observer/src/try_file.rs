//! `observer --try FILE`: runs every check of a host file once on this box,
//! with no supervisor, and prints what each would raise — so an operator can
//! test a file before pushing it (as `zabbix_agentd -t` does).
//!
//! Logs are not read: the report says which files would be followed and
//! whether they exist. Processes are counted, commands run, metrics read
//! (rates twice, [`RATE_GAP`] apart), probes run. A stateful check is shown
//! opening at its first bad result: `--try` answers "what if this lasts",
//! and says how many results in a row the real check waits for. Nothing is
//! sent and no state is kept.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use conf::{HostConfig, HostName, LogAlert, MetricSpec, ProbeAlert};

use crate::checks::{Check, JobOutput, Work};
use crate::clock::Now;
use crate::command::CommandCheck;
use crate::jobs::JobRunner;
use crate::metric_check::MetricCheck;
use crate::probe_check::ProbeCheck;
use crate::problems::ProblemBoard;
use crate::process::ProcessCheck;
use crate::raised::Raised;
use crate::sysmetrics::Sample;

/// Time between the two readings of a rate (`cpu`, `net`).
pub const RATE_GAP: Duration = Duration::from_secs(1);

/// Where `--try` takes the include files from when not told: `includes/`
/// in the host file's folder, or beside that folder (the supervisor's
/// `hosts/` + `includes/` layout).
pub fn default_includes(file: &Path) -> Option<PathBuf> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
    let beside = dir.join("includes");
    if beside.is_dir() {
        return Some(beside);
    }
    let sibling = dir.parent().map(|p| p.join("includes"))?;
    sibling.is_dir().then_some(sibling)
}

/// Runs the checks of `file` once and writes the report to `out`. Returns
/// whether the file had no errors (the caller's exit status).
pub async fn try_file(
    file: &Path,
    includes: Option<&Path>,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let name = file.file_name().and_then(|n| n.to_str()).map(HostName::new);
    let Some(Ok(name)) = name else {
        writeln!(
            out,
            "{}: the file name must be a host name (letters, digits, '.', '_', '-')",
            file.display()
        )?;
        return Ok(false);
    };
    let hosts_dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // No include folder: every `include:` is reported as missing.
    let no_includes = hosts_dir.join(".no-includes-for-try");
    let includes_dir = includes.unwrap_or(&no_includes);
    let load = match conf::load_host(&hosts_dir, includes_dir, &name) {
        Ok(load) => load,
        Err(e) => {
            writeln!(out, "{}: {e}", file.display())?;
            return Ok(false);
        }
    };
    match includes {
        Some(dir) => writeln!(out, "{} (includes from {})", file.display(), dir.display())?,
        None => writeln!(out, "{} (no include folder)", file.display())?,
    }
    for e in &load.errors {
        writeln!(out, "error: {e}")?;
    }
    let config = &load.config;
    writeln!(out, "{} checks", config.group_count())?;
    let mut jobs = JobRunner::new();
    logs(config, out)?;
    processes(config, &mut jobs, out).await?;
    commands(config, &mut jobs, out).await?;
    metrics(config, &mut jobs, out).await?;
    probes(config, &mut jobs, out).await?;
    jobs.shutdown().await;
    Ok(load.errors.is_empty())
}

fn would_raise(raised: &[Raised], out: &mut dyn Write) -> io::Result<()> {
    if raised.is_empty() {
        return writeln!(out, "    would raise nothing");
    }
    for r in raised {
        let value = match r.value {
            Some(v) if r.message != crate::raised::format_number(v) => format!(" (value {v})"),
            _ => String::new(),
        };
        writeln!(
            out,
            "    would raise {} [{}] {}{value}",
            r.kind.as_str(),
            r.tags,
            r.message
        )?;
    }
    Ok(())
}

fn waits_for(open_after: u32, out: &mut dyn Write) -> io::Result<()> {
    if open_after > 1 {
        writeln!(
            out,
            "    (the observer opens it after {open_after} bad results in a row)"
        )?;
    }
    Ok(())
}

fn logs(config: &HostConfig, out: &mut dyn Write) -> io::Result<()> {
    for log in &config.logs {
        let state = match std::fs::metadata(&log.file) {
            Ok(m) if m.is_file() => "exists",
            Ok(_) => "exists but is not a regular file",
            Err(e) if e.kind() == io::ErrorKind::NotFound => "missing now",
            Err(_) => "cannot be read",
        };
        let alert = match &log.alert {
            LogAlert::All { .. } => "alert_all",
            LogAlert::N { .. } => "alert_n",
            LogAlert::Count { .. } => "alert_count",
            LogAlert::Inactive { .. } => "alert_inactive",
        };
        writeln!(
            out,
            "log {}: would follow {} ({state}); {} match lines, {alert} tags={}",
            log.origin,
            log.file,
            log.patterns.len(),
            log.tags
        )?;
    }
    Ok(())
}

async fn processes(
    config: &HostConfig,
    jobs: &mut JobRunner,
    out: &mut dyn Write,
) -> io::Result<()> {
    if config.processes.is_empty() {
        return Ok(());
    }
    let patterns = config.processes.iter().map(|p| p.pattern.clone()).collect();
    let work = Work::CountProcesses {
        patterns,
        ps_command: config.ps_command.clone(),
    };
    let counts = match jobs.run_now(work).await {
        JobOutput::ProcessCounts(Ok(counts)) => counts,
        JobOutput::ProcessCounts(Err(e)) => {
            return writeln!(out, "process: cannot count processes: {e}");
        }
        other => return writeln!(out, "process: unexpected output {other:?}"),
    };
    let now = Now::read();
    for (watch, count) in config.processes.iter().zip(counts) {
        writeln!(
            out,
            "process {}: /{}/ {count} running (allowed {} to {})",
            watch.origin, watch.pattern, watch.min, watch.max
        )?;
        // `alert_running` opens after `for=` checks in a row outside the
        // range (2 by default): show what those checks would raise.
        let check = ProcessCheck::new(watch);
        let mut board = crate::problems::ProblemBoard::new();
        let raised: Vec<Raised> = (0..watch.state.open_after.max(1))
            .filter_map(|_| check.observe(count, now.local, now.wall_ms, &mut board))
            .collect();
        would_raise(&raised, out)?;
        waits_for(if raised.is_empty() { 1 } else { 2 }, out)?;
    }
    Ok(())
}

async fn commands(
    config: &HostConfig,
    jobs: &mut JobRunner,
    out: &mut dyn Write,
) -> io::Result<()> {
    for watch in &config.commands {
        let mut check = CommandCheck::new(watch);
        let output = jobs.run_now(check.work()).await;
        match &output {
            JobOutput::CommandLines(Ok(lines)) => writeln!(
                out,
                "command {}: ran `{}`: {} output lines",
                watch.origin,
                watch.command.text,
                lines.len()
            )?,
            JobOutput::CommandLines(Err(e)) => writeln!(out, "command {}: {e}", watch.origin)?,
            _ => {}
        }
        // The same output as often as the most patient alert needs, to
        // show what a condition that persists would raise.
        let open_after = watch
            .alerts
            .iter()
            .map(|a| a.state.open_after)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut board = ProblemBoard::new();
        let now = Now::read();
        let raised: Vec<Raised> = (0..open_after)
            .flat_map(|i| {
                let raised = check.on_output(output.clone(), now, &mut board);
                // Point events (metrics) once, as one run raises them.
                raised
                    .into_iter()
                    .filter(move |r| i == 0 || r.transition != wire::Transition::Point)
            })
            .collect();
        would_raise(&raised, out)?;
        waits_for(if raised.is_empty() { 1 } else { open_after }, out)?;
    }
    Ok(())
}

async fn metrics(config: &HostConfig, jobs: &mut JobRunner, out: &mut dyn Write) -> io::Result<()> {
    let rate = |m: &MetricSpec| matches!(m, MetricSpec::Cpu | MetricSpec::Net(_));
    let mut checks: Vec<MetricCheck> = config
        .metrics
        .iter()
        .map(|w| MetricCheck::new(w).at_once())
        .collect();
    let mut first: Vec<Option<JobOutput>> = Vec::new();
    for check in &checks {
        let needs_two = rate(&check.watch().metric);
        first.push(if needs_two {
            Some(jobs.run_now(check.work()).await)
        } else {
            None
        });
    }
    if first.iter().any(Option::is_some) {
        tokio::time::sleep(RATE_GAP).await;
    }
    for (check, first) in checks.iter_mut().zip(first) {
        let mut board = ProblemBoard::new();
        let mut raised = Vec::new();
        let mut before = None;
        if let Some(output) = first {
            if let JobOutput::MetricSample(Ok(s)) = &output {
                before = Some(s.clone());
            }
            raised.extend(check.on_output(output, Now::read(), &mut board));
        }
        let output = jobs.run_now(check.work()).await;
        let reading = match &output {
            JobOutput::MetricSample(Ok(sample)) => describe(sample, before.as_ref()),
            JobOutput::MetricSample(Err(e)) => format!("cannot be read: {e}"),
            other => format!("{other:?}"),
        };
        raised.extend(check.on_output(output, Now::read(), &mut board));
        let w = check.watch();
        writeln!(out, "metric {}: {} {reading}", w.origin, w.metric)?;
        would_raise(&raised, out)?;
        waits_for(w.state.open_after, out)?;
    }
    Ok(())
}

fn describe(sample: &Sample, before: Option<&Sample>) -> String {
    match sample.value_since(before) {
        Ok(v) => v.to_string(),
        Err(e) => e.to_string(),
    }
}

async fn probes(config: &HostConfig, jobs: &mut JobRunner, out: &mut dyn Write) -> io::Result<()> {
    for watch in &config.probes {
        let mut check = ProbeCheck::new(watch).at_once();
        let output = jobs.run_now(check.work()).await;
        if let JobOutput::ProbeOutcome(o) = &output {
            let result = match (&o.failure, o.response_ms) {
                (Some(f), _) => format!("failed: {f}"),
                (None, Some(ms)) => format!("answered in {ms:.1} ms"),
                (None, None) => "answered".to_string(),
            };
            let status = o
                .status
                .map(|s| format!(", status {s}"))
                .unwrap_or_default();
            let cert = o
                .cert_days_left
                .map(|d| format!(", certificate expires in {d} days"))
                .unwrap_or_default();
            writeln!(
                out,
                "probe {}: {} {result}{status}{cert}",
                watch.origin, watch.probe
            )?;
        }
        let raised = check.on_output(output, Now::read(), &mut ProblemBoard::new());
        would_raise(&raised, out)?;
        if !matches!(watch.alert, ProbeAlert::Value(conf::WatchAlert::Metric)) {
            waits_for(watch.state.open_after, out)?;
        }
    }
    Ok(())
}
