//! `tidy`: the rules of the source tree, checked by `cargo xtask test`
//! (rust-analyzer's tidy.rs is the model). Each rule says why it exists;
//! a rule's known exceptions are listed here, with the issue that removes
//! them, so they cannot grow silently.
//!
//! - Only the modules ARCHITECTURE.md names mount filesystems.
//! - No board names or partition numbers in Rust outside the board-file
//!   parser (board facts live in board/).
//! - No source file over 600 lines.
//! - Every crate's lib.rs / main.rs starts with a doc comment naming its job.
//! - No sleep over 100 ms in the end-to-end tests: they wait for events.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    /// Every Rust file of the workspace, relative to the root.
    fn rust_files() -> Vec<(String, String)> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if p.is_dir() {
                    if name != "target" && !name.starts_with('.') {
                        walk(&p, root, out);
                    }
                } else if name.ends_with(".rs") {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    out.push((rel, fs::read_to_string(&p).unwrap_or_default()));
                }
            }
        }
        let root = root();
        let mut out = Vec::new();
        for top in ["crates", "xtask", "qemu", "tests", "fuzz"] {
            walk(&root.join(top), &root, &mut out);
        }
        out.sort();
        out
    }

    /// Whether a file is test code as a whole (integration tests, the
    /// end-to-end crate, the fuzz targets).
    fn is_test_file(rel: &str) -> bool {
        rel.starts_with("tests/") || rel.contains("/tests/") || rel.starts_with("fuzz/") || rel.ends_with("/tests.rs")
    }

    /// The file without its `#[cfg(test)]` module (by convention the last
    /// item of a file) and without comments.
    fn product_code(text: &str) -> String {
        let end = text.find("#[cfg(test)]").unwrap_or(text.len());
        text[..end]
            .lines()
            .map(|l| match l.find("//") {
                Some(i) if !l[..i].contains('"') => &l[..i],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn check(rule: &str, violations: Vec<String>) {
        assert!(violations.is_empty(), "tidy: {rule}:\n  {}", violations.join("\n  "));
    }

    #[test]
    fn only_init_and_the_settings_carry_over_mount() {
        // ARCHITECTURE.md: init mounts everything of the running system;
        // flash::carry mounts the new disk's DATA for one write.
        const ALLOWED: &[&str] = &["crates/init/src/system.rs", "crates/flash/src/carry.rs"];
        let calls = ["libc::mount(", "nix::mount::mount(", "mount(Some(", "mount(None", "sys_mount("];
        let mut bad = Vec::new();
        for (rel, text) in rust_files() {
            if is_test_file(&rel) || ALLOWED.contains(&rel.as_str()) {
                continue;
            }
            let code = product_code(&text);
            for (n, line) in code.lines().enumerate() {
                if calls.iter().any(|c| line.contains(c)) || line.contains("use nix::mount") {
                    bad.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        check("mount(2) outside the modules allowed to mount", bad);
    }

    #[test]
    fn board_names_and_partition_numbers_stay_in_board_files() {
        // The board-file parser may name boards; everything else reads them.
        const ALLOWED: &[&str] = &["xtask/src/board.rs"];
        let boards: Vec<String> = fs::read_dir(root().join("board"))
            .unwrap()
            .flatten()
            .map(|e| format!("\"{}\"", e.file_name().to_string_lossy()))
            .collect();
        let partition_numbers = [
            "SLOT_PARTITIONS",
            ".number == 1",
            ".number == 2",
            ".number == 3",
            ".number == 4",
            "mmcblk0p",
            "mmcblk1p",
            "\"/dev/vda",
            "\"/dev/sda",
        ];
        let mut bad = Vec::new();
        for (rel, text) in rust_files() {
            if is_test_file(&rel) || ALLOWED.contains(&rel.as_str()) {
                continue;
            }
            for (n, line) in product_code(&text).lines().enumerate() {
                if boards.iter().any(|b| line.contains(b.as_str()))
                    || partition_numbers.iter().any(|p| line.contains(p))
                {
                    bad.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        check("a board name or partition number outside board/ and its parser", bad);
    }

    #[test]
    fn no_file_is_over_600_lines() {
        let bad: Vec<String> = rust_files()
            .into_iter()
            .filter(|(_, t)| t.lines().count() > 600)
            .map(|(rel, t)| format!("{rel}: {} lines; split it by job", t.lines().count()))
            .collect();
        check("files stay small enough to read in one sitting", bad);
    }

    #[test]
    fn every_crate_root_names_its_job() {
        let mut bad = Vec::new();
        for (rel, text) in rust_files() {
            let root_file = rel.ends_with("src/lib.rs") || rel.ends_with("src/main.rs") || rel.ends_with("/main.rs");
            if !root_file || rel.starts_with("fuzz/") || rel.contains("/tests/") {
                continue;
            }
            if !text.trim_start().starts_with("//!") {
                bad.push(format!("{rel}: starts without a //! doc comment"));
            }
        }
        check("every crate's lib.rs/main.rs starts with a doc comment naming its job", bad);
    }

    /// The milliseconds of a `sleep(...)` on this line, when it names them.
    fn sleep_ms(line: &str) -> Option<u64> {
        let at = line.find("sleep(")?;
        let rest = &line[at..];
        let num = |s: &str| s.chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse::<u64>().ok();
        if let Some(i) = rest.find("from_secs(") {
            return num(&rest[i + 10..]).map(|s| s * 1000);
        }
        if let Some(i) = rest.find("from_millis(") {
            return num(&rest[i + 12..]);
        }
        // A variable: the gap cannot be read here; count it as long.
        Some(u64::MAX)
    }

    #[test]
    fn end_to_end_tests_wait_for_events_not_time() {
        let mut bad = Vec::new();
        for (rel, text) in rust_files() {
            if !rel.starts_with("tests/") {
                continue;
            }
            let long: Vec<String> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| sleep_ms(l).is_some_and(|ms| ms > 100))
                .map(|(n, l)| format!("{rel}:{}: {}", n + 1, l.trim()))
                .collect();
            bad.extend(long);
        }
        check("a fixed sleep over 100 ms in an end-to-end test (wait for an event instead)", bad);
    }

    #[test]
    fn the_rules_see_what_they_look_for() {
        assert_eq!(sleep_ms("std::thread::sleep(Duration::from_secs(1));"), Some(1000));
        assert_eq!(sleep_ms("std::thread::sleep(Duration::from_millis(50));"), Some(50));
        assert_eq!(sleep_ms("std::thread::sleep(gap);"), Some(u64::MAX));
        assert_eq!(sleep_ms("let x = 1;"), None);
        assert_eq!(product_code("a // b\nc\n#[cfg(test)]\nd"), "a \nc");
        assert!(is_test_file("crates/updater/tests/install.rs") && !is_test_file("crates/updater/src/install.rs"));
    }
}
