//! Keyboard layouts: which character a key gives, by Linux key code (the
//! codes of `linux/input-event-codes.h`, which evdev reports and which the
//! console keymap is indexed by).
//!
//! Written by hand: the usual source of layouts is XKB (libxkbcommon, a C
//! library with its data files, several megabytes); the device needs five
//! layouts' printable keys, which fit in the tables below. Dead keys
//! (´ ` ^ ¨ on de, fr and ch) type their accent as a plain character.

pub mod console;

/// The layouts the Setup Assistant offers, with their English and native names.
pub const LAYOUTS: &[(&str, &str)] = &[
    ("us", "English (US)"),
    ("gb", "English (UK)"),
    ("de", "Deutsch (Deutschland)"),
    ("ch", "Deutsch (Schweiz)"),
    ("fr", "Français (France)"),
];

/// The keys the tables below cover, in order: the key left of 1, the digit
/// row, the three letter rows with their punctuation, the key between the
/// left shift and Z (ISO keyboards).
const KEYS: [u16; 48] = [
    41, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, // ` 1 .. 0 - =
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, // q .. ]
    30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 43, // a .. ' \
    44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 86, // z .. / and <>
];

/// One layout: the characters of [`KEYS`] plain and with Shift, and the
/// AltGr characters.
#[derive(Debug)]
pub struct Layout {
    pub name: &'static str,
    plain: &'static str,
    shift: &'static str,
    altgr: &'static [(u16, char)],
}

static LAYOUT_TABLES: [Layout; 5] = [
    Layout {
        name: "us",
        plain: "`1234567890-=qwertyuiop[]asdfghjkl;'\\zxcvbnm,./\\",
        shift: "~!@#$%^&*()_+QWERTYUIOP{}ASDFGHJKL:\"|ZXCVBNM<>?|",
        altgr: &[],
    },
    Layout {
        name: "gb",
        plain: "`1234567890-=qwertyuiop[]asdfghjkl;'#zxcvbnm,./\\",
        shift: "¬!\"£$%^&*()_+QWERTYUIOP{}ASDFGHJKL:@~ZXCVBNM<>?|",
        altgr: &[(41, '¦'), (5, '€'), (18, 'é'), (22, 'ú'), (23, 'í'), (24, 'ó'), (30, 'á')],
    },
    Layout {
        name: "de",
        plain: "^1234567890ß´qwertzuiopü+asdfghjklöä#yxcvbnm,.-<",
        shift: "°!\"§$%&/()=?`QWERTZUIOPÜ*ASDFGHJKLÖÄ'YXCVBNM;:_>",
        altgr: &[
            (3, '²'),
            (4, '³'),
            (8, '{'),
            (9, '['),
            (10, ']'),
            (11, '}'),
            (12, '\\'),
            (16, '@'),
            (18, '€'),
            (27, '~'),
            (50, 'µ'),
            (86, '|'),
        ],
    },
    Layout {
        name: "ch",
        plain: "§1234567890'^qwertzuiopü¨asdfghjklöä$yxcvbnm,.-<",
        shift: "°+\"*ç%&/()=?`QWERTZUIOPè!ASDFGHJKLéà£YXCVBNM;:_>",
        altgr: &[
            (2, '¦'),
            (3, '@'),
            (4, '#'),
            (7, '¬'),
            (8, '|'),
            (9, '¢'),
            (12, '´'),
            (13, '~'),
            (18, '€'),
            (26, '['),
            (27, ']'),
            (40, '{'),
            (43, '}'),
            (86, '\\'),
        ],
    },
    Layout {
        name: "fr",
        plain: "²&é\"'(-è_çà)=azertyuiop^$qsdfghjklmù*wxcvbn,;:!<",
        shift: "³1234567890°+AZERTYUIOP¨£QSDFGHJKLM%µWXCVBN?./§>",
        altgr: &[
            (3, '~'),
            (4, '#'),
            (5, '{'),
            (6, '['),
            (7, '|'),
            (8, '`'),
            (9, '\\'),
            (10, '^'),
            (11, '@'),
            (12, ']'),
            (13, '}'),
            (18, '€'),
            (27, '¤'),
        ],
    },
];

/// The key codes of the keypad and what they type whatever the layout.
const KEYPAD: [(u16, char); 15] = [
    (71, '7'),
    (72, '8'),
    (73, '9'),
    (75, '4'),
    (76, '5'),
    (77, '6'),
    (79, '1'),
    (80, '2'),
    (81, '3'),
    (82, '0'),
    (83, '.'),
    (55, '*'),
    (74, '-'),
    (78, '+'),
    (98, '/'),
];

/// The space bar.
pub const KEY_SPACE: u16 = 57;

