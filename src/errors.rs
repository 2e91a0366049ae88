//! How an error becomes the one line a person reads.
//!
//! The rule, everywhere: an error's own message never repeats its cause (the `#[source]` /
//! `#[from]` field); the cause is printed once, by walking the chain here (or by anyhow's
//! `{:#}` in the CLI, which does the same).

use std::error::Error;

/// `error` and its causes on one line, outermost first, separated by ": ".
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write out.csv")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn every_cause_once() {
        let error = Outer { source: std::io::Error::other("disk full") };
        assert_eq!(one_line(&error), "cannot write out.csv: disk full");
        assert_eq!(format!("{:#}", anyhow::Error::new(Outer { source: std::io::Error::other("disk full") })), one_line(&error));
    }
}
