//! Power cuts at random moments under QEMU (QMP `quit`): during an install,
//! during the first boot of the new slot and during its mark-good; each
//! followed by a boot that must reach ready on a complete slot, with
//! `fwupdate status` agreeing with `cgpt`, the rollback floor kept and the
//! settings there.
//!
//! The moments are picked by counting the guest's own console lines (the
//! install's JSON progress, the boot's messages) from a random start, so
//! the campaign needs no fixed sleeps and a seed repeats it.

use crate::{fat_stick, mount_stick, ready_shell, save_log, sh, TestDisk, BOOT_TIMEOUT};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(300);

/// What the campaign found.
#[derive(Debug, Default)]
pub struct Tally {
    pub cuts: usize,
    pub unbootable: usize,
    pub floor_lowered: usize,
    pub settings_lost: usize,
    /// `fwupdate status` and `cgpt` disagree about a slot.
    pub disagree: usize,
    /// One line per cut: where it fell and what came of it.
    pub notes: Vec<String>,
}

impl Tally {
    pub fn line(&self) -> String {
        format!(
            "power cuts {}: unbootable {}, floor lowered {}, settings lost {}, status and cgpt disagree {}",
            self.cuts, self.unbootable, self.floor_lowered, self.settings_lost, self.disagree
        )
    }
    pub fn clean(&self) -> bool {
        self.unbootable + self.floor_lowered + self.settings_lost + self.disagree == 0
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The phases a cut falls in.
const PHASES: [&str; 3] = ["install", "first boot of the new slot", "mark-good"];

/// Runs `n` cuts with `bundle` (a 2.0.0 with rollback index `index`),
/// starting from `seed`.
pub fn campaign(bundle: &Path, index: u64, n: usize, seed: u64) -> Result<Tally> {
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    // The install prints a JSON line per chunk written (80 for the tests'
    // 160 MiB slot in 2 MiB chunks), then a few for the read-back and the
    // switch: cut within the writes.
    let (manifest, _) = bundle::inspect("bundle", std::fs::File::open(bundle)?)?;
    let chunks = manifest.payloads.iter().map(|p| p.chunks.len() as u64).sum::<u64>();
    for i in 0..n {
        let phase = i % PHASES.len();
        // Lines each phase prints after its start: the install's progress
        // (one per chunk), the new slot's boot up to ready (~35), and what
        // comes after ready (the health check, mark-good: ~6).
        let k = rng.below([chunks * 3 / 4, 32, 6][phase]) as usize;
        let note = one_cut(bundle, index, phase, k, &mut tally).with_context(|| format!("cut {}", i + 1))?;
        eprintln!("power cut {}/{n}: {} after {k} more lines: {note}", i + 1, PHASES[phase]);
        tally.notes.push(format!("{}: {} +{k}: {note}", i + 1, PHASES[phase]));
        tally.cuts += 1;
    }
    Ok(tally)
}

fn one_cut(bundle: &Path, index: u64, phase: usize, k: usize, tally: &mut Tally) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let stick = dir.path().join("stick.img");
    let name = bundle.file_name().unwrap().to_string_lossy().into_owned();
    fat_stick(&stick, 64, &[(&name, bundle)])?;
    // Set up, "no password": the console opens a shell.
    let disk = TestDisk::new()?;
    let mut vm = disk.boot_with_sticks(&[&stick])?;
    let r = (|| -> Result<()> {
        ready_shell(&mut vm)?;
        mount_stick(&mut vm)?;
        let install = format!("fwupdate install --yes --progress json /mnt/stick/{name}");
        if phase == 0 {
            vm.type_serial(&format!("{install}\n"))?;
            vm.wait_for("\"stage\"", STEP)?;
            vm.wait_lines(k, STEP)?;
            return vm.pull_plug();
        }
        let out = sh(&mut vm, &install)?;
        anyhow::ensure!(out.contains("end-42-0"), "the install failed: {out}");
        // QEMU runs with -no-reboot: the first boot of B is a new VM.
        crate::poweroff(&mut vm)
    })();
    if let Err(e) = r {
        let log = save_log("power-cut-setup", &vm);
        return Err(e).with_context(|| format!("before the cut (console log: {})", log.display()));
    }
    drop(vm);
    if phase > 0 {
        let mut vm = disk.boot()?;
        let r = (|| -> Result<()> {
            if phase == 1 {
                vm.wait_for("bootsel: starting slot B", STEP)?;
            } else {
                vm.wait_for("quill: ready slot=b", STEP)?;
            }
            // A quieter boot than usual: the cut comes when it has gone quiet.
            let _ = vm.wait_lines(k, Duration::from_secs(30));
            vm.pull_plug()
        })();
        if let Err(e) = r {
            let log = save_log("power-cut-first-boot", &vm);
            return Err(e).with_context(|| format!("before the cut (console log: {})", log.display()));
        }
    }

    // The next boot, without the stick.
    let mut vm = disk.boot()?;
    let ready = match vm.wait_for("quill: ready", BOOT_TIMEOUT) {
        Ok(l) => l,
        Err(e) => {
            tally.unbootable += 1;
            let log = save_log("power-cut-unbootable", &vm);
            return Ok(format!("UNBOOTABLE: {e} (console log: {})", log.display()));
        }
    };
    let r = (|| -> Result<String> {
        crate::shell_up(&mut vm)?;
        // Status once the health check has settled the slot (mark-good's
        // own line: "slot X marked good" or "was already good").
        vm.wait_seen("health check passed", STEP)?;
        vm.wait_seen("fwupdate: slot ", STEP)?;
        let status = sh(&mut vm, "fwupdate status; grep -c 'setup_done = true' /data/quill/settings.toml")?;
        crate::poweroff(&mut vm)?;
        Ok(status)
    })();
    let status = match r {
        Ok(s) => s,
        Err(e) => {
            let log = save_log("power-cut-after", &vm);
            return Err(e).with_context(|| format!("after the cut (console log: {})", log.display()));
        }
    };
    drop(vm);
    let field = |prefix: &str| status.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::to_string));
    let floor: u64 = field("rollback floor: ").and_then(|f| f.trim().parse().ok()).context("no rollback floor")?;
    let mut notes = vec![ready.trim().to_string()];
    for (slot, number) in [('A', 2), ('B', 3)] {
        let line = field(&format!("slot {slot}: ")).with_context(|| format!("no line for slot {slot}: {status}"))?;
        let (p, t, s) = disk.cgpt_state(number)?;
        let want = format!("priority={p} tries={t} successful={}", u8::from(s));
        if !line.contains(&want) {
            tally.disagree += 1;
            notes.push(format!("DISAGREE slot {slot}: status {line:?}, cgpt {want}"));
        }
        let proven_new = slot == 'B' && s;
        if proven_new && floor < index {
            tally.floor_lowered += 1;
            notes.push(format!("FLOOR: B proven with the floor at {floor}"));
        }
    }
    if !status.lines().any(|l| l.trim() == "1") {
        tally.settings_lost += 1;
        notes.push("SETTINGS LOST".into());
    }
    Ok(notes.join("; "))
}
