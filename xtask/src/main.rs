//! Quill's build system. `cargo xtask --help` lists the verbs.

mod bench;
mod bench_assistant;
mod bench_boot;
mod bench_bundle;
mod bench_download;
mod bench_flash;
mod bench_net;
mod bench_peers;
mod board;
mod build;
mod bundle_cmd;
mod fetch;
mod flash;
mod fuzz;
mod keys;
mod rpi;
mod run;
mod test;
mod tidy;
mod util;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Budget: compressed initramfs size.
pub const BUDGET_INITRAMFS_MIB: u64 = 40;
/// Budget: QEMU start to `quill: ready` through OVMF under TCG.
pub const BUDGET_BOOT_SECS: u64 = 15;
/// Budget: init's start to the Setup Assistant's first frame under TCG.
pub const BUDGET_FIRST_FRAME_SECS: f64 = 1.0;
/// Budget: carrier up to the lease applied (QEMU's DHCP server, TCG).
pub const BUDGET_CARRIER_TO_LEASE_SECS: f64 = 1.5;
/// Budget: the Setup Assistant's peak memory.
pub const BUDGET_ASSISTANT_MIB: u64 = 24;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run and test Quill")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct BoardArg {
    /// Target board: a folder under board/.
    #[arg(long, default_value = board::DEFAULT_BOARD)]
    board: String,
}

#[derive(clap::Args, Clone)]
struct KeyringArg {
    /// Folder whose *.pub keys the image trusts (your release keys). Without
    /// it the image trusts the development key, and says so (KEYRING=dev).
    #[arg(long)]
    keyring: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Clone)]
