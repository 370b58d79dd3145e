//! A line of text being edited, with a cursor (in characters).

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field {
    pub text: String,
    pub cursor: usize,
}

impl Field {
    pub fn new(text: &str) -> Field {
        Field { text: text.into(), cursor: text.chars().count() }
    }

    fn byte(&self, char_index: usize) -> usize {
        self.text.char_indices().nth(char_index).map_or(self.text.len(), |(b, _)| b)
    }

    /// Applies an editing key; returns true when the text changed.
    pub fn edit(&mut self, key: ui::Key) -> bool {
        use ui::Key::*;
        let len = self.text.chars().count();
        match key {
            Char(c) if !c.is_control() => {
                let b = self.byte(self.cursor);
                self.text.insert(b, c);
                self.cursor += 1;
                return true;
            }
            Backspace if self.cursor > 0 => {
                let b = self.byte(self.cursor - 1);
                self.text.remove(b);
                self.cursor -= 1;
                return true;
            }
            Delete if self.cursor < len => {
                let b = self.byte(self.cursor);
                self.text.remove(b);
                return true;
            }
            Left => self.cursor = self.cursor.saturating_sub(1),
            Right => self.cursor = (self.cursor + 1).min(len),
            Home => self.cursor = 0,
            End => self.cursor = len,
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ui::Key::*;

    #[test]
    fn editing_in_the_middle_of_unicode_text() {
        let mut f = Field::new("Zürch");
        assert!(!f.edit(Left));
        f.edit(Left);
        assert!(f.edit(Char('i')));
        assert_eq!((f.text.as_str(), f.cursor), ("Zürich", 4));
        f.edit(Home);
        assert!(!f.edit(Backspace));
        assert!(f.edit(Delete));
        assert_eq!(f.text, "ürich");
        f.edit(End);
        assert!(f.edit(Backspace));
        assert_eq!((f.text.as_str(), f.cursor), ("üric", 4));
        assert!(!f.edit(Char('\u{7}')));
    }
}
