//! `fwupdate bundle create|sign|verify|info`.

use crate::Failure;
use bundle::{
    Builder, KeyId, KeyStatement, Keyring, Manifest, Policy, PublicKey, Reader, SecretKey, StatementKind, Target,
};
use clap::Subcommand;
use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where devices keep the trusted public keys.
pub const DEVICE_KEYRING: &str = "/etc/quill/keys";

#[derive(Subcommand)]
pub enum BundleCmd {
    /// Make a bundle from a slot image.
    Create {
        /// Board the bundle is for (repeat for several).
        #[arg(long = "board", required = true)]
        boards: Vec<String>,
        #[arg(long)]
        version: String,
        /// Devices refuse bundles below their rollback floor.
        #[arg(long, default_value_t = 0)]
        rollback_index: u64,
        #[arg(long, default_value = "")]
        build_id: String,
        /// The slot image (FAT) to carry.
        #[arg(long)]
        slot_image: PathBuf,
        /// Also carry a boot selector (EFI binary).
        #[arg(long)]
        boot_selector: Option<PathBuf>,
        /// Secret key to sign with (repeat for several signatures; none leaves it unsigned).
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        /// Key statement: trust this public key from now on (signed by --statement-key).
        #[arg(long = "trust")]
        trust: Vec<PathBuf>,
        /// Key statement: revoke this key id (signed by --statement-key).
        #[arg(long = "revoke")]
        revoke: Vec<String>,
        /// A currently trusted secret key that signs the key statements.
        #[arg(long)]
        statement_key: Option<PathBuf>,
        #[arg(long, default_value_t = bundle::DEFAULT_CHUNK_SIZE)]
        chunk_size: u32,
        #[arg(long, default_value_t = bundle::DEFAULT_LEVEL)]
        level: i32,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Add a signature to a bundle (in place, or to --output).
    Sign {
        bundle: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a bundle completely: signature, every chunk, board, rollback index, size.
    Verify {
        bundle: PathBuf,
        /// Folder of trusted *.pub keys.
        #[arg(long, default_value = DEVICE_KEYRING)]
        keyring: PathBuf,
        /// Refuse bundles that are not for this board.
        #[arg(long)]
        board: Option<String>,
        #[arg(long, default_value_t = 0)]
        rollback_floor: u64,
        /// Refuse slot images larger than this many bytes.
        #[arg(long)]
        slot_size: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Print the manifest (without verifying it).
    Info {
        bundle: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BundleCmd) -> Result<(), Failure> {
    match cmd {
        BundleCmd::Create {
            boards,
            version,
            rollback_index,
            build_id,
            slot_image,
            boot_selector,
            keys,
            trust,
            revoke,
            statement_key,
            chunk_size,
            level,
            output,
        } => {
            let keys: Vec<SecretKey> = keys.iter().map(|k| SecretKey::load(k)).collect::<Result<_, _>>()?;
            let mut statements = Vec::new();
            if !trust.is_empty() || !revoke.is_empty() {
                let signer =
                    statement_key.ok_or("--trust and --revoke need --statement-key, a key the devices trust now")?;
                let signer = SecretKey::load(&signer)?;
                for p in &trust {
                    let text = fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
                    let k = PublicKey::from_file_text(&text).map_err(|e| format!("{}: {e}", p.display()))?;
                    statements.push(KeyStatement::sign(StatementKind::Trust(k), &signer));
                }
                for id in &revoke {
                    let id = KeyId::parse(id).ok_or_else(|| format!("--revoke {id}: a key id is 16 hex digits"))?;
                    statements.push(KeyStatement::sign(StatementKind::Revoke(id), &signer));
                }
            }
            let mut b = Builder::new(&boards[0], &version);
            b.boards = boards;
            b.rollback_index = rollback_index;
            b.build_id = build_id;
            b.statements = statements;
            b.chunk_size = chunk_size;
            b.level = level;
            // Streamed from the files: memory stays bounded whatever the
            // image's size.
            let open = |p: &Path| -> Result<(fs::File, u64), Failure> {
                let f = fs::File::open(p).map_err(|e| format!("opening {}: {e}", p.display()))?;
                let len = f.metadata().map_err(|e| format!("{}: {e}", p.display()))?.len();
                Ok((f, len))
            };
            let (mut slot, slot_len) = open(&slot_image)?;
            let mut selector = boot_selector.as_deref().map(open).transpose()?;
            let mut images = vec![bundle::Image { target: Target::SlotImage, len: slot_len, reader: &mut slot }];
            if let Some((f, len)) = selector.as_mut() {
                images.push(bundle::Image { target: Target::BootSelector, len: *len, reader: f });
            }
            let started = Instant::now();
            let refs: Vec<&SecretKey> = keys.iter().collect();
            let name = output.display().to_string();
            let m = write_atomic(&output, |w| b.write_images(&name, w, &refs, &mut images).map_err(Failure::error))?;
            let size = fs::metadata(&output).map_err(|e| format!("{}: {e}", output.display()))?.len();
            println!(
                "created {} ({} bytes, {} payload(s), {} signature(s)) in {:.1} s",
                output.display(),
                size,
                m.payloads.len(),
                refs.len(),
                started.elapsed().as_secs_f64()
            );
            if refs.is_empty() {
                println!("note: the bundle is unsigned; sign it with `fwupdate bundle sign`");
            }
            Ok(())
        }
        BundleCmd::Sign { bundle, key, output } => {
            let key = SecretKey::load(&key)?;
            let out = output.unwrap_or_else(|| bundle.clone());
            let mut input =
                BufReader::new(fs::File::open(&bundle).map_err(|e| format!("opening {}: {e}", bundle.display()))?);
            let name = bundle.display().to_string();
            write_atomic(&out, |w| bundle::add_signature(&name, &mut input, w, &key).map_err(refused))?;
            println!("signed {} with key {}", out.display(), key.id());
            Ok(())
        }
        BundleCmd::Verify { bundle, keyring, board, rollback_floor, slot_size, json } => {
            let ring = Keyring::load_dir(&keyring)?;
            let file = fs::File::open(&bundle).map_err(|e| format!("opening {}: {e}", bundle.display()))?;
            let policy = Policy { board, rollback_floor, slot_size };
            let started = Instant::now();
            let r =
                Reader::open(&bundle.display().to_string(), BufReader::with_capacity(1 << 20, file), &ring, &policy)
                    .map_err(refused)?;
            let signer = r.signer();
            let m = r.verify_all().map_err(refused)?;
            if json {
                let v =
                    serde_json::json!({"bundle": bundle, "valid": true, "signer": signer.to_string(), "manifest": m});
                println!("{}", serde_json::to_string_pretty(&v).map_err(Failure::error)?);
            } else {
                println!(
                    "{}: valid, version {} for {}, signed by key {}, {} chunk(s) verified in {:.2} s",
                    bundle.display(),
                    m.version,
                    m.boards.join(", "),
                    signer,
                    m.payloads.iter().map(|p| p.chunks.len()).sum::<usize>(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        BundleCmd::Info { bundle, json } => {
            let file = fs::File::open(&bundle).map_err(|e| format!("opening {}: {e}", bundle.display()))?;
            let (m, signers) = bundle::inspect(&bundle.display().to_string(), BufReader::new(file)).map_err(refused)?;
            if json {
                let signers: Vec<String> = signers.iter().map(|s| s.to_string()).collect();
                let v = serde_json::json!({"bundle": bundle, "verified": false, "signers": signers, "manifest": m});
                println!("{}", serde_json::to_string_pretty(&v).map_err(Failure::error)?);
            } else {
                print_info(&bundle, &m, &signers);
            }
            Ok(())
        }
    }
}

/// A bundle that does not pass a check: exit 3 (unreadable: 1).
fn refused(e: bundle::Error) -> Failure {
    Failure::from(e)
}

/// Writes through `f` into `PATH.partial`, then renames it to `path`; on
/// error the partial file is removed, so nothing half-written is left.
fn write_atomic<T>(path: &Path, f: impl FnOnce(&mut BufWriter<fs::File>) -> Result<T, Failure>) -> Result<T, Failure> {
    let tmp = path.with_extension("partial");
    let file = fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let result = f(&mut w).and_then(|v| {
        let file = w.into_inner().map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        file.sync_all().map_err(|e| format!("syncing {}: {e}", tmp.display()))?;
        fs::rename(&tmp, path).map_err(|e| format!("renaming to {}: {e}", path.display()))?;
        Ok(v)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn print_info(path: &Path, m: &Manifest, signers: &[KeyId]) {
    println!("bundle:         {} (not verified; use `fwupdate bundle verify`)", path.display());
    println!("boards:         {}", m.boards.join(", "));
    println!("version:        {}", m.version);
    println!("rollback index: {}", m.rollback_index);
    println!("build id:       {}", m.build_id);
    let s: Vec<String> = signers.iter().map(|k| k.to_string()).collect();
    println!("signed by:      {}", if s.is_empty() { "nobody".into() } else { s.join(", ") });
    for st in &m.statements {
        match &st.kind {
            StatementKind::Trust(k) => println!("key statement:  trust {} (signed by {})", k.id(), st.signer),
            StatementKind::Revoke(id) => println!("key statement:  revoke {id} (signed by {})", st.signer),
        }
    }
    for (i, p) in m.payloads.iter().enumerate() {
        println!(
            "payload {i}:      {:?}, {} bytes, {} compressed ({:.1}%), {} chunks of {} bytes, sha256 {}",
            p.target,
            p.size,
            p.compressed_size,
            100.0 * p.compressed_size as f64 / p.size as f64,
            p.chunks.len(),
            p.chunk_size,
            hex::encode(p.sha256)
        );
    }
}
