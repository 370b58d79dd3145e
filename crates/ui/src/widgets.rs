//! Widgets, drawn immediately: each call draws one widget into the canvas
//! and returns where it went (for pointer hit tests). Sizes are given for a
//! 640x480 screen and scaled with [`Theme::for_size`], so the same layout
//! works from 640x480 to 1920x1080.

use crate::canvas::{Canvas, Color, Rect};
use crate::text::Fonts;

/// Colours and scale.
#[derive(Clone, Debug)]
pub struct Theme {
    pub scale: f32,
    pub background: Color,
    pub panel: Color,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub on_accent: Color,
    pub border: Color,
    pub error: Color,
    pub ok: Color,
    pub selection: Color,
}

impl Theme {
    /// The theme for a screen of `w` x `h` pixels.
    pub fn for_size(w: u32, h: u32) -> Theme {
        let scale = (w as f32 / 640.0).min(h as f32 / 480.0).clamp(1.0, 2.25);
        Theme {
            scale,
            background: Color::rgb(0xee, 0xf1, 0xf5),
            panel: Color::rgb(0xff, 0xff, 0xff),
            text: Color::rgb(0x1d, 0x23, 0x2b),
            muted: Color::rgb(0x5f, 0x6b, 0x7a),
            accent: Color::rgb(0x00, 0x5e, 0xa8),
            on_accent: Color::rgb(0xff, 0xff, 0xff),
            border: Color::rgb(0xb8, 0xc2, 0xcc),
            error: Color::rgb(0xb3, 0x1b, 0x1b),
            ok: Color::rgb(0x1e, 0x7b, 0x34),
            selection: Color::rgb(0xd6, 0xe6, 0xf5),
        }
    }

    /// `v` pixels of the 640x480 layout at this scale.
    pub fn px(&self, v: i32) -> i32 {
        (v as f32 * self.scale).round() as i32
    }

    /// A font size of the 640x480 layout at this scale.
    pub fn font(&self, v: u16) -> u16 {
        (v as f32 * self.scale).round() as u16
    }
}

/// Text sizes at 640x480.
pub const TITLE: u16 = 20;
pub const BODY: u16 = 15;
pub const SMALL: u16 = 12;

/// Draws widgets on a canvas.
pub struct Ui<'a> {
    pub canvas: &'a mut Canvas,
    pub fonts: &'a Fonts,
    pub theme: &'a Theme,
}

