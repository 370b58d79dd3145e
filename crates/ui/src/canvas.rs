//! The frame being drawn: XRGB8888 pixels in memory, with clipping.

use std::path::Path;

/// A colour, 0x00RRGGBB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(pub u32);

impl Color {
    pub const fn rgb(r: u8, g: u8, b: u8) -> Color {
        Color(((r as u32) << 16) | ((g as u32) << 8) | b as u32)
    }
    pub fn r(self) -> u8 {
        (self.0 >> 16) as u8
    }
    pub fn g(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub fn b(self) -> u8 {
        self.0 as u8
    }
    /// `self` over `under` with coverage `a` (0..=255).
    pub fn over(self, under: Color, a: u8) -> Color {
        let mix = |f: u8, b: u8| ((f as u32 * a as u32 + b as u32 * (255 - a as u32) + 127) / 255) as u8;
        Color::rgb(mix(self.r(), under.r()), mix(self.g(), under.g()), mix(self.b(), under.b()))
    }
}

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub const fn new(x: i32, y: i32, w: i32, h: i32) -> Rect {
        Rect { x, y, w, h }
    }
    pub fn right(&self) -> i32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.right() && y < self.bottom()
    }
    /// Smaller by `d` on every side.
    pub fn inset(&self, d: i32) -> Rect {
        Rect::new(self.x + d, self.y + d, (self.w - 2 * d).max(0), (self.h - 2 * d).max(0))
    }
    /// The top `h` pixels, and the rest.
    pub fn split_top(&self, h: i32) -> (Rect, Rect) {
        let h = h.min(self.h);
        (Rect::new(self.x, self.y, self.w, h), Rect::new(self.x, self.y + h, self.w, self.h - h))
    }
    /// The bottom `h` pixels, and the rest above.
    pub fn split_bottom(&self, h: i32) -> (Rect, Rect) {
        let h = h.min(self.h);
        (Rect::new(self.x, self.bottom() - h, self.w, h), Rect::new(self.x, self.y, self.w, self.h - h))
    }
}

