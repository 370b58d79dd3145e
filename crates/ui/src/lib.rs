//! Quill's user interface toolkit, drawn straight on the display: no X, no
//! Wayland. A [`Canvas`] (XRGB8888 in memory) is drawn with anti-aliased
//! TrueType text ([`text::Font`]) and a few widgets ([`widgets`]), then
//! presented on a [`display::Display`]: DRM/KMS dumb buffers, the fbdev
//! framebuffer, or memory for tests. Input comes from an
//! [`input::InputSource`]: evdev devices (keyboards and pointers, also those
//! plugged in later), or a script for tests.

pub mod canvas;
pub mod display;
pub mod input;
pub mod text;
#[cfg(target_os = "linux")]
pub mod vt;
pub mod widgets;

pub use canvas::{Canvas, Color, Rect};
pub use display::Display;
pub use input::{Event, InputSource, Key, Shortcut};
pub use text::{Font, Fonts};
pub use widgets::{Theme, Ui};

/// Where the image keeps its fonts.
pub const FONT_DIR: &str = "/usr/share/fonts/quill";
