//! QEMU harness for Quill: start a VM the way a board describes it, read
//! its serial console, wait for lines, type, send keys and take screendumps
//! over QMP, shut it down or pull the plug. The VM is killed (by PID) when
//! the [`Vm`] is dropped, also when a test panics.

mod config;
mod console;
mod qmp;
mod spec;
mod vm;

pub use config::{Config, Console, DirectBoot, DiskBus, UBoot};
pub use console::untangle_kmsgs;
pub use qmp::Qmp;
pub use spec::MachineSpec;
pub use vm::Vm;
