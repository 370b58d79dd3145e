//! Input: raw key and pointer events from an [`InputSource`] (evdev, or a
//! script in tests), turned into [`Event`]s by an [`Input`] that knows the
//! keyboard layout and the screen size.

#[cfg(target_os = "linux")]
pub mod evdev;

use keymap::{Layout, Mods};
use std::collections::VecDeque;
use std::time::Duration;

/// What an input device reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Raw {
    /// A key (Linux key code) went down (1), up (0) or repeats (2).
    Key { code: u16, value: i32 },
    /// A mouse moved.
    Move { dx: i32, dy: i32 },
    /// A tablet or touch screen points at (x, y), each in 0..=1.
    Point { x: f32, y: f32 },
    /// The left button went down or up.
    Button { down: bool },
}

/// Gives raw input events.
pub trait InputSource {
    /// The next event, waiting at most `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Raw>;
}

/// A key, after the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Escape,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

/// What the UI acts on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    Key(Key),
    /// The pointer moved to (x, y) on the screen.
    PointerMoved {
        x: i32,
        y: i32,
    },
    /// The left button was clicked (released) at (x, y).
    Click {
        x: i32,
        y: i32,
    },
    /// Ctrl+Alt+Fn (or Alt+Fn): show text console n.
    Console(u16),
    /// Ctrl+Alt+Delete (the kernel does not see it while the UI holds the
    /// keyboard; see `vt`).
    CtrlAltDel,
    /// A key combination with a meaning of its own.
    Shortcut(Shortcut),
}

/// Key combinations the screens act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    /// Ctrl+Alt+S: open the local Setup from anywhere.
    Setup,
    /// Ctrl+F: to the search.
    Find,
    /// Alt+Left, Alt+Right, Alt+Up: back, forward, up.
    Back,
    Forward,
    Up,
}

// Linux key codes (linux/input-event-codes.h).
pub const KEY_ESC: u16 = 1;
pub const KEY_BACKSPACE: u16 = 14;
pub const KEY_TAB: u16 = 15;
pub const KEY_ENTER: u16 = 28;
pub const KEY_LEFTCTRL: u16 = 29;
pub const KEY_LEFTSHIFT: u16 = 42;
pub const KEY_RIGHTSHIFT: u16 = 54;
pub const KEY_LEFTALT: u16 = 56;
pub const KEY_CAPSLOCK: u16 = 58;
pub const KEY_F1: u16 = 59;
pub const KEY_F10: u16 = 68;
pub const KEY_F11: u16 = 87;
pub const KEY_F12: u16 = 88;
pub const KEY_KPENTER: u16 = 96;
pub const KEY_RIGHTCTRL: u16 = 97;
pub const KEY_RIGHTALT: u16 = 100;
pub const KEY_HOME: u16 = 102;
pub const KEY_UP: u16 = 103;
pub const KEY_PAGEUP: u16 = 104;
pub const KEY_LEFT: u16 = 105;
pub const KEY_RIGHT: u16 = 106;
pub const KEY_END: u16 = 107;
pub const KEY_DOWN: u16 = 108;
pub const KEY_PAGEDOWN: u16 = 109;
pub const KEY_DELETE: u16 = 111;
pub const KEY_S: u16 = 31;
pub const KEY_F: u16 = 33;
pub const BTN_LEFT: u16 = 0x110;

/// Turns raw events into [`Event`]s: modifiers, Caps Lock, the layout, and
/// the pointer's position on a screen of the given size.
pub struct Input {
    layout: &'static Layout,
    mods: Mods,
    ctrl: bool,
    alt: bool,
    pointer: (i32, i32),
    size: (i32, i32),
}

impl Input {
    pub fn new(layout: &'static Layout, width: u32, height: u32) -> Input {
        let size = (width as i32, height as i32);
        Input { layout, mods: Mods::default(), ctrl: false, alt: false, pointer: (size.0 / 2, size.1 / 2), size }
    }

    /// Switches the layout; takes effect at the next key.
    pub fn set_layout(&mut self, layout: &'static Layout) {
        self.layout = layout;
    }

    /// Forgets the modifiers held: their releases went elsewhere (another
    /// console was shown meanwhile). Caps Lock stays.
    pub fn release_modifiers(&mut self) {
        self.mods = Mods { caps_lock: self.mods.caps_lock, ..Mods::default() };
        self.ctrl = false;
        self.alt = false;
    }