impl Ui<'_> {
    pub fn clear(&mut self) {
        self.canvas.clear(self.theme.background);
    }

    /// Text with its top-left corner at (x, y); returns its width.
    pub fn label(&mut self, x: i32, y: i32, size: u16, bold: bool, color: Color, text: &str) -> i32 {
        let px = self.theme.font(size);
        let font = if bold { &self.fonts.bold } else { &self.fonts.regular };
        let (ascent, _) = font.line(px);
        font.draw(self.canvas, x, y + ascent, px, color, text) - x
    }

    /// Text centred vertically in `r`, at its left (or centred when `center`).
    pub fn label_in(&mut self, r: Rect, size: u16, bold: bool, color: Color, text: &str, center: bool) {
        let px = self.theme.font(size);
        let font = if bold { &self.fonts.bold } else { &self.fonts.regular };
        let (ascent, descent) = font.line(px);
        let w = font.measure(text, px);
        let x = if center { r.x + (r.w - w) / 2 } else { r.x };
        let y = r.y + (r.h - ascent - descent) / 2 + ascent;
        font.draw(self.canvas, x, y, px, color, text);
    }

    /// Wrapped text inside `r`; returns the height used.
    pub fn paragraph(&mut self, r: Rect, size: u16, color: Color, text: &str) -> i32 {
        let px = self.theme.font(size);
        let (ascent, descent) = self.fonts.regular.line(px);
        let line_h = ascent + descent + self.theme.px(3);
        let mut y = r.y;
        for line in self.fonts.regular.wrap(text, px, r.w) {
            if y + line_h > r.bottom() + line_h / 2 {
                break;
            }
            self.fonts.regular.draw(self.canvas, r.x, y + ascent, px, color, &line);
            y += line_h;
        }
        y - r.y
    }

    /// The bar across the top: the title left, `step` ("Step 2 of 7")
    /// right. Returns the area below it.
    pub fn title_bar(&mut self, title: &str, step: &str) -> Rect {
        let t = self.theme.clone();
        let (bar, rest) = self.canvas.bounds().split_top(t.px(52));
        self.canvas.fill(bar, t.accent);
        let inner = bar.inset(t.px(16));
        self.label_in(Rect::new(inner.x, bar.y, inner.w, bar.h), TITLE, true, t.on_accent, title, false);
        let px = t.font(SMALL);
        let w = self.fonts.regular.measure(step, px);
        self.label_in(Rect::new(inner.right() - w, bar.y, w, bar.h), SMALL, false, t.on_accent, step, false);
        rest
    }

    /// A list of `items` with `selected` highlighted, scrolled so that the
    /// selection is visible. Returns the visible rows as (index, rect).
    pub fn list(&mut self, r: Rect, items: &[String], selected: Option<usize>, focused: bool) -> Vec<(usize, Rect)> {
        let t = self.theme.clone();
        self.canvas.fill(r, t.panel);
        self.canvas.frame(r, if focused { t.px(2) } else { 1 }, if focused { t.accent } else { t.border });
        let row_h = t.px(30);
        let inner = r.inset(t.px(2));
        let visible = (inner.h / row_h).max(1) as usize;
        let first = match selected {
            Some(s) if s >= visible => (s + 1 - visible).min(items.len().saturating_sub(visible)),
            _ => 0,
        };
        let mut rows = Vec::new();
        for (i, item) in items.iter().enumerate().skip(first).take(visible) {
            let row = Rect::new(inner.x, inner.y + (i - first) as i32 * row_h, inner.w, row_h);
            if Some(i) == selected {
                self.canvas.fill(row, if focused { t.accent } else { t.selection });
            }
            let color = if Some(i) == selected && focused { t.on_accent } else { t.text };
            self.label_in(Rect::new(row.x + t.px(10), row.y, row.w - t.px(20), row.h), BODY, false, color, item, false);
            rows.push((i, row));
        }
        if items.len() > visible {
            // Scroll bar: where the visible rows are in the whole list.
            let track = Rect::new(inner.right() - t.px(4), inner.y, t.px(4), inner.h);
            let h = (track.h as usize * visible / items.len()).max(t.px(12) as usize) as i32;
            let y = track.y + ((track.h - h) as usize * first / (items.len() - visible)) as i32;
            self.canvas.fill(Rect::new(track.x, y, track.w, h), t.border);
        }
        if items.is_empty() {
            self.label_in(inner.inset(t.px(8)), SMALL, false, t.muted, "—", false);
        }
        rows
    }

    /// A labelled text field. `cursor` is a char index into `value`; `error`
    /// is shown under the field. Returns the field's box.
    #[allow(clippy::too_many_arguments)]
    pub fn text_field(
        &mut self,
        r: Rect,
        label: &str,
        value: &str,
        cursor: usize,
        focused: bool,
        secret: bool,
        hint: Option<(&str, bool)>,
    ) -> Rect {
        let t = self.theme.clone();
        self.label(r.x, r.y, SMALL, true, t.text, label);
        let field = Rect::new(r.x, r.y + t.px(18), r.w, t.px(32));
        self.canvas.fill(field, t.panel);
        self.canvas.frame(field, if focused { t.px(2) } else { 1 }, if focused { t.accent } else { t.border });
        let shown: String = if secret { "•".repeat(value.chars().count()) } else { value.to_string() };
        let px = t.font(BODY);
        let (ascent, descent) = self.fonts.regular.line(px);
        let base = field.y + (field.h - ascent - descent) / 2 + ascent;
        let x0 = field.x + t.px(8);
        // Scroll long values so the cursor stays inside the box.
        let before: String = shown.chars().take(cursor).collect();
        let cursor_x = self.fonts.regular.measure(&before, px);
        let room = field.w - t.px(16);
        let shift = (cursor_x - room).max(0);
        let clip = Rect::new(x0, field.y, room.max(1), field.h);
        self.fonts.regular.draw_clipped(self.canvas, clip, x0 - shift, base, px, t.text, &shown);
        self.canvas.frame(field, if focused { t.px(2) } else { 1 }, if focused { t.accent } else { t.border });
        if focused {
            let cx = x0 + cursor_x - shift;
            self.canvas.fill(Rect::new(cx, base - ascent, t.px(2).max(1), ascent + descent), t.text);
        }
        if let Some((text, is_error)) = hint {
            let color = if is_error { t.error } else { t.muted };
            self.label(r.x, field.bottom() + t.px(4), SMALL, false, color, text);
        }
        field
    }

    /// A button; a disabled button is drawn greyed and a focused one with a
    /// ring. Returns its box.
    pub fn button(&mut self, r: Rect, label: &str, focused: bool, enabled: bool, primary: bool) -> Rect {
        let t = self.theme.clone();
        let (fill, text) = match (enabled, primary) {
            (false, _) => (Color::rgb(0xdd, 0xe1, 0xe6), Color::rgb(0x98, 0xa2, 0xad)),
            (true, true) => (t.accent, t.on_accent),
            (true, false) => (t.panel, t.accent),
        };
        if focused {
            self.canvas.fill_rounded(
                Rect::new(r.x - t.px(3), r.y - t.px(3), r.w + t.px(6), r.h + t.px(6)),
                t.px(8),
                t.text,
            );
            self.canvas.fill_rounded(
                Rect::new(r.x - t.px(1), r.y - t.px(1), r.w + t.px(2), r.h + t.px(2)),
                t.px(6),
                t.background,
            );
        }
        self.canvas.fill_rounded(r, t.px(5), if enabled && !primary { t.border } else { fill });
        let inner = if enabled && !primary { r.inset(1) } else { r };
        self.canvas.fill_rounded(inner, t.px(5), fill);
        self.label_in(r, BODY, true, text, label, true);
        r
    }

    /// A progress bar, `fraction` in 0..=1.
    pub fn progress(&mut self, r: Rect, fraction: f32) {
        let t = self.theme.clone();
        self.canvas.fill_rounded(r, r.h / 2, t.border);
        let w = ((r.w as f32) * fraction.clamp(0.0, 1.0)).round() as i32;
        if w > 0 {
            self.canvas.fill_rounded(Rect::new(r.x, r.y, w.max(r.h), r.h), r.h / 2, t.accent);
        }
    }

    /// A message box in the middle of the screen over a dimmed background,
    /// with `buttons` (the focused one ringed). Returns the buttons' boxes.
    pub fn message_box(&mut self, title: &str, text: &str, buttons: &[&str], focused: usize) -> Vec<Rect> {
        let t = self.theme.clone();
        let inner = self.box_inner();
        self.panel(inner, title);
        self.paragraph(Rect::new(inner.x, inner.y + t.px(34), inner.w, inner.h - t.px(80)), BODY, t.text, text);
        self.button_row(inner, buttons, focused)
    }

    /// The inside of the message box (centred, scaled).
    fn box_inner(&self) -> Rect {
        self.centred(self.theme.px(440), self.theme.px(220))
    }

    /// The inside of a dialog of `w` x `h` pixels in the middle of the
    /// screen, at most the screen less a margin.
    fn centred(&self, w: i32, h: i32) -> Rect {
        let t = &self.theme;
        let screen = self.canvas.bounds();
        let w = w.min(screen.w - t.px(20));
        let h = h.min(screen.h - t.px(20));
        Rect::new((screen.w - w) / 2, (screen.h - h) / 2, w, h).inset(t.px(18))
    }

    /// Dims the screen and draws a dialog's panel around `inner` with `title`.
    fn panel(&mut self, inner: Rect, title: &str) {
        let t = self.theme.clone();
        let screen = self.canvas.bounds();
        for y in 0..screen.h {
            for x in 0..screen.w {
                self.canvas.blend(x, y, Color::rgb(0, 0, 0), 110);
            }
        }
        self.canvas.fill_rounded(inner.inset(-t.px(18)), t.px(8), t.panel);
        self.label(inner.x, inner.y, TITLE, true, t.text, title);
    }

    /// A message box whose answers are stacked full-width buttons (choices
    /// too long for a row of buttons: disks, say), the box as tall as they
    /// need. Returns each item's rectangle.
    pub fn choice_box(&mut self, title: &str, text: &str, items: &[&str], focused: usize) -> Vec<Rect> {
        let t = self.theme.clone();
        let (bh, gap, text_h) = (t.px(34), t.px(8), t.px(56));
        // Title, text, the items, the margins.
        let h = t.px(34) + text_h + items.len() as i32 * (bh + gap) + t.px(36);
        let inner = self.centred(t.px(520), h);
        self.panel(inner, title);
        self.paragraph(Rect::new(inner.x, inner.y + t.px(34), inner.w, text_h), BODY, t.text, text);
        let mut y = inner.y + t.px(34) + text_h;
        let mut out = Vec::with_capacity(items.len());
        for (i, label) in items.iter().enumerate() {
            out.push(self.button(Rect::new(inner.x, y, inner.w, bh), label, i == focused, true, false));
            y += bh + gap;
        }
        out
    }

    /// A message box asking for a secret: `text`, a field showing `len`
    /// dots, a note under it (an error in the error colour), and the
    /// buttons. Returns the buttons' rectangles.
    pub fn password_box(
        &mut self,
        title: &str,
        text: &str,
        len: usize,
        note: Option<&str>,
        buttons: &[&str],
        focused: usize,
    ) -> Vec<Rect> {
        let t = self.theme.clone();
        let inner = self.centred(t.px(460), t.px(290));
        self.panel(inner, title);
        self.paragraph(Rect::new(inner.x, inner.y + t.px(34), inner.w, t.px(48)), BODY, t.text, text);
        let dots = "*".repeat(len);
        self.text_field(
            Rect::new(inner.x, inner.y + t.px(86), inner.w, t.px(70)),
            "",
            &dots,
            len,
            true,
            true,
            note.map(|n| (n, true)),
        );
        self.button_row(inner, buttons, focused)
    }

    /// A dialog's buttons, right-aligned along the bottom of `inner`, the
    /// first one the default; returns where each one is (for the mouse).
    fn button_row(&mut self, inner: Rect, buttons: &[&str], focused: usize) -> Vec<Rect> {
        let t = self.theme.clone();
        let bw = t.px(120);
        let bh = t.px(34);
        let mut x = inner.right() - bw;
        let mut out = vec![Rect::default(); buttons.len()];
        for (i, label) in buttons.iter().enumerate().rev() {
            out[i] = self.button(Rect::new(x, inner.bottom() - bh, bw, bh), label, i == focused, true, i == 0);
            x -= bw + t.px(12);
        }
        out
    }

    /// A message box with a progress bar (0..=1) where the buttons would be.
    pub fn progress_box(&mut self, title: &str, text: &str, fraction: f32) {
        self.message_box(title, text, &[], 0);
        let inner = self.box_inner();
        let h = self.theme.px(14);
        self.progress(Rect::new(inner.x, inner.bottom() - h - self.theme.px(10), inner.w, h), fraction);
    }

    /// The mouse pointer, an arrow with its tip at (x, y).
    pub fn pointer(&mut self, x: i32, y: i32) {
        let h = self.theme.px(16);
        for row in 0..h {
            let width = row * 6 / 10 + 1;
            for col in 0..width {
                let edge = col == 0 || col == width - 1 || row == h - 1;
                let c = if edge { Color::rgb(0, 0, 0) } else { Color::rgb(255, 255, 255) };
                self.canvas.blend(x + col, y + row, c, 255);
            }
        }
    }
}
