//! `fwupdate repo`: a static update repository on the host, served as it
//! is by any web server, object store or CDN (layout in the `channel`
//! crate). Adding a bundle writes its `.qmanifest` (the bundle's head);
//! publishing, promoting, pausing and resuming write a channel's signed
//! index with its sequence one higher, under a temporary name, then rename.

use crate::Failure;
use channel::{Index, FORMAT, SEEDS};
use clap::Subcommand;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum RepoCmd {
    /// Copy bundles into the repository (bundles/) and write their manifests (manifests/).
    Add {
        repo: PathBuf,
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
    },
    /// Make VERSION (added before) the latest of a board's channel; signs the channel's index.
    Publish {
        repo: PathBuf,
        #[arg(long)]
        board: String,
        #[arg(long, default_value = "stable")]
        channel: String,
        #[arg(long)]
        version: String,
        /// Roll out to this many of 2048 seeds (a device's seed is a hash of its unit ID); 2048: everyone.
        #[arg(long, default_value_t = SEEDS)]
        max_seed: u32,
        #[command(flatten)]
        keys: Keys,
    },
    /// Publish another channel's current version in this channel (beta → stable).
    Promote {
        repo: PathBuf,
        #[arg(long)]
        board: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = SEEDS)]
        max_seed: u32,
        #[command(flatten)]
        keys: Keys,
    },
    /// Stop a channel's roll-out (devices that have not updated stay where they are).
    Pause {
        repo: PathBuf,
        #[arg(long)]
        board: String,
        #[arg(long, default_value = "stable")]
        channel: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Resume a paused channel, optionally with a new roll-out fraction.
    Resume {
        repo: PathBuf,
        #[arg(long)]
        board: String,
        #[arg(long, default_value = "stable")]
        channel: String,
        #[arg(long)]
        max_seed: Option<u32>,
        #[command(flatten)]
        keys: Keys,
    },
    /// List the channels and what they offer.
    Show { repo: PathBuf },
}

#[derive(clap::Args)]
pub struct Keys {
    /// Secret key file(s) to sign the index with (made by `fwupdate keygen`).
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
}

impl Keys {
    fn load(&self) -> Result<Vec<bundle::SecretKey>, Failure> {
        self.keys.iter().map(|p| bundle::SecretKey::load(p).map_err(Failure::error)).collect()
    }
}

pub fn run(cmd: RepoCmd) -> Result<(), Failure> {
    match cmd {
        RepoCmd::Add { repo, bundles } => {
            for b in bundles {
                add(&repo, &b)?;
            }
            Ok(())
        }
        RepoCmd::Publish { repo, board, channel, version, max_seed, keys } => {
            let (manifest, sha, bundle, size) = release_files(&repo, &board, &version)?;
            let previous = read_index(&repo, &board, &channel)?;
            let index = Index {
                format: FORMAT,
                board,
                channel,
                sequence: previous.as_ref().map_or(1, |p| p.sequence + 1),
                version,
                manifest,
                manifest_sha256: sha,
                bundle,
                bundle_size: size,
                max_seed,
                paused: false,
            };
            write_index(&repo, &index, &keys)
        }
        RepoCmd::Promote { repo, board, from, to, max_seed, keys } => {
            let source = read_index(&repo, &board, &from)?
                .ok_or_else(|| Failure::error(format!("channel {board}/{from} has nothing published")))?;
            let previous = read_index(&repo, &board, &to)?;
            let index = Index {
                channel: to,
                sequence: previous.as_ref().map_or(1, |p| p.sequence + 1),
                max_seed,
                paused: false,
                ..source
            };
            write_index(&repo, &index, &keys)
        }
        RepoCmd::Pause { repo, board, channel, keys } => change(&repo, &board, &channel, &keys, |i| i.paused = true),
        RepoCmd::Resume { repo, board, channel, max_seed, keys } => change(&repo, &board, &channel, &keys, |i| {
            i.paused = false;
            if let Some(m) = max_seed {
                i.max_seed = m;
            }
        }),
        RepoCmd::Show { repo } => show(&repo),
    }
}

fn channel_path(repo: &Path, board: &str, channel: &str) -> Result<PathBuf, Failure> {
    for (what, name) in [("board", board), ("channel", channel)] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
            return Err(Failure::error(format!("{what} {name:?}: use letters, digits, '-', '_' and '.'")));
        }
    }
    Ok(repo.join("channels").join(board).join(format!("{channel}.json")))
}