struct VersionArg {
    /// Firmware version written into the image.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    version: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install host packages and Rust targets, download the board's Debian packages.
    Fetch(BoardArg),
    /// Build target/quill/<board>/disk.img.
    Build {
        #[command(flatten)]
        board: BoardArg,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        keyring: KeyringArg,
        /// TEST ONLY: an image whose health check always fails.
        #[arg(long, hide = true)]
        fail_health: bool,
    },
    /// Write an Ed25519 key pair for signing bundles (secret key mode 0600).
    Keygen {
        /// Folder for the key files (default ~/.config/quill/keys, outside
        /// target/ so `cargo clean` never deletes them).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// File name without extension.
        #[arg(long, default_value = "release")]
        name: String,
    },
    /// Build the slot image and write a signed update bundle
    /// target/quill/<board>/quill-<board>-<version>.qbundle.
    Bundle {
        #[command(flatten)]
        board: BoardArg,
        /// Firmware version of the bundle (required).
        #[arg(long)]
        version: String,
        /// Secret key that signs the bundle.
        #[arg(long)]
        key: std::path::PathBuf,
        /// Rollback index; devices refuse bundles below their floor.
        #[arg(long, default_value_t = 0)]
        rollback_index: u64,
        #[command(flatten)]
        keyring: KeyringArg,
        /// TEST ONLY: an image whose health check always fails.
        #[arg(long, hide = true)]
        fail_health: bool,
    },
    /// Build the image and boot it in QEMU with the console on this terminal.
    Run {
        #[command(flatten)]
        board: BoardArg,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        keyring: KeyringArg,
        /// Open a QEMU window showing the screen.
        #[arg(long)]
        gui: bool,
        /// Attach the disk as a USB stick instead of the board's default.
        #[arg(long)]
        usb: bool,
        /// Boot as a UD Pocket: the image on a USB stick, plus an empty 8 GiB
        /// internal disk (target/quill/<board>/internal.img) to try
        /// `fwupdate install-to-disk` on.
        #[arg(long)]
        pocket: bool,
        /// Boot the existing image without rebuilding it.
        #[arg(long)]
        no_build: bool,
        /// Raspberry Pi: QEMU loads slot A's kernel itself instead of
        /// booting through U-Boot and bootsel (faster, for UI work; no A/B).
        #[arg(long)]
        direct: bool,
    },
    /// Write the image onto a USB stick (UD Pocket) or a disk: checks, asks, verifies, grows DATA.
    Flash {
        #[command(flatten)]
        board: BoardArg,
        #[command(flatten)]
        version: VersionArg,
        #[command(flatten)]
        keyring: KeyringArg,
        /// The whole disk (/dev/sdX) or an image file.
        #[arg(long)]
        device: std::path::PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also write a fixed (non-removable, non-USB) disk.
        #[arg(long)]
        force: bool,
        /// Flash the existing image without rebuilding it.
        #[arg(long)]
        no_build: bool,
    },
    /// Measure the performance figures and compare them with their budgets.
    Bench {
        #[command(flatten)]
        board: BoardArg,
        /// Boots to measure on each CPU count (figures are medians; 0 skips them).
        #[arg(long, default_value_t = 5)]
        boots: u32,
        /// Power cuts at random moments under QEMU (installs, first boots,
        /// mark-good), each followed by a boot that must come up whole;
        /// about a minute each. 0 skips them.
        #[arg(long, default_value_t = 0)]
        power_cuts: u32,
        /// Seconds of each fuzz target (tests/fuzz); 0 skips fuzzing.
        #[arg(long, default_value_t = 60)]
        fuzz_seconds: u64,
        /// Rounds of the realistic install comparison with RAUC, SWUpdate
        /// and the verified-write floor (needs root and ../shared); 0 skips it.
        #[arg(long, default_value_t = 5)]
        install_rounds: usize,
        /// Only these parts: boot, bundle, flash, install, pi (the Raspberry
        /// Pi boot through U-Boot against its floor), download (network
        /// installs from nginx), comma-separated.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Run every cargo-fuzz target in tests/fuzz for a while each
    /// (installs cargo-fuzz when it is missing).
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// List the Quill devices on the local network (DNS-SD over mDNS,
    /// `_quill._tcp`): Unit ID, MAC, name, IP, product, firmware, enrolled.
    Scan {
        /// How long to listen for answers.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Build the image, then run every test (unit and QEMU end-to-end).
    Test {
        #[command(flatten)]
        board: BoardArg,
        /// Only the unit tests (no image, no QEMU).
        #[arg(long)]
        unit: bool,
        /// Extra arguments for `cargo test` (a test name filter, for example).
        #[arg(last = true)]
        rest: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.cmd) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Scan { seconds, json } => {
            let daemon = mdns_sd::ServiceDaemon::new().context("starting mDNS")?;
            let found = discovery::scan(&daemon, std::time::Duration::from_secs(seconds), &|_| false)
                .map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                println!("{}", discovery::table(&found));
                eprintln!("scan: {} device(s) answered within {seconds} s", found.len());
            }
            Ok(())
        }
        Cmd::Fetch(b) => {
            let (paths, board) = load(&b.board)?;
            fetch::fetch(&paths, &board)
        }
        Cmd::Build { board, version, keyring, fail_health } => {
            let (paths, board) = load(&board.board)?;
            let mut opts = build::BuildOptions::new(&paths, &version.version);
            opts.fail_health = fail_health;
            opts.keyring = keyring.keyring;
            build::build(&paths, &board, &opts)?;
            Ok(())
        }
        Cmd::Run { board, version, keyring, gui, usb, pocket, no_build, direct } => {
            let (paths, board) = load(&board.board)?;
            if !no_build {
                let mut opts = build::BuildOptions::new(&paths, &version.version);
                opts.keyring = keyring.keyring;
                build::build(&paths, &board, &opts)?;
            }
            run::run(&paths, &board, &run::RunOptions { gui, usb, pocket, direct })
        }
        Cmd::Flash { board, version, keyring, device, yes, force, no_build } => {
            let (paths, board) = load(&board.board)?;
            if !no_build {
                let mut opts = build::BuildOptions::new(&paths, &version.version);
                opts.keyring = keyring.keyring;
                build::build(&paths, &board, &opts)?;
            }
            flash::flash(&paths, &device, yes, force)
        }
        Cmd::Keygen { out, name } => {
            let out = match out {
                Some(o) => o,
                None => keys::release_dir()?,
            };
            keys::keygen(&out, &name)
        }
        Cmd::Bundle { board, version, key, rollback_index, keyring, fail_health } => {
            let (paths, board) = load(&board.board)?;
            let b = bundle_cmd::BundleArgs {
                version: &version,
                key: &key,
                rollback_index,
                keyring: keyring.keyring,
                fail_health,
                app_variant: false,
            };
            bundle_cmd::bundle(&paths, &board, &b).map(|_| ())
        }
        Cmd::Bench { board, boots, power_cuts, fuzz_seconds, install_rounds, only } => {
            let (paths, board) = load(&board.board)?;
            let parts = bench::Parts { boots, power_cuts, install_rounds, only };
            bench::bench(&paths, &board, &parts)?;
            if fuzz_seconds > 0 {
                fuzz::fuzz(&paths, fuzz_seconds, None)?;
            }
            Ok(())
        }
        Cmd::Fuzz { seconds, target } => {
            fuzz::fuzz(&util::Paths::new(board::DEFAULT_BOARD), seconds, target.as_deref())
        }
        Cmd::Test { board, unit, rest } => {
            let (paths, board) = load(&board.board)?;
            test::test(&paths, &board, unit, &rest)
        }
    }
}

fn load(name: &str) -> Result<(util::Paths, board::Board)> {
    let paths = util::Paths::new(name);
    let board = board::Board::load(&paths.root, name)?;
    Ok((paths, board))
}
