//! The directives of the host language as one enum, read from a line once.
//!
//! A line is `directive: argument`; [`DirectiveLine::read`] splits it and
//! names the directive, and everything after works on [`Directive`]. A new
//! kind of check adds its variants here, with their names in
//! [`Directive::ALL`].

/// Every directive of a host file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Directive {
    /// `include:` — spliced in by the supervisor before parsing.
    Include,
    /// `active:` — windows for the next `alert_*` line.
    Active,
    /// `file:` — opens a log group.
    File,
    /// `match:` — a pattern of the open log group.
    Match,
    /// `alert_all/n/count/inactive:` — closes the open log group.
    LogAlert(LogAlertKind),
    /// `ps_command:` — where process watches read the process table.
    PsCommand,
    /// `process:` — opens a process group.
    Process,
    /// `alert_running:` — closes the open process group.
    AlertRunning,
    /// `run:` — opens a command group.
    Run,
    /// `alert_if/alert_metric:` — attaches to the open command group.
    CommandAlert(CommandAlertKind),
    /// `metric:` — opens a metric group, closed by `alert_if/alert_metric:`.
    Metric,
    /// `probe:` — opens a probe group, closed by
    /// `alert_failed/alert_if/alert_metric:`.
    Probe,
    /// `alert_failed:` — closes the open probe group.
    AlertFailed,
}

/// The `alert_*` lines that close a log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogAlertKind {
    /// `alert_all:`
    All,
    /// `alert_n:`
    N,
    /// `alert_count:`
    Count,
    /// `alert_inactive:`
    Inactive,
}

/// The `alert_*` lines that attach to a `run:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandAlertKind {
    /// `alert_if:`
    If,
    /// `alert_metric:`
    Metric,
}

impl Directive {
    /// Every directive, for looking one up by name.
    pub(crate) const ALL: [Directive; 17] = [
        Directive::Include,
        Directive::Active,
        Directive::File,
        Directive::Match,
        Directive::LogAlert(LogAlertKind::All),
        Directive::LogAlert(LogAlertKind::N),
        Directive::LogAlert(LogAlertKind::Count),
        Directive::LogAlert(LogAlertKind::Inactive),
        Directive::PsCommand,
        Directive::Process,
        Directive::AlertRunning,
        Directive::Run,
        Directive::CommandAlert(CommandAlertKind::If),
        Directive::CommandAlert(CommandAlertKind::Metric),
        Directive::Metric,
        Directive::Probe,
        Directive::AlertFailed,
    ];

    /// The name an operator writes before the `:`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Directive::Include => "include",
            Directive::Active => "active",
            Directive::File => "file",
            Directive::Match => "match",
            Directive::LogAlert(LogAlertKind::All) => "alert_all",
            Directive::LogAlert(LogAlertKind::N) => "alert_n",
            Directive::LogAlert(LogAlertKind::Count) => "alert_count",
            Directive::LogAlert(LogAlertKind::Inactive) => "alert_inactive",
            Directive::PsCommand => "ps_command",
            Directive::Process => "process",
            Directive::AlertRunning => "alert_running",
            Directive::Run => "run",
            Directive::CommandAlert(CommandAlertKind::If) => "alert_if",
            Directive::CommandAlert(CommandAlertKind::Metric) => "alert_metric",
            Directive::Metric => "metric",
            Directive::Probe => "probe",
            Directive::AlertFailed => "alert_failed",
        }
    }

    fn from_name(name: &str) -> Option<Directive> {
        Directive::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// One directive line, split at its first `:` with both sides trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirectiveLine<'a> {
    Known(Directive, &'a str),
    /// A name that is no directive, as written.
    Unknown(&'a str),
    /// No `:` at all.
    NotADirective,
}

impl<'a> DirectiveLine<'a> {
    pub(crate) fn read(line: &'a str) -> DirectiveLine<'a> {
        let Some((name, argument)) = line.split_once(':') else {
            return DirectiveLine::NotADirective;
        };
        let name = name.trim();
        match Directive::from_name(name) {
            Some(directive) => DirectiveLine::Known(directive, argument.trim()),
            None => DirectiveLine::Unknown(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directive_is_found_by_its_own_name() {
        for d in Directive::ALL {
            assert_eq!(
                DirectiveLine::read(&format!(" {} :  arg ", d.name())),
                DirectiveLine::Known(d, "arg")
            );
        }
        assert_eq!(
            DirectiveLine::read("alert_sometimes: x"),
            DirectiveLine::Unknown("alert_sometimes")
        );
        assert_eq!(
            DirectiveLine::read("no colon"),
            DirectiveLine::NotADirective
        );
    }
}
