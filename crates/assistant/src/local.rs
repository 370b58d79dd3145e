//! The local Setup on a console (`quill-setup --local`): the tree as paths,
//! one command per line. The same [`localsetup::Draft`] checks every field
//! as it is typed and the whole before anything is saved; saving goes
//! through [`System::save`] (crash-safe), and what can take effect at once
//! is applied right after: the keyboard layout, the time zone, and the
//! network (its service starts over with the new settings).
//!
//! ```text
//! setup:/> cd network/ethernet
//! setup:/network/ethernet> set network.mode static
//! setup:/network/ethernet> search gateway
//! setup:/network/ethernet> apply
//! ```

use crate::console::Answers;
use crate::wizard::System;
use localsetup::{effect, info, tr, Action, Draft, Effect, Field, Hit, Kind, Lang, Nav, Node, TREE};
use std::io::Write;

const HELP: &str = "commands:
  ls [PATH]          what is here (areas, pages, or a page's fields)
  cd PATH            go to an area or page (/network/ethernet, .., /)
  back | forward | up
  set KEY VALUE      change a field (KEY as ls shows it; an empty VALUE clears it)
  search WORDS       fields whose names (English or German) or values contain WORDS
  go N               open the page of search hit N, its field marked with >
  do ACTION          a page's action (ls shows them: check-update, roll-back, enroll, factory-reset)
  passwd             a new administrator password (asked twice, not shown)
  apply              save (nothing is saved while a field is wrong)
  quit               leave (changes not applied are dropped)";

struct Session<'a> {
    draft: &'a mut Draft,
    nav: Nav,
    lang: Lang,
    hits: Vec<Hit>,
    marked: Option<Field>,
}