    pub fn layout(&self) -> &'static Layout {
        self.layout
    }

    pub fn pointer(&self) -> (i32, i32) {
        self.pointer
    }

    pub fn translate(&mut self, raw: Raw) -> Option<Event> {
        match raw {
            Raw::Key { code, value } => self.key(code, value),
            Raw::Move { dx, dy } => {
                self.pointer =
                    ((self.pointer.0 + dx).clamp(0, self.size.0 - 1), (self.pointer.1 + dy).clamp(0, self.size.1 - 1));
                Some(Event::PointerMoved { x: self.pointer.0, y: self.pointer.1 })
            }
            Raw::Point { x, y } => {
                let px = ((x.clamp(0.0, 1.0) * (self.size.0 - 1) as f32).round()) as i32;
                let py = ((y.clamp(0.0, 1.0) * (self.size.1 - 1) as f32).round()) as i32;
                self.pointer = (px, py);
                Some(Event::PointerMoved { x: px, y: py })
            }
            Raw::Button { down: false } => Some(Event::Click { x: self.pointer.0, y: self.pointer.1 }),
            Raw::Button { down: true } => None,
        }
    }

    fn key(&mut self, code: u16, value: i32) -> Option<Event> {
        let down = value != 0;
        match code {
            KEY_LEFTSHIFT | KEY_RIGHTSHIFT => self.mods.shift = down,
            KEY_RIGHTALT => self.mods.altgr = down,
            KEY_LEFTCTRL | KEY_RIGHTCTRL => self.ctrl = down,
            KEY_LEFTALT => self.alt = down,
            KEY_CAPSLOCK if value == 1 => self.mods.caps_lock = !self.mods.caps_lock,
            _ => {}
        }
        if !down {
            return None;
        }
        if self.alt {
            let n = match code {
                KEY_F1..=KEY_F10 => code - KEY_F1 + 1,
                KEY_F11 | KEY_F12 => code - KEY_F11 + 11,
                _ => 0,
            };
            if n > 0 {
                return (value == 1).then_some(Event::Console(n));
            }
            if self.ctrl && code == KEY_DELETE {
                return (value == 1).then_some(Event::CtrlAltDel);
            }
            if self.ctrl && code == KEY_S {
                return (value == 1).then_some(Event::Shortcut(Shortcut::Setup));
            }
            if !self.ctrl {
                let s = match code {
                    KEY_LEFT => Some(Shortcut::Back),
                    KEY_RIGHT => Some(Shortcut::Forward),
                    KEY_UP => Some(Shortcut::Up),
                    _ => None,
                };
                if let Some(s) = s {
                    return Some(Event::Shortcut(s));
                }
            }
        }
        if self.ctrl && code == KEY_F {
            return (value == 1).then_some(Event::Shortcut(Shortcut::Find));
        }
        let key = match code {
            KEY_ESC => Key::Escape,
            KEY_BACKSPACE => Key::Backspace,
            KEY_TAB if self.mods.shift => Key::BackTab,
            KEY_TAB => Key::Tab,
            KEY_ENTER | KEY_KPENTER => Key::Enter,
            KEY_HOME => Key::Home,
            KEY_END => Key::End,
            KEY_UP => Key::Up,
            KEY_DOWN => Key::Down,
            KEY_LEFT => Key::Left,
            KEY_RIGHT => Key::Right,
            KEY_PAGEUP => Key::PageUp,
            KEY_PAGEDOWN => Key::PageDown,
            KEY_DELETE => Key::Delete,
            KEY_LEFTALT => return None,
            _ if self.ctrl => return None,
            _ => Key::Char(self.layout.char_for(code, self.mods)?),
        };
        Some(Event::Key(key))
    }
}

/// Input from a script, for tests.
#[derive(Default)]
pub struct Scripted {
    events: VecDeque<Raw>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted::default()
    }

    /// Presses and releases a key.
    pub fn tap(&mut self, code: u16) -> &mut Self {
        self.events.push_back(Raw::Key { code, value: 1 });
        self.events.push_back(Raw::Key { code, value: 0 });
        self
    }

    /// Types `text` on `layout` (with Shift and AltGr where needed).
    pub fn type_text(&mut self, layout: &Layout, text: &str) -> &mut Self {
        for c in text.chars() {
            let (code, mods) =
                code_for(layout, c).unwrap_or_else(|| panic!("{c:?} cannot be typed on {}", layout.name));
            let held: Vec<u16> = [(mods.shift, KEY_LEFTSHIFT), (mods.altgr, KEY_RIGHTALT)]
                .iter()
                .filter(|(on, _)| *on)
                .map(|&(_, k)| k)
                .collect();
            for &k in &held {
                self.events.push_back(Raw::Key { code: k, value: 1 });
            }
            self.tap(code);
            for &k in held.iter().rev() {
                self.events.push_back(Raw::Key { code: k, value: 0 });
            }
        }
        self
    }

    /// Moves a tablet pointer to (x, y) in 0..=1 and clicks there.
    pub fn click_at(&mut self, x: f32, y: f32) -> &mut Self {
        self.events.push_back(Raw::Point { x, y });
        self.events.push_back(Raw::Button { down: true });
        self.events.push_back(Raw::Button { down: false });
        self
    }

    pub fn push(&mut self, raw: Raw) -> &mut Self {
        self.events.push_back(raw);
        self
    }
}

