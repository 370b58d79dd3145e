//! The local Setup on the display: the tree on the left (areas and their
//! pages), the page's fields on the right, Back / Forward / Up and a
//! search above, Apply and Close below. Opened from the home screen or
//! with Ctrl+Alt+S, behind the administrator password. Every field is
//! checked as it is left (its reason shown under it); Apply saves only a
//! draft with nothing wrong in it ([`crate::local::save_and_apply`]).

pub mod view;

use crate::catalogue::{fill, text, Lang, Msg};
use crate::field::Field as Edit;
use crate::local::{Applied, Refused};
use localsetup::{info, Action, Draft, Field, Hit, Info, Kind, Nav, Node, TREE};
use std::collections::BTreeMap;
use ui::Key;

/// What has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Search,
    Tree,
    /// The n-th field of the page shown.
    Field(usize),
    /// The n-th action (button) of the page shown.
    Action(usize),
    Back,
    Forward,
    Up,
    Apply,
    Close,
}

/// What the screen asks its runner to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupOutcome {
    Stay,
    /// Save and apply the draft, then call [`Setup::applied`].
    Apply,
    /// Do this action, then call [`Setup::ran`].
    Run(Action),
    /// Go back to the resolution before ([`Setup::keep`]).
    Revert,
    Close,
}

/// A click target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupHit {
    Focus(Focus),
    /// A row of the tree.
    Row(usize),
    /// A search hit.
    Found(usize),
    /// A button of the box that asks to keep a resolution (0 Keep).
    Keep(usize),
    /// A button of the box that asks before an action (0 Yes).
    Confirm(usize),
}

pub struct Setup {
    pub lang: Lang,
    pub draft: Draft,
    pub nav: Nav,
    pub focus: Focus,
    /// The text being edited in each field of the page shown.
    pub edits: Vec<Edit>,
    pub search: Edit,
    pub hits: Vec<Hit>,
    /// The search hit chosen with Up/Down.
    pub hit: usize,
    /// The field a search jumped to, drawn highlighted.
    pub marked: Option<Field>,
    /// A line under the page: (text, is an error).
    pub message: Option<(String, bool)>,
    /// Escape was pressed once with changes not applied.
    closing: bool,
    /// The facts pages show, once read ([`Setup::missing_info`]).
    pub info: BTreeMap<Info, Vec<String>>,
    /// A new resolution shows: the one before, and when it goes back to
    /// it without an answer.
    pub keep: Option<(String, std::time::Instant)>,
    /// In the keep box: 0 Keep, 1 Go back.
    pub keep_choice: usize,
    /// The resolution before the last Apply.
    pending_before: Option<String>,
    /// An action that asks first, and the answer chosen (0 Yes, 1 No).
    pub confirm: Option<(Action, usize)>,
}

/// How long a new resolution shows before it goes back by itself.
pub const KEEP_SECS: u64 = 15;

/// The tree's rows: every area with its pages under it.
pub fn rows() -> Vec<Node> {
    let mut v = Vec::new();
    for (a, area) in TREE.iter().enumerate() {
        v.push(Node::Area(a));
        v.extend((0..area.pages.len()).map(|p| Node::Page(a, p)));
    }
    v
}

impl Setup {
    pub fn new(lang: Lang, draft: Draft) -> Setup {
        let mut s = Setup {
            lang,
            draft,
            nav: Nav::default(),
            focus: Focus::Tree,
            edits: vec![],
            search: Edit::default(),
            hits: vec![],
            hit: 0,
            marked: None,
            message: None,
            closing: false,
            info: BTreeMap::new(),
            keep: None,
            keep_choice: 0,
            pending_before: None,
            confirm: None,
        };
        s.open(Node::Page(0, 0));
        s
    }

