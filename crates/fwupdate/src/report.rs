//! Progress of install, install-to-disk and flash, for people or for
//! programs. Both take the same [`progress::Progress`] events:
//! - `human` (default) writes to stderr: a line that rewrites itself on a
//!   terminal, one line per tenth otherwise (serial consoles, logs), and
//!   one line per step;
//! - `json` writes each event as one line on stdout (docs/progress-protocol.md),
//!   the last one with stage `done` or `failed`.

use crate::Failure;
use progress::{Op, Progress, Stage};
use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub struct Reporter {
    op: Op,
    format: Format,
    tty: bool,
    /// The stage and tenth last printed (line mode).
    last: Option<(Stage, u64)>,
    /// A rewriting line is open on the terminal.
    open_line: bool,
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

impl Reporter {
    pub fn new(op: Op, format: Format) -> Reporter {
        Reporter { op, format, tty: std::io::stderr().is_terminal(), last: None, open_line: false }
    }

    /// A step without bytes: `message` for people.
    pub fn step(&mut self, stage: Stage, fraction: f32, message: &str) {
        self.event(Progress::new(self.op, stage).fraction(fraction).message(message));
    }

    pub fn event(&mut self, p: Progress) {
        match self.format {
            Format::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", p.to_line());
                let _ = out.flush();
            }
            Format::Human => self.human(&p),
        }
    }

    fn human(&mut self, p: &Progress) {
        let counting = matches!(p.stage, Stage::Writing | Stage::Verifying) && p.total > 0;
        if !counting {
            self.close_line();
            if !p.message.is_empty() {
                eprintln!("fwupdate: {}", p.message);
            }
            return;
        }
        let word = if p.stage == Stage::Writing { "written" } else { "verified" };
        let rate = if p.rate > 0.0 { format!(", {:.1} MiB/s", p.rate / 1048576.0) } else { String::new() };
        if self.tty {
            eprint!("\rfwupdate: {word} {:>7.1} / {:.1} MiB{rate}   ", mib(p.done), mib(p.total));
            self.open_line = true;
            return;
        }
        let tenth = p.done * 10 / p.total;
        if self.last != Some((p.stage, tenth)) {
            self.last = Some((p.stage, tenth));
            eprintln!("fwupdate: {word} {:>3}% ({:.1} MiB{rate})", tenth * 10, mib(p.done));
        }
    }

    fn close_line(&mut self) {
        if self.open_line {
            eprintln!();
            self.open_line = false;
        }
    }

    /// The operation succeeded: the summary on stdout, or the last JSON line.
    pub fn done(&mut self, summary: &str) {
        match self.format {
            Format::Json => self.event(Progress::new(self.op, Stage::Done).fraction(1.0).message(summary)),
            Format::Human => {
                self.close_line();
                println!("fwupdate: {summary}");
            }
        }
    }

    /// The operation failed: as JSON, the last line carries why and the
    /// exit code (people see the message from main).
    pub fn failed(&mut self, f: &Failure) {
        self.close_line();
        if self.format == Format::Json {
            let mut p = Progress::new(self.op, Stage::Failed).message(&f.message);
            p.code = Some(f.code);
            self.event(p);
        }
    }
}