impl InputSource for Scripted {
    fn next(&mut self, _timeout: Duration) -> Option<Raw> {
        self.events.pop_front()
    }
}

/// The key and modifiers that type `c` on `layout`.
pub fn code_for(layout: &Layout, c: char) -> Option<(u16, Mods)> {
    if c == ' ' {
        return Some((keymap::KEY_SPACE, Mods::default()));
    }
    for (code, plain, shift) in layout.keys() {
        if plain == c {
            return Some((code, Mods::default()));
        }
        if shift == c {
            return Some((code, Mods { shift: true, ..Mods::default() }));
        }
    }
    layout.altgr_keys().iter().find(|(_, a)| *a == c).map(|&(code, _)| (code, Mods { altgr: true, ..Mods::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(layout: &str, script: &mut Scripted) -> Vec<Event> {
        let mut input = Input::new(Layout::by_name(layout).unwrap(), 640, 480);
        std::iter::from_fn(|| script.next(Duration::ZERO)).filter_map(|r| input.translate(r)).collect()
    }

    fn text(events: &[Event]) -> String {
        events.iter().filter_map(|e| if let Event::Key(Key::Char(c)) = e { Some(*c) } else { None }).collect()
    }

    #[test]
    fn typing_follows_the_layout() {
        let us = Layout::by_name("us").unwrap();
        // The same keys, read with the German layout.
        let mut s = Scripted::new();
        s.type_text(us, "yz@");
        assert_eq!(text(&run("de", &mut s)), "zy\"");
        let mut s = Scripted::new();
        s.type_text(Layout::by_name("de").unwrap(), "Zürich @ 20€");
        assert_eq!(text(&run("de", &mut s)), "Zürich @ 20€");
    }

    #[test]
    fn special_keys_and_repeat() {
        let mut s = Scripted::new();
        s.tap(KEY_ENTER).tap(KEY_ESC).push(Raw::Key { code: KEY_DOWN, value: 1 });
        s.push(Raw::Key { code: KEY_DOWN, value: 2 }).push(Raw::Key { code: KEY_DOWN, value: 0 });
        s.push(Raw::Key { code: KEY_LEFTSHIFT, value: 1 })
            .tap(KEY_TAB)
            .push(Raw::Key { code: KEY_LEFTSHIFT, value: 0 });
        assert_eq!(
            run("us", &mut s),
            [Key::Enter, Key::Escape, Key::Down, Key::Down, Key::BackTab].map(Event::Key).to_vec()
        );
    }

    #[test]
    fn ctrl_alt_function_keys_switch_consoles() {
        let mut s = Scripted::new();
        let hold = |s: &mut Scripted, code, down: bool| {
            s.push(Raw::Key { code, value: i32::from(down) });
        };
        hold(&mut s, KEY_LEFTCTRL, true);
        hold(&mut s, KEY_LEFTALT, true);
        s.tap(KEY_F1 + 1);
        s.push(Raw::Key { code: KEY_F1 + 1, value: 2 }); // a held key does not switch twice
        hold(&mut s, KEY_LEFTCTRL, false);
        s.tap(KEY_F12);
        hold(&mut s, KEY_LEFTALT, false);
        s.tap(KEY_F1 + 1).tap(KEY_ENTER); // F2 alone is no switch
        hold(&mut s, KEY_RIGHTCTRL, true);
        hold(&mut s, KEY_LEFTALT, true);
        s.tap(KEY_DELETE);
        assert_eq!(
            run("us", &mut s),
            [Event::Console(2), Event::Console(12), Event::Key(Key::Enter), Event::CtrlAltDel]
        );
        // Switched away with Ctrl+Alt held: their releases never come here.
        let mut input = Input::new(Layout::by_name("us").unwrap(), 100, 100);
        input.translate(Raw::Key { code: KEY_LEFTCTRL, value: 1 });
        input.translate(Raw::Key { code: KEY_LEFTALT, value: 1 });
        assert_eq!(input.translate(Raw::Key { code: KEY_F1 + 1, value: 1 }), Some(Event::Console(2)));
        assert_eq!(input.translate(Raw::Key { code: 30, value: 1 }), None, "Ctrl+A types nothing");
        input.release_modifiers();
        assert_eq!(input.translate(Raw::Key { code: 30, value: 1 }), Some(Event::Key(Key::Char('a'))));
    }

    #[test]
    fn pointer_moves_are_clamped_and_clicks_land_where_it_points() {
        let mut s = Scripted::new();
        s.push(Raw::Move { dx: -1000, dy: 10 }).push(Raw::Button { down: true }).push(Raw::Button { down: false });
        s.click_at(1.0, 0.5);
        let ev = run("us", &mut s);
        assert_eq!(ev[0], Event::PointerMoved { x: 0, y: 250 });
        assert_eq!(ev[1], Event::Click { x: 0, y: 250 });
        assert_eq!(ev[3], Event::Click { x: 639, y: 240 });
    }
}