    pub fn t(&self, m: Msg) -> &'static str {
        text(self.lang, m)
    }

    pub fn llang(&self) -> localsetup::Lang {
        self.lang
    }

    /// The fields of the page shown (none on an area).
    pub fn fields(&self) -> &'static [Field] {
        match self.nav.current() {
            Node::Page(a, p) => TREE[a].pages[p].fields,
            _ => &[],
        }
    }

    /// The actions of the page shown.
    pub fn actions(&self) -> &'static [Action] {
        match self.nav.current() {
            Node::Page(a, p) => TREE[a].pages[p].actions,
            _ => &[],
        }
    }

    /// The facts the page shown needs and the runner has not read yet.
    pub fn missing_info(&self) -> Option<Info> {
        match self.nav.current() {
            Node::Page(a, p) => TREE[a].pages[p].info.filter(|i| !self.info.contains_key(i)),
            _ => None,
        }
    }

    /// What an action said; the facts are read again (a rollback changes them).
    pub fn ran(&mut self, result: Result<String, String>) {
        self.info.clear();
        // An enrollment forgets its one-time password.
        self.load_edits();
        self.message = Some(match result {
            Ok(said) => (said, false),
            Err(why) => (why, true),
        });
    }

    fn load_edits(&mut self) {
        self.edits = self.fields().iter().map(|f| Edit::new(&self.draft.value(*f))).collect();
    }

    /// Shows `n` (recorded in the history).
    pub fn open(&mut self, n: Node) {
        self.commit();
        self.nav.go(n);
        self.marked = None;
        self.load_edits();
    }

    fn moved(&mut self) {
        self.marked = None;
        self.load_edits();
        if matches!(self.focus, Focus::Field(i) if i >= self.edits.len())
            || matches!(self.focus, Focus::Action(i) if i >= self.actions().len())
        {
            self.focus = Focus::Tree;
        }
    }

    /// Takes what was typed into the focused field (its reason is kept
    /// at the field when it is wrong).
    fn commit(&mut self) {
        if let Focus::Field(i) = self.focus {
            if let (Some(&f), Some(e)) = (self.fields().get(i), self.edits.get(i)) {
                if e.text != self.draft.value(f) {
                    let _ = self.draft.set(f, &e.text);
                    if f == Field::NetInterface {
                        self.load_edits();
                    }
                }
            }
        }
    }

    /// The order Tab goes through.
    fn order(&self) -> Vec<Focus> {
        let mut v = vec![Focus::Back, Focus::Forward, Focus::Up, Focus::Search, Focus::Tree];
        v.extend((0..self.edits.len()).map(Focus::Field));
        v.extend((0..self.actions().len()).map(Focus::Action));
        v.extend([Focus::Apply, Focus::Close]);
        v
    }

    fn cycle(&mut self, step: isize) {
        self.commit();
        let order = self.order();
        let i = order.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        self.focus = order[(i + step).rem_euclid(order.len() as isize) as usize];
    }

    /// Ctrl+F: to the search field.
    pub fn find(&mut self) {
        self.commit();
        self.focus = Focus::Search;
    }

    /// Alt+Left / Alt+Right / Alt+Up, and the buttons.
    pub fn go_back(&mut self) {
        self.commit();
        if self.nav.back() {
            self.moved();
        }
    }
    pub fn go_forward(&mut self) {
        self.commit();
        if self.nav.forward() {
            self.moved();
        }
    }
    pub fn go_up(&mut self) {
        self.commit();
        if self.nav.up() {
            self.moved();
        }
    }

    /// Opens the page of search hit `i` with its field focused and marked.
    pub fn jump(&mut self, i: usize) {
        let Some(h) = self.hits.get(i).cloned() else { return };
        self.open(Node::Page(h.page.0, h.page.1));
        self.search = Edit::default();
        self.hits.clear();
        let at = self.fields().iter().position(|f| *f == h.field).unwrap_or(0);
        self.focus = Focus::Field(at);
        self.marked = Some(h.field);
    }

    fn searched(&mut self) {
        self.hits = localsetup::search(&self.search.text, &self.draft);
        self.hit = 0;
    }

    /// A choice or on/off field: the next (or previous) value.
    fn step_value(&mut self, i: usize, forward: bool) {
        let f = self.fields()[i];
        let values = self.draft.choices(f);
        if values.is_empty() {
            return;
        }
        let now = values.iter().position(|v| *v == self.draft.value(f)).unwrap_or(0);
        let n = values.len();
        let next = &values[if forward { (now + 1) % n } else { (now + n - 1) % n }];
        let _ = self.draft.set(f, next);
        if f == Field::NetInterface {
            // The fields below now show that interface.
            self.load_edits();
        } else {
            self.edits[i] = Edit::new(&self.draft.value(f));
        }
    }

    /// The action of button `i`, or its question first.
    fn act(&mut self, i: usize) -> SetupOutcome {
        match self.actions().get(i) {
            Some(a) if a.confirm().is_some() => {
                self.confirm = Some((*a, 1));
                SetupOutcome::Stay
            }
            Some(a) => SetupOutcome::Run(*a),
            None => SetupOutcome::Stay,
        }
    }

    /// The answer to the question before an action: 0 Yes, else No.
    fn answer(&mut self, choice: usize) -> SetupOutcome {
        match self.confirm.take() {
            Some((a, _)) if choice == 0 => SetupOutcome::Run(a),
            _ => SetupOutcome::Stay,
        }
    }

    pub fn key(&mut self, key: Key) -> SetupOutcome {
        if let Some((_, choice)) = self.confirm.as_mut() {
            return match key {
                Key::Left | Key::Right | Key::Tab | Key::BackTab => {
                    *choice = 1 - *choice;
                    SetupOutcome::Stay
                }
                Key::Enter => {
                    let c = *choice;
                    self.answer(c)
                }
                Key::Escape => self.answer(1),
                _ => SetupOutcome::Stay,
            };
        }
        if self.keep.is_some() {
            return match key {
                Key::Left | Key::Right | Key::Tab | Key::BackTab => {
                    self.keep_choice = 1 - self.keep_choice;
                    SetupOutcome::Stay
                }
                Key::Enter if self.keep_choice == 0 => {
                    self.keep = None;
                    SetupOutcome::Stay
                }
                Key::Enter | Key::Escape => SetupOutcome::Revert,
                _ => SetupOutcome::Stay,
            };
        }
        if key != Key::Escape {
            self.closing = false;
        }
        match (self.focus, key) {
            (_, Key::Tab) => self.cycle(1),
            (_, Key::BackTab) => self.cycle(-1),
            (Focus::Search, Key::Escape) if !self.search.text.is_empty() => {
                self.search = Edit::default();
                self.hits.clear();
            }
            (_, Key::Escape) => return self.close(),
            (Focus::Search, Key::Down) if !self.hits.is_empty() => self.hit = (self.hit + 1).min(self.hits.len() - 1),
            (Focus::Search, Key::Up) => self.hit = self.hit.saturating_sub(1),
            (Focus::Search, Key::Enter) => self.jump(self.hit),
            (Focus::Search, k) if self.search.edit(k) => self.searched(),
            (Focus::Tree, Key::Up | Key::Down) => {
                let rows = rows();
                let at = rows.iter().position(|n| *n == self.nav.current()).unwrap_or(0);
                let next = if key == Key::Up { at.saturating_sub(1) } else { (at + 1).min(rows.len() - 1) };
                self.open(rows[next]);
            }
            (Focus::Tree, Key::Enter | Key::Right) if !self.edits.is_empty() => self.focus = Focus::Field(0),
            (Focus::Field(i), Key::Enter) => {
                self.commit();
                self.edits[i] = Edit::new(&self.draft.value(self.fields()[i]));
            }
            (Focus::Field(i), Key::Left | Key::Right | Key::Char(' '))
                if matches!(info(self.fields()[i]).kind, Kind::Choice(_) | Kind::Toggle) =>
            {
                self.step_value(i, key != Key::Left)
            }
            (Focus::Field(i), k) => {
                self.edits[i].edit(k);
            }
            (Focus::Action(i), Key::Enter) => return self.act(i),
            (Focus::Back, Key::Enter) => self.go_back(),
            (Focus::Forward, Key::Enter) => self.go_forward(),
            (Focus::Up, Key::Enter) => self.go_up(),
            (Focus::Apply, Key::Enter) => {
                self.commit();
                return SetupOutcome::Apply;
            }
            (Focus::Close, Key::Enter) => return self.close(),
            _ => {}
        }
        SetupOutcome::Stay
    }

    pub fn click(&mut self, hit: SetupHit) -> SetupOutcome {
        if self.confirm.is_some() {
            return match hit {
                SetupHit::Confirm(c) => self.answer(c),
                _ => SetupOutcome::Stay,
            };
        }
        if self.keep.is_some() {
            return match hit {
                SetupHit::Keep(0) => {
                    self.keep = None;
                    SetupOutcome::Stay
                }
                SetupHit::Keep(_) => SetupOutcome::Revert,
                _ => SetupOutcome::Stay,
            };
        }
        match hit {
            SetupHit::Row(i) => {
                if let Some(n) = rows().get(i) {
                    self.open(*n);
                    self.focus = Focus::Tree;
                }
            }
            SetupHit::Found(i) => self.jump(i),
            SetupHit::Keep(_) | SetupHit::Confirm(_) => {}
            SetupHit::Focus(f) => {
                self.commit();
                self.focus = f;
                // A button acts; a field or the search only takes the focus.
                if matches!(
                    f,
                    Focus::Back | Focus::Forward | Focus::Up | Focus::Apply | Focus::Close | Focus::Action(_)
                ) {
                    return self.key(Key::Enter);
                }
            }
        }
        SetupOutcome::Stay
    }

    fn close(&mut self) -> SetupOutcome {
        self.commit();
        if !self.draft.changed().is_empty() && !self.closing {
            self.closing = true;
            self.message = Some((self.t(Msg::SetupUnsaved).into(), true));
            return SetupOutcome::Stay;
        }
        SetupOutcome::Close
    }

    /// Saves and applies the draft through `sys`, and shows what happened.
    /// Returns the resolution saved (empty: the screen's own) when it
    /// changed: the runner switches to it and calls [`Setup::ask_keep`].
    pub fn apply(&mut self, sys: &mut dyn crate::System) -> Option<String> {
        let before = self.draft.saved_value(Field::Resolution);
        let r = crate::local::save_and_apply(&mut self.draft, sys);
        let switched = r.as_ref().ok().and_then(|a| a.resolution.clone());
        self.applied(r);
        self.pending_before = Some(before);
        switched
    }

    /// The new resolution shows: keep it, or it goes back by itself at `deadline`.
    pub fn ask_keep(&mut self, deadline: std::time::Instant) {
        let before = self.pending_before.take().unwrap_or_default();
        self.keep = Some((before, deadline));
        self.keep_choice = 0;
    }

    /// The resolution to go back to, and forgets the question.
    pub fn take_keep(&mut self) -> Option<String> {
        self.keep.take().map(|(before, _)| before)
    }

    /// What Apply did ([`crate::local::save_and_apply`]).
    pub fn applied(&mut self, result: Result<Applied, Refused>) {
        self.message = Some(match result {
            Ok(a) => {
                let none = "—";
                let now = if a.now.is_empty() { none.to_string() } else { a.now.join(", ") };
                let later = if a.later.is_empty() { none.to_string() } else { a.later.join(", ") };
                let mut text = fill(self.t(Msg::SetupSaved), &[&now, &later]);
                for w in a.warnings {
                    text.push_str(&format!(" {w}."));
                }
                (text, false)
            }
            Err(Refused::Unchanged) => (self.t(Msg::SetupUnchanged).into(), false),
            Err(Refused::NotSaved(e)) => (fill(self.t(Msg::SetupNotSaved), &[&e]), true),
            Err(Refused::Invalid(problems)) => {
                let names: Vec<&str> =
                    problems.iter().map(|(f, _)| localsetup::tr(&info(*f).label, self.llang())).collect();
                // Show the first of them.
                if let Some((f, _)) = problems.first() {
                    let (a, p) = localsetup::page_of(*f);
                    self.open(Node::Page(a, p));
                    self.focus = Focus::Field(self.fields().iter().position(|x| x == f).unwrap_or(0));
                }
                (fill(self.t(Msg::SetupInvalid), &[&names.join(", ")]), true)
            }
        });
        self.load_edits();
    }

    /// The reason shown under field `f`: from the checks of the whole
    /// draft, so a gateway outside the subnet is shown at the gateway.
    pub fn reason(&self, f: Field) -> Option<String> {
        self.draft.check().into_iter().find(|(g, _)| *g == f).map(|(_, why)| why)
    }
}