impl Session<'_> {
    fn title(&self, n: Node) -> &'static str {
        match n {
            Node::Root => "Setup",
            Node::Area(a) => tr(&TREE[a].title, self.lang),
            Node::Page(a, p) => tr(&TREE[a].pages[p].title, self.lang),
        }
    }

    fn list(&self, n: Node, sys: &mut dyn System, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{} ({})", self.title(n), n.path())?;
        if let Node::Page(a, p) = n {
            for &f in TREE[a].pages[p].fields {
                let i = info(f);
                let mark = if self.marked == Some(f) { ">" } else { " " };
                let shown = match i.kind {
                    Kind::Secret => "•".repeat(self.draft.value(f).chars().count()),
                    _ => self.draft.shown(f, self.lang),
                };
                writeln!(out, "{mark} {:<22} {}: {shown}", i.key, tr(&i.label, self.lang))?;
                if f == Field::NetInterface {
                    let there = self.draft.interfaces().join(", ");
                    writeln!(out, "  {:<22}   (all, or one of: {there})", "")?;
                }
                if f == Field::Keyboard {
                    let active = sys.active_layout().unwrap_or_else(|| "unknown".into());
                    writeln!(out, "  {:<22}   (the consoles have {active} now)", "")?;
                }
                match self.draft.error(f) {
                    Some(why) => writeln!(out, "  {:<22} ! {why}", "")?,
                    None => writeln!(out, "  {:<22}   {}", "", tr(&i.help, self.lang))?,
                }
            }
            let page = &TREE[a].pages[p];
            if let Some(note) = &page.note {
                writeln!(out, "  {}", tr(note, self.lang))?;
            }
            if let Some(what) = page.info {
                for line in sys.about(what) {
                    writeln!(out, "  {line}")?;
                }
            }
            for act in page.actions {
                writeln!(out, "  do {:<19} {}", act.key(), tr(&act.label(), self.lang))?;
            }
        } else {
            for c in n.children() {
                writeln!(out, "  {:<22} {}", c.path().rsplit('/').next().unwrap_or(""), self.title(c))?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, sys: &mut dyn System, out: &mut dyn Write) -> std::io::Result<()> {
        match save_and_apply(self.draft, sys) {
            Err(Refused::Invalid(problems)) => {
                writeln!(out, "nothing saved; mend these first (the saved settings are unchanged):")?;
                for (f, why) in problems {
                    writeln!(out, "  {}: {why}", info(f).key)?;
                }
            }
            Err(Refused::Unchanged) => writeln!(out, "nothing to save: no field changed")?,
            Err(Refused::NotSaved(e)) => writeln!(out, "! not saved: {e}; the saved settings are unchanged")?,
            Ok(applied) => {
                for w in &applied.warnings {
                    writeln!(out, "! {w}")?;
                }
                writeln!(out, "saved")?;
                if !applied.now.is_empty() {
                    writeln!(out, "  in effect now: {}", applied.now.join(", "))?;
                }
                if !applied.later.is_empty() {
                    writeln!(out, "  in effect after a restart of the device: {}", applied.later.join(", "))?;
                }
                if applied.resolution.is_some() {
                    writeln!(out, "  display.resolution: used when the screen starts next")?;
                }
            }
        }
        Ok(())
    }

    /// One command; false when the session ends.
    fn command(
        &mut self,
        line: &str,
        sys: &mut dyn System,
        input: &mut dyn Answers,
        out: &mut dyn Write,
    ) -> std::io::Result<bool> {
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let here = self.nav.current();
        match cmd {
            "" => {}
            "help" | "?" => writeln!(out, "{HELP}")?,
            "quit" | "exit" | "q" => {
                let n = self.draft.changed().len();
                if n > 0 {
                    writeln!(out, "{n} change(s) not applied were dropped")?;
                }
                return Ok(false);
            }
            "ls" | "show" => match here.resolve(rest) {
                Some(n) => self.list(n, sys, out)?,
                None => writeln!(out, "! no such area or page: {rest:?} (ls / shows the areas)")?,
            },
            "cd" => match here.resolve(if rest.is_empty() { "/" } else { rest }) {
                Some(n) => {
                    self.nav.go(n);
                    self.marked = None;
                    self.list(n, sys, out)?;
                }
                None => writeln!(out, "! no such area or page: {rest:?} (ls / shows the areas)")?,
            },
            "back" | "forward" | "up" => {
                let moved = match cmd {
                    "back" => self.nav.back(),
                    "forward" => self.nav.forward(),
                    _ => self.nav.up(),
                };
                if !moved {
                    writeln!(out, "! nowhere to go {cmd}")?;
                }
                self.list(self.nav.current(), sys, out)?;
            }
            "set" => {
                let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                match localsetup::by_key(key) {
                    None => writeln!(out, "! no field {key:?}; ls on a page shows the fields' keys")?,
                    Some(f) if info(f).kind == Kind::Secret => {
                        writeln!(out, "! a password is not typed into set (it would show); use passwd")?
                    }
                    Some(f) => match self.draft.set(f, value.trim()) {
                        Ok(()) => {
                            writeln!(out, "{}: {}", tr(&info(f).label, self.lang), self.draft.shown(f, self.lang))?
                        }
                        Err(why) => writeln!(out, "! {}: {why} (not changed)", tr(&info(f).label, self.lang))?,
                    },
                }
            }
            "search" | "find" => {
                self.hits = localsetup::search(rest, self.draft);
                if self.hits.is_empty() {
                    writeln!(out, "nothing found for {rest:?}")?;
                }
                for (i, h) in self.hits.iter().enumerate() {
                    let page = &TREE[h.page.0].pages[h.page.1];
                    writeln!(out, "  {}. {} ({}): {}", i + 1, tr(&info(h.field).label, self.lang), page.id, h.matched)?;
                }
            }
            "go" => match rest.parse::<usize>().ok().and_then(|n| self.hits.get(n.wrapping_sub(1))).cloned() {
                Some(h) => {
                    let n = Node::Page(h.page.0, h.page.1);
                    self.nav.go(n);
                    self.marked = Some(h.field);
                    self.list(n, sys, out)?;
                }
                None => writeln!(out, "! go takes the number of a hit of the last search")?,
            },
            "apply" | "save" => self.apply(sys, out)?,
            "do" => {
                let page = match here {
                    Node::Page(a, p) => &TREE[a].pages[p],
                    _ => return writeln!(out, "! go to a page first (ls shows its actions)").map(|()| true),
                };
                match page.actions.iter().find(|a| a.key() == rest) {
                    None => writeln!(out, "! no action {rest:?} on this page")?,
                    Some(a) => {
                        if let Some(q) = a.confirm() {
                            write!(out, "{} Type yes to go on: ", tr(&q, self.lang))?;
                            out.flush()?;
                            if input.line()?.trim() != "yes" {
                                return writeln!(out, "cancelled; nothing was changed").map(|()| true);
                            }
                        }
                        // The one-time password is asked for, never typed into `set`.
                        if *a == Action::Enroll && self.draft.enrollment().is_err_and(|(f, _)| f == Field::MgmtOtp) {
                            let otp = input.secret("One-time password (from the server): ", out)?;
                            let _ = self.draft.set(Field::MgmtOtp, &otp);
                        }
                        match run_action(self.draft, sys, *a) {
                            Ok(said) => {
                                writeln!(out, "{said}")?;
                                if a.restarts() {
                                    out.flush()?;
                                    sys.reboot();
                                }
                            }
                            Err(why) => writeln!(out, "! {why}")?,
                        }
                    }
                }
            }
            "passwd" => {
                let new = input.secret("New administrator password: ", out)?;
                let repeat = input.secret("Repeat it: ", out)?;
                let _ = self.draft.set(Field::NewPassword, &new);
                let _ = self.draft.set(Field::RepeatPassword, &repeat);
                match self
                    .draft
                    .check()
                    .into_iter()
                    .find(|(f, _)| matches!(f, Field::NewPassword | Field::RepeatPassword))
                {
                    Some((_, why)) => {
                        let _ = self.draft.set(Field::NewPassword, "");
                        let _ = self.draft.set(Field::RepeatPassword, "");
                        writeln!(out, "! {why}; the password is unchanged")?;
                    }
                    None => writeln!(out, "the new password is set when you apply")?,
                }
            }
            other => writeln!(out, "! unknown command {other:?}; help lists them")?,
        }
        Ok(true)
    }
}

/// What a save did: the settings keys in effect now and after a restart,
/// and what could not be applied at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub now: Vec<&'static str>,
    pub later: Vec<&'static str>,
    pub warnings: Vec<String>,
    /// The screen resolution saved (empty: the screen's own), for the
    /// display's front end to switch to and confirm.
    pub resolution: Option<String>,
}

