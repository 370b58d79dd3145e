//! `board/<name>/board.toml`: every fact about a target that the build needs.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The board `cargo xtask` builds when none is named.
pub const DEFAULT_BOARD: &str = "x86-ud";
/// The Raspberry Pi board, built and booted by every full test run too.
pub const PI_BOARD: &str = "rpi4";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub target: Target,
    #[serde(default)]
    pub boot: Boot,
    pub debian: Debian,
    pub kernel: Kernel,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
    pub modules: Modules,
    pub partitions: Partitions,
    pub qemu: quill_qemu::MachineSpec,
    pub host: Host,
    #[serde(default)]
    pub budgets: Budgets,
    /// The folder the board file was read from.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub rust: String,
    /// The UEFI boot selector's target and its file on the ESP (UEFI boards).
    #[serde(default)]
    pub uefi: Option<String>,
    #[serde(default)]
    pub efi_boot_file: Option<String>,
    /// Cross-building (set when the device is not the host's architecture):
    /// the linker of Rust code, and the C compiler, archiver and C flags of
    /// crates that build C (zstd).
    #[serde(default)]
    pub linker: Option<String>,
    #[serde(default)]
    pub cc: Option<String>,
    #[serde(default)]
    pub ar: Option<String>,
    #[serde(default)]
    pub cflags: Option<String>,
}

/// How the device boots and how the updater switches slots.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boot {
    /// `uefi-gpt`: the UEFI firmware starts bootsel, which reads the GPT
    /// attributes (every board; the Pi's UEFI firmware is U-Boot).
    pub backend: String,
    /// Boards whose GPU firmware reads the ESP (the Pi): the device tree in
    /// the kernel package, put on the ESP as `bcm2711.dtb`.
    #[serde(default)]
    pub dtb: Option<String>,
    /// The GPU firmware's config.txt in the board folder, put on the ESP.
    #[serde(default)]
    pub config: Option<String>,
    /// (alias, node) added to `/aliases` of the device's copy of the tree.
    #[serde(default)]
    pub dtb_aliases: Vec<(String, String)>,
    /// U-Boot's environment (`name=value`), written as uboot.env on the ESP.
    #[serde(default)]
    pub uboot_env: Vec<String>,
    /// U-Boot's CONFIG_ENV_SIZE: the size of uboot.env.
    #[serde(default)]
    pub uboot_env_size: Option<usize>,
}

impl Default for Boot {
    fn default() -> Boot {
        Boot {
            backend: "uefi-gpt".into(),
            dtb: None,
            config: None,
            dtb_aliases: vec![],
            uboot_env: vec![],
            uboot_env_size: None,
        }
    }
}

