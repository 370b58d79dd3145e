//! The Setup Assistant as questions on a console, for devices with no
//! display (serial only). The same [`Wizard`] decides; this only asks.
//! Typing `b` goes back, an empty answer keeps what is shown in brackets.

use crate::catalogue::Msg;
use crate::field::Field;
use crate::wizard::{FieldId, GatewayState, Hit, Outcome, Step, System, Wizard};
use std::io::{BufRead, Write};

/// Where answers come from: a line, or a secret read without echo.
pub trait Answers {
    fn line(&mut self) -> std::io::Result<String>;
    /// A password after `prompt`: the terminal does not show it (the
    /// default shows the prompt and reads a line).
    fn secret(&mut self, prompt: &str, out: &mut dyn Write) -> std::io::Result<String> {
        write!(out, "{prompt}")?;
        out.flush()?;
        self.line()
    }
}

/// Answers from any reader (tests, a pipe).
pub struct Lines<R: BufRead>(pub R);

impl<R: BufRead> Answers for Lines<R> {
    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.0.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the console input ended"));
        }
        Ok(line.trim().to_string())
    }
}

/// Runs the wizard on `input`/`out` until it finishes; Err when the input
/// ends first.
fn ask(input: &mut dyn Answers, out: &mut dyn Write, prompt: &str) -> std::io::Result<String> {
    write!(out, "{prompt}: ")?;
    out.flush()?;
    input.line()
}

pub fn run(w: &mut Wizard, sys: &mut dyn System, input: &mut dyn Answers, out: &mut dyn Write) -> std::io::Result<()> {
    loop {
        writeln!(out, "\n== {}: {} ({}) ==", w.t(Msg::Assistant), w.title(), w.step_text())?;
        let step = w.step;
        match step {
            Step::Language | Step::Keyboard | Step::Licence | Step::Admin | Step::Timezone => {
                if step == Step::Timezone {
                    let f =
                        ask(input, out, &format!("{} [{}]", w.t(Msg::TimezoneFilter), w.field(FieldId::Filter).text))?;
                    if f == "b" {
                        w.back();
                        continue;
                    }
                    if !f.is_empty() && f.parse::<usize>().is_err() {
                        w.set_zone_filter(&f);
                    }
                }
                let items = w.list_items();
                if items.is_empty() {
                    writeln!(out, "{}", w.t(Msg::TimezoneNone))?;
                    w.set_zone_filter("");
                    continue;
                }
                let sel = w.list_selected().unwrap_or(0);
                for (i, item) in items.iter().enumerate().take(40) {
                    writeln!(out, "{} {:>3}) {item}", if i == sel { "*" } else { " " }, i + 1)?;
                }
                if items.len() > 40 {
                    writeln!(out, "     ... {} more: type a filter", items.len() - 40)?;
                }
                let a = ask(input, out, &format!("{} [{}]", w.title(), sel + 1))?;
                if a == "b" {
                    w.back();
                    continue;
                }
                if !a.is_empty() {
                    match a.parse::<usize>() {
                        Ok(n) if (1..=items.len()).contains(&n) => {
                            w.click(Hit::Row(n - 1), sys);
                        }
                        _ => {
                            writeln!(out, "! 1-{}", items.len())?;
                            continue;
                        }
                    }
                }
                if step == Step::Admin && w.admin == 0 {
                    w.password = Field::new(&input.secret(&format!("{}: ", w.t(Msg::AdminPassword)), out)?);
                    w.repeat = Field::new(&input.secret(&format!("{}: ", w.t(Msg::AdminRepeat)), out)?);
                }
            }
            Step::DateTime => {
                let d = ask(input, out, &format!("{} [{}]", w.t(Msg::Date), w.date.text))?;
                if d == "b" {
                    w.back();
                    continue;
                }
                if !d.is_empty() {
                    w.date = Field::new(&d);
                }
                let t = ask(input, out, &format!("{} [{}]", w.t(Msg::Time), w.time.text))?;
                if !t.is_empty() {
                    w.time = Field::new(&t);
                }
            }
            Step::Gateway => {
                for (field, label, secret) in
                    [(0, Msg::GatewayAddress, false), (1, Msg::GatewayFingerprint, false), (2, Msg::GatewayOtp, true)]
                {
                    let cur = [&w.address, &w.fingerprint, &w.otp][field].text.clone();
                    let shown = if secret { "*".repeat(cur.chars().count()) } else { cur };
                    let a = ask(input, out, &format!("{} [{shown}]", w.t(label)))?;
                    if a == "b" {
                        w.back();
                        break;
                    }
                    if !a.is_empty() {
                        *[&mut w.address, &mut w.fingerprint, &mut w.otp][field] = Field::new(&a);
                        w.gateway = GatewayState::NotChecked;
                    }
                }
                if w.step != Step::Gateway {
                    continue;
                }
            }
            Step::Finish => {
                for (k, v) in w.summary() {
                    writeln!(out, "  {k}: {v}")?;
                }
                let a = ask(input, out, &format!("{} [{}]", w.t(Msg::Finish), w.t(Msg::Yes)))?;
                if a == "b" {
                    w.back();
                    continue;
                }
            }
        }
        if let Some(reason) = w.next_blocker() {
            writeln!(out, "! {reason}")?;
            continue;
        }
        let outcome = w.next(sys);
        if w.gateway == GatewayState::Checking {
            writeln!(out, "{}", w.gateway_status().unwrap_or_default())?;
            w.run_gateway_check(sys);
            writeln!(out, "{}", w.gateway_status().unwrap_or_default())?;
            if w.gateway.is_ready() {
                w.next(sys);
            }
        }
        if let Some(e) = w.error.clone() {
            writeln!(out, "! {e}")?;
        }
        if outcome == Outcome::Finished {
            return Ok(());
        }
    }
}
