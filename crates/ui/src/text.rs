//! Anti-aliased TrueType text (fontdue), with a glyph cache.

use crate::canvas::{Canvas, Color, Rect};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("cannot read the font {path}: {source} (the image ships it in {}; on a host, install fonts-dejavu-core or set QUILL_FONT_DIR)", crate::FONT_DIR)]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a usable TrueType font: {reason}")]
    Parse { path: PathBuf, reason: String },
}

struct Glyph {
    metrics: fontdue::Metrics,
    coverage: Vec<u8>,
}

/// One TrueType face.
pub struct Font {
    face: fontdue::Font,
    cache: RefCell<HashMap<(char, u16), Glyph>>,
}

impl Font {
    pub fn load(path: &Path) -> Result<Font, FontError> {
        let bytes = std::fs::read(path).map_err(|source| FontError::Read { path: path.into(), source })?;
        let face = fontdue::Font::from_bytes(bytes, fontdue::FontSettings::default())
            .map_err(|reason| FontError::Parse { path: path.into(), reason: reason.to_string() })?;
        Ok(Font { face, cache: RefCell::new(HashMap::new()) })
    }

    fn with_glyph<T>(&self, c: char, px: u16, f: impl FnOnce(&Glyph) -> T) -> T {
        let mut cache = self.cache.borrow_mut();
        // The cache holds the glyphs of a few screens; start over when a
        // long session has filled it, so memory stays bounded.
        if cache.len() > 2048 {
            cache.clear();
        }
        let g = cache.entry((c, px)).or_insert_with(|| {
            let (metrics, coverage) = self.face.rasterize(c, px as f32);
            Glyph { metrics, coverage }
        });
        f(g)
    }

    /// Ascent and descent (positive, pixels) at `px`.
    pub fn line(&self, px: u16) -> (i32, i32) {
        match self.face.horizontal_line_metrics(px as f32) {
            Some(m) => (m.ascent.round() as i32, (-m.descent).round() as i32),
            None => ((px as f32 * 0.8) as i32, (px as f32 * 0.2) as i32),
        }
    }

    /// The width of `text` at `px`.
    pub fn measure(&self, text: &str, px: u16) -> i32 {
        let mut x = 0.0f32;
        let mut prev = None;
        for c in text.chars() {
            if let Some(p) = prev {
                x += self.face.horizontal_kern(p, c, px as f32).unwrap_or(0.0);
            }
            x += self.with_glyph(c, px, |g| g.metrics.advance_width);
            prev = Some(c);
        }
        x.round() as i32
    }

    /// Draws `text` with its baseline at `y`, starting at `x`; returns the
    /// x after the last glyph.
    pub fn draw(&self, canvas: &mut Canvas, x: i32, y: i32, px: u16, color: Color, text: &str) -> i32 {
        let all = canvas.bounds();
        self.draw_clipped(canvas, all, x, y, px, color, text)
    }

    /// [`Font::draw`], touching only the pixels inside `clip`.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_clipped(
        &self,
        canvas: &mut Canvas,
        clip: Rect,
        x: i32,
        y: i32,
        px: u16,
        color: Color,
        text: &str,
    ) -> i32 {
        let mut pen = x as f32;
        let mut prev = None;
        for c in text.chars() {
            if let Some(p) = prev {
                pen += self.face.horizontal_kern(p, c, px as f32).unwrap_or(0.0);
            }
            let gx = pen.round() as i32;
            let advance = self.with_glyph(c, px, |g| {
                let m = &g.metrics;
                let top = y - m.height as i32 - m.ymin;
                for row in 0..m.height {
                    for col in 0..m.width {
                        let (px, py) = (gx + m.xmin + col as i32, top + row as i32);
                        if clip.contains(px, py) {
                            canvas.blend(px, py, color, g.coverage[row * m.width + col]);
                        }
                    }
                }
                m.advance_width
            });
            pen += advance;
            prev = Some(c);
        }
        pen.round() as i32
    }

    /// Splits `text` into lines no wider than `width` at `px` (at spaces;
    /// a word longer than a line is split where it must).
    pub fn wrap(&self, text: &str, px: u16, width: i32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split(' ') {
                let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
                if self.measure(&candidate, px) <= width || line.is_empty() && self.measure(word, px) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    line.push(c);
                    if self.measure(&line, px) > width && line.chars().count() > 1 {
                        let last = line.pop().unwrap_or(' ');
                        lines.push(std::mem::take(&mut line));
                        line.push(last);
                    }
                }
            }
            lines.push(line);
        }
        lines
    }
}

/// The faces the UI uses.
pub struct Fonts {
    pub regular: Font,
    pub bold: Font,
}

impl Fonts {
    /// DejaVu Sans and DejaVu Sans Bold from `dir`.
    pub fn load(dir: &Path) -> Result<Fonts, FontError> {
        Ok(Fonts {
            regular: Font::load(&dir.join("DejaVuSans.ttf"))?,
            bold: Font::load(&dir.join("DejaVuSans-Bold.ttf"))?,
        })
    }

    /// The image's fonts, or on a host `$QUILL_FONT_DIR`, or Debian's
    /// fonts-dejavu-core.
    pub fn system() -> Result<Fonts, FontError> {
        let dir = std::env::var_os("QUILL_FONT_DIR").map(PathBuf::from).unwrap_or_else(|| {
            [crate::FONT_DIR, "/usr/share/fonts/truetype/dejavu"]
                .iter()
                .map(PathBuf::from)
                .find(|d| d.join("DejaVuSans.ttf").exists())
                .unwrap_or_else(|| PathBuf::from(crate::FONT_DIR))
        });
        Fonts::load(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_anti_aliased_and_measured() {
        let fonts = Fonts::system().expect("fonts (install fonts-dejavu-core)");
        let mut c = Canvas::new(200, 40);
        c.clear(Color::rgb(255, 255, 255));
        let end = fonts.regular.draw(&mut c, 5, 30, 20, Color::rgb(0, 0, 0), "Grüezi €");
        let w = fonts.regular.measure("Grüezi €", 20);
        assert_eq!(end - 5, w);
        assert!(w > 60 && w < 150, "{w}");
        let shades: std::collections::HashSet<u32> = c.pixels().iter().copied().collect();
        assert!(shades.len() > 10, "anti-aliasing gives grey levels: {}", shades.len());
        assert!(fonts.bold.measure("Setup", 20) > fonts.regular.measure("Setup", 20));
    }

    #[test]
    fn wrapping_keeps_lines_inside_the_width() {
        let fonts = Fonts::system().unwrap();
        let text = "The fingerprint of the gateway's certificate is shown on its status page.";
        let lines = fonts.regular.wrap(text, 16, 200);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| fonts.regular.measure(l, 16) <= 200), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        let long = fonts.regular.wrap("0123456789012345678901234567890123456789", 16, 100);
        assert!(long.len() > 1 && long.iter().all(|l| fonts.regular.measure(l, 16) <= 100), "{long:?}");
    }
}