fn read_index(repo: &Path, board: &str, channel: &str) -> Result<Option<Index>, Failure> {
    let p = channel_path(repo, board, channel)?;
    match fs::read(&p) {
        Ok(bytes) => {
            Index::read_unverified(&bytes).map(Some).map_err(|e| Failure::error(format!("{}: {e}", p.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::error(format!("reading {}: {e}", p.display()))),
    }
}

fn change(repo: &Path, board: &str, channel: &str, keys: &Keys, edit: impl FnOnce(&mut Index)) -> Result<(), Failure> {
    let mut index = read_index(repo, board, channel)?
        .ok_or_else(|| Failure::error(format!("channel {board}/{channel} has nothing published")))?;
    edit(&mut index);
    index.sequence += 1;
    write_index(repo, &index, keys)
}

fn write_index(repo: &Path, index: &Index, keys: &Keys) -> Result<(), Failure> {
    let keys = keys.load()?;
    let refs: Vec<&bundle::SecretKey> = keys.iter().collect();
    let bytes = index.sign(&refs).map_err(Failure::error)?;
    let path = channel_path(repo, &index.board, &index.channel)?;
    write_atomic(&path, &bytes)?;
    println!(
        "repo: {}/{} is {} (sequence {}, {} of {SEEDS} seeds{}), signed by {}: {}",
        index.board,
        index.channel,
        index.version,
        index.sequence,
        index.max_seed,
        if index.paused { ", PAUSED" } else { "" },
        keys.iter().map(|k| k.id().to_string()).collect::<Vec<_>>().join(", "),
        path.display()
    );
    Ok(())
}

/// The repository's files of one release: manifest path and SHA-256, bundle path and size.
fn release_files(repo: &Path, board: &str, version: &str) -> Result<(String, String, String, u64), Failure> {
    let name = format!("quill-{board}-{version}");
    let manifest = format!("manifests/{name}.qmanifest");
    let bundle = format!("bundles/{name}.qbundle");
    let bytes = fs::read(repo.join(&manifest)).map_err(|e| {
        Failure::error(format!(
            "{}: {e}; add the bundle first with `fwupdate repo add`",
            repo.join(&manifest).display()
        ))
    })?;
    let size = fs::metadata(repo.join(&bundle))
        .map_err(|e| Failure::error(format!("{}: {e}", repo.join(&bundle).display())))?
        .len();
    Ok((manifest, hex::encode(Sha256::digest(&bytes)), bundle, size))
}

fn add(repo: &Path, bundle_path: &Path) -> Result<(), Failure> {
    let name = bundle_path.display().to_string();
    let open = || fs::File::open(bundle_path).map_err(|e| Failure::error(format!("{name}: {e}")));
    let (manifest, _) = bundle::inspect(&name, std::io::BufReader::new(open()?))?;
    let head = bundle::head_bytes(&name, std::io::BufReader::new(open()?))?;
    for board in &manifest.boards {
        let base = format!("quill-{board}-{}", manifest.version);
        let dest = repo.join("bundles").join(format!("{base}.qbundle"));
        fs::create_dir_all(dest.parent().expect("a parent"))
            .map_err(|e| Failure::error(format!("creating {}: {e}", repo.display())))?;
        let tmp = dest.with_extension("partial");
        fs::copy(bundle_path, &tmp).map_err(|e| Failure::error(format!("copying {name}: {e}")))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Failure::error(format!("{}: {e}", tmp.display())))?;
        fs::rename(&tmp, &dest).map_err(|e| Failure::error(format!("{}: {e}", dest.display())))?;
        write_atomic(&repo.join("manifests").join(format!("{base}.qmanifest")), &head)?;
        println!("repo: added {base} ({} KiB manifest): {}", head.len().div_ceil(1024), dest.display());
    }
    Ok(())
}

fn show(repo: &Path) -> Result<(), Failure> {
    let dir = repo.join("channels");
    let boards = fs::read_dir(&dir).map_err(|e| Failure::error(format!("{}: {e}", dir.display())))?;
    let mut lines = Vec::new();
    for b in boards.flatten() {
        for c in fs::read_dir(b.path()).into_iter().flatten().flatten() {
            let bytes = fs::read(c.path()).map_err(|e| Failure::error(format!("{}: {e}", c.path().display())))?;
            let i =
                Index::read_unverified(&bytes).map_err(|e| Failure::error(format!("{}: {e}", c.path().display())))?;
            lines.push(format!(
                "{}/{}: {} (sequence {}, {} of {SEEDS} seeds){}",
                i.board,
                i.channel,
                i.version,
                i.sequence,
                i.max_seed,
                if i.paused { " PAUSED" } else { "" }
            ));
        }
    }
    lines.sort();
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// Temporary file, fsync, rename, folder fsync: a reader (the web server)
/// sees the old file or the new one, never half of it.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().expect("a parent folder");
    fs::create_dir_all(dir).map_err(|e| Failure::error(format!("creating {}: {e}", dir.display())))?;
    let tmp = path.with_extension("partial");
    let err = |e: std::io::Error| Failure::error(format!("writing {}: {e}", path.display()));
    let mut f = fs::File::create(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}