/// Pixels in memory, drawn by the widgets and presented by a display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    px: Vec<u32>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Canvas {
        Canvas { width, height, px: vec![0; width as usize * height as usize] }
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width as i32, self.height as i32)
    }
    /// Rows of XRGB8888 pixels.
    pub fn pixels(&self) -> &[u32] {
        &self.px
    }
    pub fn row(&self, y: u32) -> &[u32] {
        let w = self.width as usize;
        &self.px[y as usize * w..(y as usize + 1) * w]
    }
    pub fn pixel(&self, x: u32, y: u32) -> Color {
        Color(self.px[(y * self.width + x) as usize])
    }

    pub fn clear(&mut self, c: Color) {
        self.px.fill(c.0);
    }

    /// `r` clipped to the canvas, as (x0, y0, x1, y1).
    fn clip(&self, r: Rect) -> Option<(usize, usize, usize, usize)> {
        let x0 = r.x.max(0);
        let y0 = r.y.max(0);
        let x1 = r.right().min(self.width as i32);
        let y1 = r.bottom().min(self.height as i32);
        (x0 < x1 && y0 < y1).then_some((x0 as usize, y0 as usize, x1 as usize, y1 as usize))
    }

    pub fn fill(&mut self, r: Rect, c: Color) {
        if let Some((x0, y0, x1, y1)) = self.clip(r) {
            let w = self.width as usize;
            for y in y0..y1 {
                self.px[y * w + x0..y * w + x1].fill(c.0);
            }
        }
    }

    /// A rectangle with corners rounded by `radius` pixels (anti-aliased).
    pub fn fill_rounded(&mut self, r: Rect, radius: i32, c: Color) {
        let radius = radius.min(r.w / 2).min(r.h / 2).max(0);
        if radius == 0 {
            return self.fill(r, c);
        }
        self.fill(Rect::new(r.x, r.y + radius, r.w, r.h - 2 * radius), c);
        self.fill(Rect::new(r.x + radius, r.y, r.w - 2 * radius, radius), c);
        self.fill(Rect::new(r.x + radius, r.bottom() - radius, r.w - 2 * radius, radius), c);
        let rf = radius as f32;
        for dy in 0..radius {
            for dx in 0..radius {
                // Coverage of the pixel by the quarter circle, 4x4 samples.
                let mut hits = 0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let px = rf - (dx as f32 + (sx as f32 + 0.5) / 4.0);
                        let py = rf - (dy as f32 + (sy as f32 + 0.5) / 4.0);
                        if px * px + py * py <= rf * rf {
                            hits += 1;
                        }
                    }
                }
                if hits == 0 {
                    continue;
                }
                let a = (hits * 255 / 16) as u8;
                for (x, y) in [
                    (r.x + dx, r.y + dy),
                    (r.right() - 1 - dx, r.y + dy),
                    (r.x + dx, r.bottom() - 1 - dy),
                    (r.right() - 1 - dx, r.bottom() - 1 - dy),
                ] {
                    self.blend(x, y, c, a);
                }
            }
        }
    }

    /// An outline `t` pixels wide inside `r`.
    pub fn frame(&mut self, r: Rect, t: i32, c: Color) {
        self.fill(Rect::new(r.x, r.y, r.w, t), c);
        self.fill(Rect::new(r.x, r.bottom() - t, r.w, t), c);
        self.fill(Rect::new(r.x, r.y, t, r.h), c);
        self.fill(Rect::new(r.right() - t, r.y, t, r.h), c);
    }

    /// Puts `c` with coverage `a` over the pixel at (x, y), if on the canvas.
    pub fn blend(&mut self, x: i32, y: i32, c: Color, a: u8) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 || a == 0 {
            return;
        }
        let i = y as usize * self.width as usize + x as usize;
        self.px[i] = if a == 255 { c.0 } else { c.over(Color(self.px[i]), a).0 };
    }

    /// Writes the canvas as an RGB PNG.
    pub fn save_png(&self, path: &Path) -> std::io::Result<()> {
        let f = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut enc = png::Encoder::new(f, self.width, self.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        let data: Vec<u8> = self.px.iter().flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8]).collect();
        w.write_image_data(&data).map_err(std::io::Error::other)?;
        Ok(())
    }

    /// Reads an 8-bit RGB or RGBA PNG (alpha is ignored).
    pub fn load_png(path: &Path) -> std::io::Result<Canvas> {
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
        let mut r = dec.read_info().map_err(std::io::Error::other)?;
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).map_err(std::io::Error::other)?;
        let step = match (info.color_type, info.bit_depth) {
            (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
            (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
            other => {
                return Err(std::io::Error::other(format!("{}: unsupported PNG format {other:?}", path.display())))
            }
        };
        let mut c = Canvas::new(info.width, info.height);
        for (i, p) in buf[..info.buffer_size()].chunks_exact(step).enumerate() {
            c.px[i] = Color::rgb(p[0], p[1], p[2]).0;
        }
        Ok(c)
    }

    /// Compares with `other`: the share of pixels whose largest channel
    /// difference is above `tolerance`, and an image that shows them (the
    /// expected frame dimmed, differing pixels in magenta).
    pub fn diff(&self, other: &Canvas, tolerance: u8) -> (f64, Canvas) {
        if self.width != other.width || self.height != other.height {
            return (1.0, other.clone());
        }
        let mut out = Canvas::new(self.width, self.height);
        let mut bad = 0usize;
        for (i, (&a, &b)) in self.px.iter().zip(&other.px).enumerate() {
            let (a, b) = (Color(a), Color(b));
            let d = a.r().abs_diff(b.r()).max(a.g().abs_diff(b.g())).max(a.b().abs_diff(b.b()));
            out.px[i] = if d > tolerance {
                bad += 1;
                Color::rgb(255, 0, 255).0
            } else {
                Color::rgb(255, 255, 255).over(a, 180).0
            };
        }
        (bad as f64 / self.px.len().max(1) as f64, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_are_clipped_to_the_canvas() {
        let mut c = Canvas::new(4, 3);
        c.fill(Rect::new(-2, 1, 4, 10), Color(0xff0000));
        assert_eq!(c.pixel(0, 0), Color(0));
        assert_eq!(c.pixel(1, 2), Color(0xff0000));
        assert_eq!(c.pixel(2, 1), Color(0));
    }

    #[test]
    fn blending_mixes_by_coverage() {
        assert_eq!(Color::rgb(255, 255, 255).over(Color::rgb(0, 0, 0), 128), Color::rgb(128, 128, 128));
        assert_eq!(Color::rgb(10, 20, 30).over(Color::rgb(0, 0, 0), 255), Color::rgb(10, 20, 30));
    }

    #[test]
    fn png_round_trip_and_diff() {
        let d = tempfile::tempdir().unwrap();
        let mut c = Canvas::new(7, 5);
        c.fill_rounded(Rect::new(0, 0, 7, 5), 2, Color::rgb(1, 200, 3));
        c.save_png(&d.path().join("a.png")).unwrap();
        let back = Canvas::load_png(&d.path().join("a.png")).unwrap();
        assert_eq!(back, c);
        let mut other = c.clone();
        other.fill(Rect::new(0, 0, 1, 1), Color::rgb(255, 255, 255));
        let (share, img) = c.diff(&other, 8);
        assert!((share - 1.0 / 35.0).abs() < 1e-9);
        assert_eq!(img.pixel(0, 0), Color::rgb(255, 0, 255));
    }
}
