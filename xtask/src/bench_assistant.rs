//! The Setup Assistant's figures, read off a first boot under QEMU: the
//! time from init's start to the assistant's first frame and to its first
//! interactive screen (both from the console's kernel time stamps, so QEMU's
//! and OVMF's start do not count), and its peak memory (VmHWM) after a walk
//! through the screens with QMP key events.

use anyhow::{anyhow, Context, Result};
use quill_qemu::Vm;
use std::time::Duration;

pub struct Figures {
    /// Seconds from init's first line to the assistant's first frame.
    pub first_frame: f64,
    /// Seconds from init's first line to the first screen that takes input.
    pub first_screen: f64,
    /// Peak resident memory in MiB, when the screens were walked through.
    pub peak_mib: Option<f64>,
}

/// The kernel time stamp of the first console line containing `needle`
/// (`[   3.14] ...`; a prompt or an escape sequence may precede it).
pub fn stamp(transcript: &str, needle: &str) -> Result<f64> {
    let line = transcript.lines().find(|l| l.contains(needle)).with_context(|| format!("no line with {needle:?}"))?;
    line_stamp(line).ok_or_else(|| anyhow!("no time stamp in {line:?}"))
}

/// The first `[ seconds ]` of a console line.
pub fn line_stamp(line: &str) -> Option<f64> {
    line.match_indices('[').find_map(|(i, _)| {
        let rest = &line[i + 1..];
        let (t, _) = rest.split_once(']')?;
        t.trim().parse().ok()
    })
}

/// Measures on a VM that has just been started from a fresh image (so the
/// assistant, not the home screen, comes up); with `walk`, also the peak
/// memory after a walk through the screens.
pub fn measure(vm: &mut Vm, walk: bool) -> Result<Figures> {
    let step = Duration::from_secs(60);
    vm.wait_seen("assistant: screen Language", Duration::from_secs(120))?;
    vm.wait_seen_text("# ", step)?; // the shell may open before ready
    let t = vm.transcript();
    let init = stamp(&t, "init: Quill ")?;
    let first_frame = stamp(&t, "assistant: first frame after")? - init;
    let first_screen = stamp(&t, "assistant: screen Language")? - init;
    let pid: u32 = t
        .lines()
        .find_map(|l| l.split_once("started setup (pid ").and_then(|(_, r)| r.split_once(')')).map(|(p, _)| p))
        .and_then(|p| p.parse().ok())
        .context("init did not log the assistant's pid")?;
    if !walk {
        return Ok(Figures { first_frame, first_screen, peak_mib: None });
    }

    // Every step, the full time-zone list scrolled, the gateway form typed in.
    // The keyboard's driver loads after ready: wait until the UI has opened
    // it (a key sent when the device exists but before the UI reads it is
    // lost, which made earlier walks miss their first step).
    vm.wait_seen("assistant: input /dev/input/event", step)?;
    // Each key that changes the screen waits for the next screen's line
    // (the UI may be busy with the drivers that load after ready).
    let gap = Duration::from_millis(150);
    let walk: &[(&[&str], &str)] = &[
        (&["ret"], "screen Keyboard"),
        (&["ret"], "screen Timezone"),
        (&["pgdn"; 12], ""),
        (&["ret"], "screen DateTime"),
        (&["ret"], "screen Licence"),
        (&["ret"], "screen Gateway"),
        (&["g", "w", "dot", "e", "x", "tab", "0", "1", "2", "3"], ""),
    ];
    for (keys, then) in walk {
        for k in *keys {
            vm.send_key(&[k])?;
            std::thread::sleep(gap);
        }
        if !then.is_empty() {
            vm.wait_for(&format!("assistant: {then}"), step)?;
        }
    }
    let status = vm.sh(&format!("grep VmHWM /proc/{pid}/status"), step)?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.trim().strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmHWM for pid {pid}: {status}"))?;
    Ok(Figures { first_frame, first_screen, peak_mib: Some(kib / 1024.0) })
}

/// The local Setup's figures on a set-up device (no password, so the key
/// opens it at once): milliseconds from Ctrl+Alt+S reaching the UI to the
/// Setup's first frame, and the slowest of the search's answers while
/// "network" is typed one key at a time (from the key to its frame), as
/// the UI logs them.
pub fn measure_setup(vm: &mut Vm) -> Result<(f64, f64)> {
    let step = Duration::from_secs(120);
    vm.wait_seen("assistant: home screen", step)?;
    vm.wait_seen_text("# ", step)?;
    // The UI has the keyboard once it says so.
    vm.wait_seen("assistant: input /dev/input/event", step)?;
    vm.send_key(&["ctrl", "alt", "s"])?;
    let shown = vm.wait_for("local Setup shown", step)?;
    let open = ms_in(&shown).with_context(|| format!("no time in {shown:?}"))?;
    // From the tree (the first focus) back to the search.
    vm.send_key(&["shift", "tab"])?;
    let mut slowest: f64 = 0.0;
    for (i, k) in "network".chars().enumerate() {
        vm.send_key(&[&k.to_string()])?;
        let line = vm.wait_for(&format!("search of {} characters shown in", i + 1), step)?;
        slowest = slowest.max(ms_in(&line).with_context(|| format!("no time in {line:?}"))?);
    }
    Ok((open, slowest))
}

/// The number before " ms" in a line.
fn ms_in(line: &str) -> Option<f64> {
    let (before, _) = line.split_once(" ms")?;
    before.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kernel_time_stamps() {
        let t = "bootsel: x\n[    3.355969] init: Quill 0.1.0\n[    4.5] assistant: first frame after 1 ms\n";
        assert_eq!(stamp(t, "init: Quill ").unwrap(), 3.355969);
        assert_eq!(stamp(t, "first frame").unwrap(), 4.5);
        assert!(stamp(t, "absent").is_err());
        assert!(stamp("no stamp init: Quill", "init: Quill").is_err());
        assert_eq!(ms_in("[ 9.1] assistant: local Setup shown 24 ms after the key"), Some(24.0));
        assert_eq!(ms_in("search of 3 characters shown in 7 ms"), Some(7.0));
    }
}