/// Why nothing was saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// These fields must be mended first.
    Invalid(Vec<(Field, String)>),
    Unchanged,
    /// The crash-safe write failed (the file on DATA is the old one).
    NotSaved(String),
}

/// Saves the draft when nothing in it is wrong (crash-safe, through
/// `sys`), then applies what can take effect at once: the keyboard layout,
/// the time zone, and the network (its service starts over). Both front
/// ends (the console's and the display's) save through here.
pub fn save_and_apply(draft: &mut Draft, sys: &mut dyn System) -> Result<Applied, Refused> {
    let changed = draft.changed();
    let settings = draft.to_save().map_err(Refused::Invalid)?;
    if changed.is_empty() {
        return Err(Refused::Unchanged);
    }
    let clock = draft.clock();
    if let Some(pw) = draft.new_password() {
        sys.save_admin(&crate::AdminChoice::Set(pw.to_string())).map_err(Refused::NotSaved)?;
    }
    sys.save(&settings).map_err(Refused::NotSaved)?;
    draft.saved();
    let mut a = Applied::default();
    let network: Vec<&'static str> =
        changed.iter().filter(|f| effect(**f) == Effect::Network).map(|f| info(*f).key).collect();
    if !network.is_empty() {
        match sys.restart_network() {
            Ok(true) => a.now.extend(&network),
            Ok(false) => a.later.extend(&network),
            Err(e) => {
                a.warnings.push(format!("the network service did not start over ({e})"));
                a.later.extend(&network);
            }
        }
    }
    for f in changed {
        let key = info(f).key;
        match (effect(f), f) {
            (Effect::AtOnce, Field::Keyboard) => {
                sys.set_layout(&settings.keyboard);
                a.now.push(key);
            }
            (Effect::AtOnce, Field::Timezone) => match sys.set_timezone(&settings.timezone) {
                Ok(()) => a.now.push(key),
                Err(e) => a.warnings.push(format!("time zone saved but not applied now: {e}")),
            },
            (Effect::AtOnce, Field::DateTime) => {
                let Some((date, (h, m))) = clock else { continue };
                match sys.set_clock_local(date, (h, m, 0)) {
                    Ok(()) => a.now.push(key),
                    Err(e) => a.warnings.push(format!("the clock was not set: {e}")),
                }
            }
            (Effect::AtOnce, _) => a.now.push(key),
            (Effect::Network, _) => {}
            // The display's front end switches and asks; see `Applied`.
            (Effect::Display, _) => a.resolution = Some(settings.display.resolution.clone()),
            (Effect::Restart, _) => a.later.push(key),
        }
    }
    Ok(a)
}

/// Does a page's action, for both front ends. Enroll takes the Management
/// page's fields, enrolls through `sys` and saves the server once the
/// enrollment succeeded (other changes still wait for Apply); a factory
/// reset is followed by the front end's restart ([`Action::restarts`]),
/// once what it said is shown. The confirmation ([`Action::confirm`]) is
/// the front end's too.
pub fn run_action(draft: &mut Draft, sys: &mut dyn System, action: Action) -> Result<String, String> {
    match action {
        Action::Enroll => {
            let e = draft.enrollment().map_err(|(f, why)| format!("{}: {why}", info(f).key))?;
            let done = sys.enroll(&e.address, &e.fingerprint, &e.otp);
            // A one-time password is used once, whatever the answer.
            let _ = draft.set(Field::MgmtOtp, "");
            let done = done.map_err(|err| err.to_string())?;
            let settings = draft.enrolled(&e);
            sys.save(&settings).map_err(|why| format!("enrolled, but the server was not saved: {why}"))?;
            Ok(format!("Connection ready: enrolled as {} until {}", done.unit_id, done.until))
        }
        _ => sys.action(action),
    }
}

/// Runs the console Setup on `draft` until `quit` or the end of the input.
pub fn run(
    draft: &mut Draft,
    lang: Lang,
    sys: &mut dyn System,
    input: &mut dyn Answers,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut s = Session { draft, nav: Nav::default(), lang, hits: vec![], marked: None };
    writeln!(out, "Quill Setup: help lists the commands")?;
    s.list(Node::Root, sys, out)?;
    loop {
        write!(out, "setup:{}> ", s.nav.current().path())?;
        out.flush()?;
        let line = match input.line() {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                writeln!(out)?;
                s.command("quit", sys, input, out)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !s.command(line.trim(), sys, input, out)? {
            return Ok(());
        }
    }
}