impl Board {
    /// Whether a GPU firmware boots from the ESP before the UEFI firmware
    /// (the Raspberry Pi: start4.elf, config.txt, U-Boot).
    pub fn has_gpu_firmware(&self) -> bool {
        self.boot.config.is_some()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debian {
    pub arch: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub package: String,
    pub version: String,
    pub sha256: String,
    pub release: String,
    pub image: String,
    pub cmdline: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// (path in the package, path in the root filesystem)
    #[serde(default)]
    pub files: Vec<(String, String)>,
    /// (path in the package, name in each slot partition): boot firmware.
    #[serde(default)]
    pub boot_files: Vec<(String, String)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    pub load: Vec<String>,
    pub ship: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitions {
    pub esp_mib: u64,
    pub slot_mib: u64,
    pub data_mib: u64,
}

/// Budgets that differ by board (the others are in xtask/src/main.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Image assembly after compile and fetch, in seconds.
    #[serde(default = "default_build_secs")]
    pub build_secs: u64,
}

fn default_build_secs() -> u64 {
    15
}

impl Default for Budgets {
    fn default() -> Budgets {
        Budgets { build_secs: default_build_secs() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub packages: Vec<String>,
    pub backports: Vec<String>,
    pub commands: Vec<(String, String)>,
}

impl Package {
    /// The kernel as a package, so fetching treats all packages alike.
    pub fn kernel(k: &Kernel) -> Package {
        Package {
            name: k.package.clone(),
            version: k.version.clone(),
            sha256: k.sha256.clone(),
            files: vec![],
            boot_files: vec![],
        }
    }
}

pub fn boards_dir(root: &Path) -> PathBuf {
    root.join("board")
}

pub fn available(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(boards_dir(root))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("board.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl Board {
    pub fn load(root: &Path, name: &str) -> Result<Board> {
        let dir = boards_dir(root).join(name);
        let path = dir.join("board.toml");
        if !path.is_file() {
            bail!(
                "unknown board {name:?}: there is no {}; known boards: {}",
                path.display(),
                available(root).join(", ")
            );
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut board: Board = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}\nfix the board file: every field of board/x86-ud/board.toml is required",
                path.display(),
                e.to_string().trim()
            )
        })?;
        if board.name != name {
            bail!("{}: name = {:?} but the folder is {name:?}; make them the same", path.display(), board.name);
        }
        for (what, mib) in [("esp_mib", board.partitions.esp_mib), ("slot_mib", board.partitions.slot_mib)] {
            if mib < 34 {
                bail!("{}: partitions.{what} = {mib}, but FAT32 needs at least 34 MiB", path.display());
            }
        }
        match board.boot.backend.as_str() {
            "uefi-gpt" if board.target.uefi.is_none() || board.target.efi_boot_file.is_none() => {
                bail!("{}: the uefi-gpt backend needs target.uefi and target.efi_boot_file", path.display())
            }
            "uefi-gpt" => {}
            "rpi-tryboot" => bail!(
                "{}: boot.backend = \"rpi-tryboot\" is gone: the Pi boots through U-Boot and bootsel like x86 \
                 (mainline Linux cannot request a tryboot); use \"uefi-gpt\" as board/rpi4/board.toml does",
                path.display()
            ),
            other => bail!("{}: unknown boot.backend {other:?}; use uefi-gpt", path.display()),
        }
        if board.has_gpu_firmware() {
            crate::rpi::check_board(&board, &path)?;
        }
        board.dir = dir;
        Ok(board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn the_x86_board_file_parses() {
        let b = Board::load(&root(), "x86-ud").unwrap();
        assert_eq!(b.target.rust, "x86_64-unknown-linux-musl");
        assert!(b.kernel.cmdline.contains("initrd="));
        assert!(b.modules.load.contains(&"ext4".to_string()));
    }

    #[test]
    fn the_rpi4_board_file_parses() {
        let b = Board::load(&root(), "rpi4").unwrap();
        assert!(b.has_gpu_firmware());
        assert_eq!(b.target.rust, "aarch64-unknown-linux-musl");
        assert_eq!(b.target.uefi.as_deref(), Some("aarch64-unknown-uefi"));
        assert!(b.qemu.uboot());
        for file in ["start4.elf", "fixup4.dat", "u-boot.bin"] {
            assert!(b.packages.iter().any(|p| p.boot_files.iter().any(|(_, to)| to == file)), "{file}");
        }
        assert!(b.boot.uboot_env.iter().any(|v| v == "bootdelay=-2"));
        assert!(!b.kernel.cmdline.contains("console="), "the Pi's console comes from the device tree");
        // QEMU's SD card must have a power-of-two size.
        let p = &b.partitions;
        assert!((2 + p.esp_mib + 2 * p.slot_mib + p.data_mib).is_power_of_two());
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let e = Board::load(&root(), "nosuch").unwrap_err().to_string();
        assert!(e.contains("unknown board \"nosuch\"") && e.contains("x86-ud"), "{e}");
    }

    #[test]
    fn a_missing_field_names_the_file_and_the_field() {
        let t = std::env::temp_dir().join(format!("quill-board-test-{}", std::process::id()));
        let dir = t.join("board/broken");
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read_to_string(root().join("board/x86-ud/board.toml")).unwrap();
        let broken = good.replace("name = \"x86-ud\"", "name = \"broken\"").replace("slot_mib = 160\n", "");
        std::fs::write(dir.join("board.toml"), broken).unwrap();
        let e = Board::load(&t, "broken").unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&t);
        assert!(e.contains("broken/board.toml") && e.contains("slot_mib"), "{e}");
    }

    /// The Pi's board file with one edit, loaded from a scratch folder.
    fn pi_with(edit: impl Fn(String) -> String) -> String {
        let t = std::env::temp_dir().join(format!("quill-board-pi-{}-{}", std::process::id(), rand_suffix()));
        let dir = t.join("board/pi");
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read_to_string(root().join("board/rpi4/board.toml")).unwrap();
        std::fs::write(dir.join("board.toml"), edit(good.replace("name = \"rpi4\"", "name = \"pi\""))).unwrap();
        let e = Board::load(&t, "pi").map(|_| String::new()).unwrap_or_else(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&t);
        e
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }

    #[test]
    fn a_pi_board_without_u_boot_its_device_tree_or_its_environment_is_refused_with_the_fix() {
        let e = pi_with(|t| t.replace(r#"boot_files = [["usr/lib/u-boot/rpi_4/u-boot.bin", "u-boot.bin"]]"#, ""));
        assert!(e.contains("no package puts u-boot.bin on the ESP") && e.contains("u-boot-rpi"), "{e}");
        let e = pi_with(|t| t.lines().filter(|l| !l.starts_with("dtb = ")).collect::<Vec<_>>().join("\n"));
        assert!(e.contains("boot.dtb is missing"), "{e}");
        let e = pi_with(|t| t.replace("uboot_env_size = 0x4000\n", ""));
        assert!(e.contains("boot.uboot_env and boot.uboot_env_size are needed"), "{e}");
        let e = pi_with(|t| t.replace(r#"backend = "uefi-gpt""#, r#"backend = "rpi-tryboot""#));
        assert!(e.contains("rpi-tryboot\" is gone"), "{e}");
    }
}
