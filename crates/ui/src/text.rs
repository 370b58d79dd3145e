//! Anti-aliased TrueType text (ab_glyph), with a glyph cache.
//!
//! ab_glyph reads outlines lazily, glyph by glyph, so opening a face costs
//! almost nothing; parsing every outline up front (as fontdue does) took
//! about a second of the Setup Assistant's start under QEMU/TCG.

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

use ab_glyph::{Font as _, FontVec, GlyphId, PxScale};

/// A rasterized glyph: its coverage bitmap, placed relative to the pen on
/// the baseline.
struct Glyph {
    advance: f32,
    left: i32,
    top: i32,
    width: usize,
    height: usize,
    coverage: Vec<u8>,
}

/// One TrueType face.
pub struct Font {
    face: FontVec,
    /// Pixels per em at a font size of 1 px, as ab_glyph scales by the
    /// font's height rather than its em square.
    height_per_em: f32,
    cache: RefCell<HashMap<(char, u16), Glyph>>,
}

impl Font {
    pub fn load(path: &Path) -> Result<Font, FontError> {
        let bytes = std::fs::read(path).map_err(|source| FontError::Read { path: path.into(), source })?;
        let face =
            FontVec::try_from_vec(bytes).map_err(|e| FontError::Parse { path: path.into(), reason: e.to_string() })?;
        let em = face.units_per_em().ok_or_else(|| FontError::Parse {
            path: path.into(),
            reason: "no units per em in its head table".into(),
        })?;
        let height_per_em = face.height_unscaled() / em;
        Ok(Font { face, height_per_em, cache: RefCell::new(HashMap::new()) })
    }

    /// The ab_glyph scale that draws `px` pixels per em.
    fn scale(&self, px: u16) -> PxScale {
        PxScale::from(px as f32 * self.height_per_em)
    }

    fn kern(&self, a: char, b: char, px: u16) -> f32 {
        let s = self.scale(px);
        let per_unit = s.x / self.face.height_unscaled();
        self.face.kern_unscaled(self.face.glyph_id(a), self.face.glyph_id(b)) * per_unit
    }

    fn rasterize(&self, c: char, px: u16) -> Glyph {
        let scale = self.scale(px);
        let id: GlyphId = self.face.glyph_id(c);
        let advance = self.face.h_advance_unscaled(id) * scale.x / self.face.height_unscaled();
        let Some(outline) = self.face.outline_glyph(id.with_scale(scale)) else {
            return Glyph { advance, left: 0, top: 0, width: 0, height: 0, coverage: Vec::new() };
        };
        let b = outline.px_bounds();
        let (width, height) = (b.width() as usize, b.height() as usize);
        let mut coverage = vec![0u8; width * height];
        outline.draw(|x, y, v| {
            if let Some(p) = coverage.get_mut(y as usize * width + x as usize) {
                *p = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        });
        Glyph { advance, left: b.min.x as i32, top: b.min.y as i32, width, height, coverage }
    }

    fn with_glyph<T>(&self, c: char, px: u16, f: impl FnOnce(&Glyph) -> T) -> T {
        let mut cache = self.cache.borrow_mut();
        // The cache holds the glyphs of a few screens; start over when a
        // long session has filled it, so memory stays bounded.
        if cache.len() > 2048 {
            cache.clear();
        }
        let g = cache.entry((c, px)).or_insert_with(|| self.rasterize(c, px));
        f(g)
    }

    /// Ascent and descent (positive, pixels) at `px`.
    pub fn line(&self, px: u16) -> (i32, i32) {
        let per_unit = self.scale(px).y / self.face.height_unscaled();
        (
            (self.face.ascent_unscaled() * per_unit).round() as i32,
            (-self.face.descent_unscaled() * per_unit).round() as i32,
        )
    }

    /// The width of `text` at `px`.
    pub fn measure(&self, text: &str, px: u16) -> i32 {
        let mut x = 0.0f32;
        let mut prev = None;
        for c in text.chars() {
            if let Some(p) = prev {
                x += self.kern(p, c, px);
            }
            x += self.with_glyph(c, px, |g| g.advance);
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
                pen += self.kern(p, c, px);
            }
            let gx = pen.round() as i32;
            let advance = self.with_glyph(c, px, |g| {
                for row in 0..g.height {
                    for col in 0..g.width {
                        let (px, py) = (gx + g.left + col as i32, y + g.top + row as i32);
                        if clip.contains(px, py) {
                            canvas.blend(px, py, color, g.coverage[row * g.width + col]);
                        }
                    }
                }
                g.advance
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
