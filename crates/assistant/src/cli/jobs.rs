//! The home screen's long jobs, run as `fwupdate` subprocesses so the
//! screen and the console share every check: installing an update and
//! installing onto the PC's disk. Their progress arrives as JSON lines
//! (`--progress json`, the `progress` crate) and fills the bar; what
//! fwupdate says for people (stderr) goes to the console log.

use super::console_log::log;
use super::runner::Runner;
use crate::home::Home;
use progress::{Progress, Stage};
use std::ffi::OsString;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

impl Runner {
    /// Runs `fwupdate install --yes BUNDLE` (the updater's own checks, the
    /// same code as on the console), showing its progress; returns its
    /// summary or why it failed.
    pub fn install(&mut self, home: &mut Home, bundle: &Path) -> Result<String, String> {
        let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let args = ["install".into(), "--yes".into(), bundle.as_os_str().to_owned()];
        self.fwupdate(home, &args, &mut |home, line, fraction| home.progress(&name, line, fraction))
    }

    /// Runs `fwupdate install --channel --yes`: what the update channel
    /// offers, checked and installed as on the console.
    pub fn install_network(&mut self, home: &mut Home, version: &str) -> Result<String, String> {
        let args = ["install".into(), "--channel".into(), "--yes".into()];
        self.fwupdate(home, &args, &mut |home, line, fraction| home.net_progress(version, line, fraction))
    }

    /// Runs `fwupdate install-to-disk DEVICE --yes --settings copy|fresh`
    /// (the console's command: it erases, writes, reads back, then copies
    /// the settings), showing its progress.
    pub fn install_to_disk(&mut self, home: &mut Home, device: &str, copy_settings: bool) -> Result<String, String> {
        let settings = if copy_settings { "copy" } else { "fresh" };
        let args = ["install-to-disk".into(), device.into(), "--yes".into(), "--settings".into(), settings.into()];
        self.fwupdate(home, &args, &mut |home, line, fraction| home.disk_progress(device, line, fraction))
    }

    /// Runs `fwupdate ARGS --progress json`, showing each progress line
    /// with `show` and redrawing; returns the summary of its last line, or
    /// why it failed.
    fn fwupdate(
        &mut self,
        home: &mut Home,
        args: &[OsString],
        show: &mut dyn FnMut(&mut Home, &str, f32),
    ) -> Result<String, String> {
        let verb = args[0].to_string_lossy().into_owned();
        log(&format!("running fwupdate {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")));
        let mut child = Command::new("fwupdate")
            .args(args)
            .args(["--progress", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("fwupdate: {e}"))?;
        // What it says for people goes to the console log, read on its own
        // thread so a full pipe never stalls it.
        let err = child.stderr.take().map(|e| {
            std::thread::spawn(move || {
                let mut last = String::new();
                for line in std::io::BufReader::new(e).lines().map_while(Result::ok) {
                    last = line.trim_start_matches("fwupdate: ").to_string();
                    log(&format!("fwupdate: {last}"));
                }
                last
            })
        });
        show(home, "", 0.0);
        self.draw_home(home);
        let mut end: Option<Progress> = None;
        let mut fraction = 0.0;
        let mut said = String::new();
        if let Some(out) = child.stdout.take() {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let Some(p) = Progress::from_line(&line) else { continue };
                if p.is_end() {
                    end = Some(p);
                    continue;
                }
                // Each step once on the console too, as `fwupdate` says it there.
                if !p.message.is_empty() && p.message != said {
                    said = p.message.clone();
                    log(&format!("fwupdate: {said}"));
                }
                if !p.fraction.is_nan() && p.stage != Stage::Warning {
                    fraction = p.fraction;
                }
                show(home, &describe(&p), fraction);
                self.draw_home(home);
            }
        }
        let status = child.wait().map_err(|e| format!("fwupdate: {e}"))?;
        let last_err = err.and_then(|t| t.join().ok()).unwrap_or_default();
        let result = match end {
            Some(p) if p.stage == Stage::Done && status.success() => Ok(p.message),
            Some(p) => Err(p.message),
            None if status.success() => Ok(String::new()),
            None => Err(if last_err.is_empty() { format!("fwupdate {verb}: {status}") } else { last_err }),
        };
        log(&format!(
            "fwupdate {verb} ended: {status}: {}",
            match &result {
                Ok(s) | Err(s) => s,
            }
        ));
        result
    }
}

/// The line under the progress bar.
fn describe(p: &Progress) -> String {
    let mib = |b: u64| b as f64 / 1048576.0;
    match p.stage {
        Stage::Writing | Stage::Verifying if p.total > 0 => {
            let what = if p.stage == Stage::Writing { "written" } else { "verified" };
            let rate = if p.rate > 0.0 { format!(", {:.1} MiB/s", p.rate / 1048576.0) } else { String::new() };
            format!("{what} {:.1} / {:.1} MiB{rate}", mib(p.done), mib(p.total))
        }
        _ => p.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use progress::Op;

    #[test]
    fn the_line_under_the_bar() {
        let p = Progress::new(Op::Install, Stage::Writing).bytes(64 << 20, 160 << 20).rate(120.0 * 1048576.0);
        assert_eq!(describe(&p), "written 64.0 / 160.0 MiB, 120.0 MiB/s");
        let p = Progress::new(Op::InstallToDisk, Stage::Verifying).bytes(1 << 20, 4 << 20);
        assert_eq!(describe(&p), "verified 1.0 / 4.0 MiB");
        let p = Progress::new(Op::Install, Stage::Switching).message("switching the next boot to the new slot");
        assert_eq!(describe(&p), "switching the next boot to the new slot");
    }
}
