//! `board/<name>/board.toml`: every fact about a target that the build needs.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub target: Target,
    pub debian: Debian,
    pub kernel: Kernel,
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
    pub modules: Modules,
    pub partitions: Partitions,
    pub qemu: quill_qemu::MachineSpec,
    pub host: Host,
    /// The folder the board file was read from.
    #[serde(skip)]
    pub dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub rust: String,
    pub uefi: String,
    pub efi_boot_file: String,
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
    /// (path in the package, path in the image)
    pub files: Vec<(String, String)>,
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
        Package { name: k.package.clone(), version: k.version.clone(), sha256: k.sha256.clone(), files: vec![] }
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
}
