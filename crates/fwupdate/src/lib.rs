//! `fwupdate`: Quill's firmware tool, the same binary on hosts and devices.
//!
//! Exit codes (stable, for scripts):
//!   0  success
//!   1  error: bad arguments, a file that cannot be read or written
//!   2  usage error (unknown command or option)
//!   3  refused before anything was written: signature, hashes, board,
//!      rollback index, size, downgrade, DATA not writable; for flash and
//!      install-to-disk: the target (in use, too small, fixed disk, the
//!      running system's disk)
//!   4  the install failed after writing started; the new slot is left not
//!      bootable and the running slot is unchanged (flash, install-to-disk:
//!      the target is left without a partition table and does not boot)
//!   5  another install is running

//!
//! The work is done by libraries: `updater` (install, A/B control, USB
//! choice), `bundle` (format, keys), `flash` (whole disks). This crate holds
//! what only a command line has: arguments (clap), questions ([`ask`]),
//! progress for people or as JSON lines ([`report`]), where the running
//! system is ([`device`]), and the mapping of every error to its exit code
//! ([`failure`]).

mod ask;
mod boot_entry;
mod bundle_cmd;
mod cli_device;
mod cli_flash;
mod cli_net;
mod cli_repo;
mod cli_usb;
mod device;
mod failure;
mod report;

use clap::{Parser, Subcommand};
pub use failure::{Failure, EXIT_BUSY, EXIT_ERROR, EXIT_FAILED, EXIT_REFUSED};

#[derive(Parser)]
#[command(
    name = "fwupdate",
    version,
    about = "Quill firmware tool: make, sign, check and install update bundles",
    after_help = "Exit codes: 0 success; 1 error (arguments, files); 2 usage error; 3 refused before anything was written (signature, hashes, board, rollback index, size, downgrade, DATA not writable); 4 install failed after writing started (new slot left not bootable, running slot unchanged; a flash target is left without a partition table, not bootable); 5 another install is running."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    device: device::DeviceArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make, sign, verify and inspect update bundles (*.qbundle).
    #[command(subcommand)]
    Bundle(Box<bundle_cmd::BundleCmd>),
    /// Ask the update repository (settings [update], or --repo) what this device's channel offers.
    Check {
        /// The repository's root URL (instead of the settings').
        #[arg(long)]
        repo: Option<String>,
        /// The channel (instead of the settings'; default stable).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run by init: check the update channel at boot and every few hours, say when an update is available.
    #[command(hide = true)]
    Watch {
        /// One check (no waiting first), then exit (tests, scripts).
        #[arg(long, hide = true)]
        once: bool,
    },
    /// Keep a static update repository (bundles, manifests, signed channel indexes) for any web server or CDN.
    #[command(subcommand)]
    Repo(cli_repo::RepoCmd),
    #[command(flatten)]
    Device(cli_device::DeviceCmd),
    /// Look for an update on mounted USB storage (run by init when a stick appears): offer the newest bundle for this device, or install it without asking with --auto or a file quill/autoupdate on the stick, then reboot.
    Usb {
        /// Install and reboot without asking.
        #[arg(long)]
        auto: bool,
        /// Where the storage is mounted.
        dir: std::path::PathBuf,
    },
    /// Write a Quill disk image onto a whole disk (a USB stick for the UD Pocket, or a UD device's disk from a host): checks the target, asks, writes with progress, reads back and verifies, grows DATA to the disk.
    Flash {
        /// The disk image (target/quill/<board>/disk.img).
        image: std::path::PathBuf,
        /// The whole disk (/dev/sdX) or an image file.
        device: std::path::PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also write a fixed (non-removable, non-USB) disk.
        #[arg(long)]
        force: bool,
        /// Keep the image's disk and partition GUIDs (default: new ones, so two disks are never confused).
        #[arg(long)]
        keep_guids: bool,
        /// Progress for people (default) or one JSON object per line on stdout.
        #[arg(long, value_enum, default_value_t = report::Format::Human)]
        progress: report::Format,
    },
    /// From a running UD Pocket: put Quill onto this device's internal disk (ESP, both slots from the running one, a fresh DATA). Without DEVICE, lists the internal disks.
    InstallToDisk {
        device: Option<std::path::PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// The empty DATA filesystem for the new disk.
        #[arg(long, default_value = cli_flash::FRESH_DATA)]
        fresh_data: std::path::PathBuf,
        /// Copy the settings made on this stick (language, keyboard, time
        /// zone, gateway) to the new disk, or start it fresh. Asked on a
        /// terminal; with --yes and no answer here, they are copied.
        #[arg(long, value_enum)]
        settings: Option<cli_flash::SettingsChoice>,
        /// Only list the candidate disks, as JSON (for the Setup Assistant).
        #[arg(long)]
        json: bool,
        /// Progress for people (default) or one JSON object per line on stdout.
        #[arg(long, value_enum, default_value_t = report::Format::Human)]
        progress: report::Format,
    },
    /// Write a new Ed25519 key pair: NAME.key (mode 0600; keep it off devices) and NAME.pub.
    Keygen {
        /// Folder for the key files.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
        /// File name without extension.
        #[arg(long, default_value = "quill-release")]
        name: String,
    },
}

pub fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Bundle(b) => bundle_cmd::run(*b),
        Cmd::Repo(r) => cli_repo::run(r),
        Cmd::Check { repo, channel, json } => cli_net::run_check(&cli.device, repo, channel, json),
        Cmd::Watch { once } => cli_net::watch(&cli.device, once),
        Cmd::Keygen { out, name } => keygen(&out, &name),
        Cmd::Device(d) => cli_device::run(d, &cli.device),
        Cmd::Usb { auto, dir } => cli_usb::run(&cli.device, &dir, auto),
        Cmd::Flash { image, device, yes, force, keep_guids, progress } => {
            cli_flash::flash_image(&image, &device, yes, force, keep_guids, progress)
        }
        Cmd::InstallToDisk { device, yes, fresh_data, settings, json, progress } => {
            let opts = cli_flash::InstallToDisk { yes, fresh_data, settings, json, progress };
            cli_flash::install_to_disk(&cli.device, device.as_deref(), &opts)
        }
    };
    report_peak_memory();
    if let Err(f) = result {
        eprintln!("fwupdate: {}", f.message);
        std::process::exit(f.code);
    }
}

/// With QUILL_PEAK_MEMORY=1, prints this process's peak resident memory
/// (VmHWM) on stderr; `cargo xtask bench` reads it. (A parent cannot measure
/// it from outside: a child's rusage counts the parent's pages until exec.)
fn report_peak_memory() {
    if std::env::var_os("QUILL_PEAK_MEMORY").is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            eprintln!("fwupdate: peak memory {}", line.trim_start_matches("VmHWM:").trim());
        }
    }
}

fn keygen(out: &std::path::Path, name: &str) -> Result<(), Failure> {
    let key = bundle::SecretKey::generate().map_err(Failure::error)?;
    let (k, p) = key.write_pair(out, name).map_err(Failure::error)?;
    println!("key {}: secret {} (mode 0600, keep it off devices), public {}", key.id(), k.display(), p.display());
    Ok(())
}