/// Modifier state at a key press.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mods {
    pub shift: bool,
    pub altgr: bool,
    pub caps_lock: bool,
}

impl Layout {
    /// The layout called `name` ("us", "de", ...).
    pub fn by_name(name: &str) -> Option<&'static Layout> {
        LAYOUT_TABLES.iter().find(|l| l.name == name)
    }

    /// All layouts, in the order of [`LAYOUTS`].
    pub fn all() -> impl Iterator<Item = &'static Layout> {
        LAYOUTS.iter().filter_map(|(n, _)| Layout::by_name(n))
    }

    /// The character `code` types, if any.
    pub fn char_for(&self, code: u16, mods: Mods) -> Option<char> {
        if code == KEY_SPACE {
            return Some(' ');
        }
        if let Some(&(_, c)) = KEYPAD.iter().find(|(k, _)| *k == code) {
            return Some(c);
        }
        if mods.altgr {
            return self.altgr.iter().find(|(k, _)| *k == code).map(|&(_, c)| c);
        }
        let i = KEYS.iter().position(|&k| k == code)?;
        let plain = self.plain.chars().nth(i)?;
        let shifted = self.shift.chars().nth(i)?;
        // Caps Lock shifts letters only.
        let letter = plain.is_alphabetic()
            && shifted.is_alphabetic()
            && plain.to_uppercase().eq(shifted.to_lowercase().flat_map(char::to_uppercase));
        let up = mods.shift ^ (mods.caps_lock && letter);
        Some(if up { shifted } else { plain })
    }

    /// Every (code, plain, shifted) of the layout's printable keys.
    pub fn keys(&self) -> impl Iterator<Item = (u16, char, char)> + '_ {
        KEYS.iter().zip(self.plain.chars()).zip(self.shift.chars()).map(|((&k, p), s)| (k, p, s))
    }

    pub fn altgr_keys(&self) -> &'static [(u16, char)] {
        self.altgr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(layout: &str, codes: &[u16], mods: Mods) -> String {
        let l = Layout::by_name(layout).unwrap();
        codes.iter().filter_map(|&c| l.char_for(c, mods)).collect()
    }

    #[test]
    fn every_table_covers_every_key() {
        for l in &LAYOUT_TABLES {
            assert_eq!(l.plain.chars().count(), KEYS.len(), "{} plain", l.name);
            assert_eq!(l.shift.chars().count(), KEYS.len(), "{} shift", l.name);
        }
        assert_eq!(Layout::all().count(), LAYOUTS.len());
    }

    #[test]
    fn the_same_keys_type_what_each_layout_prints_on_them() {
        // Q W Y Z, and the key right of L, on each layout.
        let keys = [16, 17, 21, 44, 39];
        assert_eq!(typed("us", &keys, Mods::default()), "qwyz;");
        assert_eq!(typed("gb", &keys, Mods::default()), "qwyz;");
        assert_eq!(typed("de", &keys, Mods::default()), "qwzyö");
        assert_eq!(typed("ch", &keys, Mods::default()), "qwzyö");
        assert_eq!(typed("fr", &keys, Mods::default()), "azywm");
        let shift = Mods { shift: true, ..Mods::default() };
        assert_eq!(typed("us", &[3, 4], shift), "@#");
        assert_eq!(typed("gb", &[3, 4], shift), "\"£");
        assert_eq!(typed("de", &[3, 4], shift), "\"§");
        assert_eq!(typed("fr", &[2, 3], Mods::default()), "&é");
        assert_eq!(typed("fr", &[2, 3], shift), "12");
        let altgr = Mods { altgr: true, ..Mods::default() };
        assert_eq!(typed("de", &[16, 18, 12], altgr), "@€\\");
        assert_eq!(typed("ch", &[3], altgr), "@");
        assert_eq!(typed("us", &[16], altgr), "");
    }

    #[test]
    fn caps_lock_shifts_letters_only() {
        let caps = Mods { caps_lock: true, ..Mods::default() };
        assert_eq!(typed("de", &[16, 2, 39], caps), "Q1Ö");
        let both = Mods { caps_lock: true, shift: true, altgr: false };
        assert_eq!(typed("us", &[16, 2], both), "q!");
        // On Swiss German, shift on ü gives è: not a case pair, caps leaves it.
        assert_eq!(typed("ch", &[26], caps), "ü");
    }

    #[test]
    fn space_and_keypad_type_the_same_on_every_layout() {
        for l in Layout::all() {
            assert_eq!(l.char_for(KEY_SPACE, Mods::default()), Some(' '));
            assert_eq!(l.char_for(79, Mods::default()), Some('1'));
        }
        assert_eq!(Layout::by_name("xx").map(|l| l.name), None);
    }
}
