//! The one yes/no question of every verb that changes something (install,
//! flash, install-to-disk and its settings question): asked on a terminal,
//! `y`/`yes` is yes and `n`/`no` is no in any case, an empty answer takes
//! the default shown in capitals. Without a terminal nothing is asked and
//! the verb needs `--yes` (scripts), so nothing is ever changed by a
//! question nobody saw.

use std::io::{BufRead, IsTerminal, Write};

/// What an empty answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Yes,
    No,
}

/// Why nothing was asked.
#[derive(Debug, PartialEq, Eq)]
pub struct NoTerminal;

/// Reads an answer: `Some(true)` yes, `Some(false)` no, `None` not understood.
pub fn parse(answer: &str, default: Default) -> Option<bool> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "" => Some(default == Default::Yes),
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// Asks `question` on stderr and reads stdin; asks again (up to three
/// times) when the answer is neither yes nor no.
pub fn confirm(question: &str, default: Default) -> Result<bool, NoTerminal> {
    if !std::io::stdin().is_terminal() {
        return Err(NoTerminal);
    }
    let hint = match default {
        Default::Yes => "[Y/n]",
        Default::No => "[y/N]",
    };
    for _ in 0..3 {
        eprint!("{question} {hint} ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
            return Ok(false);
        }
        if let Some(yes) = parse(&answer, default) {
            return Ok(yes);
        }
        eprintln!("Please answer y or n.");
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        for (a, d, want) in [
            ("y\n", Default::No, Some(true)),
            ("YES", Default::No, Some(true)),
            ("n", Default::Yes, Some(false)),
            ("No\n", Default::Yes, Some(false)),
            ("\n", Default::No, Some(false)),
            ("", Default::Yes, Some(true)),
            ("sure", Default::Yes, None),
            ("yess", Default::No, None),
        ] {
            assert_eq!(parse(a, d), want, "{a:?}");
        }
    }
}
