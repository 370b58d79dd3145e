use super::Display;
use crate::canvas::Canvas;

/// A display in memory, for tests: keeps the last frame and counts frames.
pub struct MemoryDisplay {
    pub last: Canvas,
    pub frames: usize,
}

impl MemoryDisplay {
    pub fn new(width: u32, height: u32) -> MemoryDisplay {
        MemoryDisplay { last: Canvas::new(width, height), frames: 0 }
    }
}

impl Display for MemoryDisplay {
    fn size(&self) -> (u32, u32) {
        (self.last.width(), self.last.height())
    }
    fn present(&mut self, frame: &Canvas) -> std::io::Result<()> {
        self.last.clone_from(frame);
        self.frames += 1;
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "memory"
    }
}
