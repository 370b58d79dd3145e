//! The Raspberry Pi's `autoboot.txt` (on partition 1), as the EEPROM boot
//! loader reads it with `tryboot_a_b=1`: the `[all]` section's
//! `boot_partition` boots normally; after `reboot "0 tryboot"` the loader
//! boots the `[tryboot]` section's partition once, and any later reset
//! boots `[all]` again until the OS rewrites the file.

use crate::Error;

/// The name of the file on partition 1.
pub const AUTOBOOT: &str = "autoboot.txt";
/// The partition numbers of slot A and B on a Quill Pi disk.
pub const SLOT_PARTITIONS: [u32; 2] = [2, 3];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Autoboot {
    /// Boots on every normal start: the proven slot.
    pub boot_partition: u32,
    /// Boots once after `reboot "0 tryboot"`: the slot being tried.
    pub tryboot_partition: u32,
}

impl Autoboot {
    /// Slot A permanent, slot B tried (the factory state).
    pub fn factory() -> Autoboot {
        Autoboot { boot_partition: 2, tryboot_partition: 3 }
    }

    /// Makes `partition` the permanent one; the other slot becomes the tried one.
    pub fn with_permanent(partition: u32) -> Autoboot {
        let other = if partition == SLOT_PARTITIONS[0] { SLOT_PARTITIONS[1] } else { SLOT_PARTITIONS[0] };
        Autoboot { boot_partition: partition, tryboot_partition: other }
    }

    pub fn render(&self) -> String {
        format!(
            "# Quill A/B boot: written by fwupdate (temporary file, fsync, rename).\n\
             [all]\ntryboot_a_b=1\nboot_partition={}\n[tryboot]\nboot_partition={}\n",
            self.boot_partition, self.tryboot_partition
        )
    }

    /// Reads the file the way the loader does: `[all]` (and settings before
    /// any section) for the normal boot, `[tryboot]` for the tried one.
    /// A file without `tryboot_a_b=1` or without both partitions, or
    /// naming a partition that is not a slot, is refused: the updater
    /// never writes such a file and will not act on one.
    pub fn parse(text: &str) -> Result<Autoboot, Error> {
        let mut section = "all".to_string();
        let (mut ab, mut normal, mut tried) = (false, None, None);
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_ascii_lowercase();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            match (section.as_str(), key.trim()) {
                ("all", "tryboot_a_b") => ab = value.trim() == "1",
                ("all", "boot_partition") => normal = value.trim().parse::<u32>().ok(),
                ("tryboot", "boot_partition") => tried = value.trim().parse::<u32>().ok(),
                _ => {}
            }
        }
        let bad = |why: &str| Err(Error::Invalid(format!("{AUTOBOOT}: {why}")));
        match (ab, normal, tried) {
            (false, ..) => bad("tryboot_a_b=1 is missing from [all]"),
            (_, None, _) => bad("boot_partition is missing from [all]"),
            (_, _, None) => bad("boot_partition is missing from [tryboot]"),
            (_, Some(n), Some(t)) if !SLOT_PARTITIONS.contains(&n) || !SLOT_PARTITIONS.contains(&t) || n == t => {
                bad(&format!("boot partitions {n} and {t} are not slot A (2) and slot B (3)"))
            }
            (_, Some(n), Some(t)) => Ok(Autoboot { boot_partition: n, tryboot_partition: t }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        for p in SLOT_PARTITIONS {
            let a = Autoboot::with_permanent(p);
            assert_eq!(Autoboot::parse(&a.render()).unwrap(), a);
        }
        let text = Autoboot::factory().render();
        assert!(text.contains("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"), "{text}");
    }

    #[test]
    fn reads_settings_before_any_section_as_all() {
        let a = Autoboot::parse("tryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n").unwrap();
        assert_eq!(a, Autoboot { boot_partition: 3, tryboot_partition: 2 });
    }

    #[test]
    fn refuses_files_it_did_not_write() {
        for (text, why) in [
            ("", "tryboot_a_b=1"),
            ("[all]\ntryboot_a_b=1\n[tryboot]\nboot_partition=3\n", "missing from [all]"),
            ("[all]\ntryboot_a_b=1\nboot_partition=2\n", "missing from [tryboot]"),
            ("[all]\ntryboot_a_b=1\nboot_partition=1\n[tryboot]\nboot_partition=3\n", "not slot A"),
            ("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n", "not slot A"),
            // A torn write: the file ends in the middle.
            ("# Quill A/B boot\n[all]\ntryboot_a_b=1\nboot_parti", "missing from [all]"),
        ] {
            let e = Autoboot::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
