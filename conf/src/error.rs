//! Configuration errors as an operator reads them: `FILE:LINE: message`,
//! followed by the include chain that led to the file when there is one.
//!
//! Errors are collected, never raised at the first one: `supervisor --check`
//! shows every problem of a file in one run. Operator text quoted in a
//! message is cut short (`shorten`): a line can be a megabyte long.

use std::fmt;

use crate::model::Origin;

/// One problem in one configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub origin: Origin,
    pub message: String,
}

impl ConfError {
    pub fn new(origin: Origin, message: impl Into<String>) -> Self {
        ConfError {
            origin,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0 stands for the file as a whole (it cannot be read, it is too
        // large): no line number an editor could jump to.
        if self.origin.line == 0 {
            write!(f, "{}: {}", self.origin.file, self.message)?;
        } else {
            write!(f, "{}: {}", self.origin, self.message)?;
        }
        if !self.origin.included_from.is_empty() {
            f.write_str(" (included from ")?;
            for (i, (file, line)) in self.origin.included_from.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{file}:{line}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfError {}

/// Every error found in a file, in line order; Display is one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfErrors(pub Vec<ConfError>);

impl fmt::Display for ConfErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfErrors {}

impl From<Vec<ConfError>> for ConfErrors {
    fn from(v: Vec<ConfError>) -> Self {
        ConfErrors(v)
    }
}

/// At most 80 characters of operator text in a message: lines can be up to
/// a megabyte long.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(file: &str, line: usize, chain: &[(&str, usize)]) -> Origin {
        Origin {
            file: file.into(),
            line,
            included_from: chain.iter().map(|(f, l)| (f.to_string(), *l)).collect(),
        }
    }

    #[test]
    fn display_is_file_line_message() {
        let e = ConfError::new(origin("hosts/web1", 7, &[]), "unknown directive `foo:`");
        assert_eq!(e.to_string(), "hosts/web1:7: unknown directive `foo:`");
    }

    #[test]
    fn display_names_include_chain_outermost_first() {
        let e = ConfError::new(
            origin("includes/b", 2, &[("hosts/web1", 4), ("includes/a", 2)]),
            "bad",
        );
        assert_eq!(
            e.to_string(),
            "includes/b:2: bad (included from hosts/web1:4, includes/a:2)"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let es = ConfErrors(vec![
            ConfError::new(origin("a", 1, &[]), "x"),
            ConfError::new(origin("a", 0, &[]), "y"),
        ]);
        assert_eq!(es.to_string(), "a:1: x\na: y");
    }

    #[test]
    fn shorten_cuts_long_text_on_a_character_boundary() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(shorten(&long).chars().count(), 81);
    }
}
