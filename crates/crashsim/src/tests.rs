//! The simulator's own rules: what survives a cut, and every fate.

use super::*;

fn disk() -> MemDevice {
    MemDevice(vec![0u8; 64 * 1024])
}

#[test]
fn flushed_writes_survive_and_pending_ones_meet_every_fate() {
    let d = tempfile::tempdir().unwrap();
    let (run, ()) = record(&disk(), d.path(), |mut dev| {
        dev.write_at(0, &[1u8; 8192]).unwrap();
        dev.flush().unwrap();
        dev.write_at(8192, &[2u8; 8192]).unwrap();
        (dev, ())
    });
    assert_eq!(run.ops.len(), 3);
    let mut seen = Vec::new();
    let n = run
        .check_states(4, |s, _| {
            let mut a = [0u8; 1];
            let mut b = [0u8; 1];
            s.dev.read_at(0, &mut a).unwrap();
            s.dev.read_at(8192 + 4096, &mut b).unwrap();
            seen.push((s.label.clone(), a[0], b[0]));
            Ok(())
        })
        .unwrap();
    // Cut 0: clean. Cut 1: write 1 pending (lost, kept, 4 subsets, torn).
    // Cut 2: flushed, nothing pending. Cut 3: write 2 pending.
    assert_eq!(n, 1 + 7 + 1 + 7);
    assert!(seen.iter().filter(|s| s.0.starts_with("step 3")).all(|s| s.1 == 1), "flushed stays: {seen:?}");
    let last: Vec<u8> = seen.iter().filter(|s| s.0.starts_with("step 3")).map(|s| s.2).collect();
    assert!(last.contains(&0) && last.contains(&2), "lost and kept: {last:?}");
    let torn = seen.iter().find(|s| s.0 == "step 3 Torn").unwrap();
    assert_eq!(torn.2, 0, "a torn write keeps only its first 4 KiB page");
}

#[test]
fn file_steps_are_durable_after_the_folder_sync() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("s"), "old").unwrap();
    let (run, ()) = record(&disk(), d.path(), |dev| {
        devconfig::write_atomic(&d.path().join("s"), b"new").unwrap();
        devconfig::remove_durably(&d.path().join("s")).unwrap();
        (dev, ())
    });
    assert_eq!(run.summary(), "0 device writes, 0 flushes, 2 file steps, 2 folder syncs");
    let mut seen = Vec::new();
    run.check_states(2, |s, dir| {
        seen.push((s.label.clone(), std::fs::read_to_string(dir.join("s")).ok()));
        Ok(())
    })
    .unwrap();
    let at = |cut: &str| -> Vec<Option<String>> {
        seen.iter().filter(|s| s.0.starts_with(cut)).map(|s| s.1.clone()).collect()
    };
    assert!(at("step 0 ").iter().all(|c| c.as_deref() == Some("old")));
    assert!(at("step 1 ").contains(&Some("old".into())) && at("step 1 ").contains(&Some("new".into())));
    assert!(at("step 2 ").iter().all(|c| c.as_deref() == Some("new")));
    assert!(at("step 4 ").iter().all(Option::is_none));
}
