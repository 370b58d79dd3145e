use super::*;

#[test]
fn reboot_and_power_off_ask_first_and_default_to_no() {
    let mut h = Home::new(Lang::En, DeviceInfo::default());
    for _ in 0..5 {
        h.key(Key::Down);
    }
    assert_eq!(h.actions()[h.selected], Action::Reboot);
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
    assert_eq!(h.overlay, Some(Overlay::Confirm(Action::Reboot)));
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No is the default");
    assert_eq!(h.overlay, None);
    h.key(Key::Down);
    h.key(Key::Enter);
    h.key(Key::Left);
    assert_eq!(h.key(Key::Enter), HomeOutcome::PowerOff);
}

#[test]
fn an_update_from_the_network_asks_first_and_behind_the_password() {
    let mut h = Home::new(Lang::En, DeviceInfo::default());
    h.offer_network("2.0.0");
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No is the default");
    h.offer_network("2.0.0");
    h.key(Key::Left);
    assert_eq!(h.key(Key::Enter), HomeOutcome::InstallNetwork("2.0.0".into()));
    h.guarded = true;
    h.offer_network("2.0.0");
    assert_eq!(h.click(HomeHit::Overlay(0)), HomeOutcome::Stay);
    assert!(
        matches!(h.overlay, Some(Overlay::Password(ref t, _, _)) if **t == HomeOutcome::InstallNetwork("2.0.0".into()))
    );
    h.net_progress("2.0.0", "fetched 40% (4.0 MiB/s, 12 s left)", 0.4);
    assert_eq!(h.key(Key::Escape), HomeOutcome::Stay);
    assert!(
        matches!(h.overlay, Some(Overlay::Progress(_, ref t, _)) if t.starts_with("Downloading and installing 2.0.0"))
    );
}

#[test]
fn an_offered_update_asks_first_and_blocks_input_while_it_runs() {
    let mut h = Home::new(Lang::En, DeviceInfo::default());
    let b = std::path::PathBuf::from("/run/media/sda1/quill-2.0.0.qbundle");
    h.offer(b.clone());
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No is the default");
    assert_eq!(h.overlay, None);
    h.offer(b.clone());
    h.key(Key::Left);
    assert_eq!(h.key(Key::Enter), HomeOutcome::Install(b.clone()));
    h.offer(b.clone());
    assert_eq!(h.click(HomeHit::Overlay(0)), HomeOutcome::Install(b));
    h.progress("quill-2.0.0.qbundle", "written  50%", 0.5);
    assert_eq!(h.key(Key::Escape), HomeOutcome::Stay);
    assert!(matches!(h.overlay, Some(Overlay::Progress(_, _, f)) if f == 0.5), "progress cannot be dismissed");
    h.finished(Err("the bundle is signed by an unknown key".into()));
    assert!(
        matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("keeps its firmware") && m.contains("unknown key"))
    );
    h.key(Key::Enter);
    assert_eq!(h.overlay, None);
}

#[test]
fn setup_update_and_terminal() {
    let mut h = Home::new(Lang::De, DeviceInfo::default());
    assert_eq!(h.click(HomeHit::Action(0)), HomeOutcome::RunSetup);
    assert_eq!(h.click(HomeHit::Action(1)), HomeOutcome::Update);
    assert_eq!(h.click(HomeHit::Action(2)), HomeOutcome::Terminal);
    assert_eq!(h.click(HomeHit::Action(3)), HomeOutcome::OpenSetup);
    // The factory reset asks first (No by default).
    assert_eq!(h.click(HomeHit::Action(4)), HomeOutcome::Stay);
    assert_eq!(h.overlay, Some(Overlay::Confirm(Action::Reset)));
    assert_eq!(h.click(HomeHit::Action(0)), HomeOutcome::Stay, "the message box is modal");
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay, "No");
    // Ctrl+Alt+S opens the Setup from over a box.
    h.click(HomeHit::Action(4));
    assert_eq!(h.open_setup(), HomeOutcome::OpenSetup);
    assert_eq!(h.overlay, None);
    h.click(HomeHit::Action(4));
    assert_eq!(h.click(HomeHit::Overlay(0)), HomeOutcome::FactoryReset);
}

#[test]
fn with_a_password_the_guarded_actions_ask_for_it_first() {
    let mut h = Home::new(Lang::En, DeviceInfo { pocket: true, ..Default::default() });
    h.guarded = true;
    assert_eq!(h.click(HomeHit::Action(1)), HomeOutcome::Update, "looking for an update asks nothing");
    for (i, then) in [
        (0, HomeOutcome::RunSetup),
        (2, HomeOutcome::FindDisks),
        (3, HomeOutcome::Terminal),
        (4, HomeOutcome::OpenSetup),
    ] {
        assert_eq!(h.click(HomeHit::Action(i)), HomeOutcome::Stay);
        assert!(matches!(h.overlay, Some(Overlay::Password(ref t, _, None)) if **t == then), "{:?}", h.overlay);
        for c in "hunter22".chars() {
            h.key(Key::Char(c));
        }
        let out = h.key(Key::Enter);
        assert_eq!(out, HomeOutcome::Authorize { password: Secret("hunter22".into()), then: Box::new(then.clone()) });
        assert!(!format!("{out:?}").contains("hunter22"), "never printed");
        // Wrong: asked again, with the wait; Esc gives up.
        h.refused(then.clone(), 2, None);
        assert!(
            matches!(h.overlay, Some(Overlay::Password(_, ref f, Some(ref n))) if f.text.is_empty() && n.contains("2 s"))
        );
        assert_eq!(h.key(Key::Escape), HomeOutcome::Stay);
        assert_eq!(h.overlay, None);
        assert_eq!(h.authorized(then.clone()), then);
    }
    // An offered update, the factory reset: asked after the confirmation.
    let b = std::path::PathBuf::from("/run/media/sda1/q.qbundle");
    h.offer(b.clone());
    h.key(Key::Left);
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
    assert!(matches!(h.overlay, Some(Overlay::Password(ref t, _, _)) if **t == HomeOutcome::Install(b.clone())));
    h.key(Key::Escape);
    h.click(HomeHit::Action(5));
    h.key(Key::Left);
    h.key(Key::Enter);
    assert!(matches!(h.overlay, Some(Overlay::Password(ref t, _, _)) if **t == HomeOutcome::FactoryReset));
    h.key(Key::Escape);
    // Ctrl+Alt+S asks for the password too.
    assert_eq!(h.open_setup(), HomeOutcome::Stay);
    assert!(matches!(h.overlay, Some(Overlay::Password(ref t, _, _)) if **t == HomeOutcome::OpenSetup));
    // A lock that cannot be checked: only the recovery.
    h.refused(HomeOutcome::FactoryReset, 0, Some("damaged".into()));
    assert!(matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("hold R")));
}

fn list(disks: &[(&str, Option<&str>)]) -> DiskList {
    DiskList {
        running_from: "/dev/sda".into(),
        from_removable: true,
        disks: disks
            .iter()
            .map(|(p, r)| flash::disks::Disk {
                path: p.to_string(),
                label: "QEMU HARDDISK, 2.0 GiB".into(),
                size: 2 << 30,
                refusal: r.map(str::to_string),
            })
            .collect(),
    }
}

#[test]
fn install_onto_the_disk_is_offered_on_a_pocket_only_and_asks_twice() {
    let h = Home::new(Lang::En, DeviceInfo::default());
    assert!(!h.actions().contains(&Action::InstallDisk), "not on an internal-disk device");
    let mut h = Home::new(Lang::En, DeviceInfo { pocket: true, ..Default::default() });
    assert_eq!(h.actions()[2], Action::InstallDisk);
    assert_eq!(h.click(HomeHit::Action(2)), HomeOutcome::FindDisks);
    // One usable disk: straight to the question, No by default.
    h.disks(Ok(list(&[("/dev/vda", None), ("/dev/sdb", Some("removable"))])));
    assert!(matches!(h.overlay, Some(Overlay::ConfirmDisk(ref p, _)) if p == "/dev/vda"));
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
    assert_eq!(h.overlay, None, "No erased nothing");
    h.disks(Ok(list(&[("/dev/vda", None)])));
    h.key(Key::Left);
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
    assert_eq!(h.overlay, Some(Overlay::DiskSettings("/dev/vda".into())));
    assert_eq!(
        h.key(Key::Enter),
        HomeOutcome::InstallToDisk { device: "/dev/vda".into(), copy_settings: true },
        "copying is the default"
    );
    // Several: a choice, the last item cancels.
    h.disks(Ok(list(&[("/dev/vda", None), ("/dev/nvme0n1", None)])));
    assert!(matches!(h.overlay, Some(Overlay::ChooseDisk(ref d)) if d.len() == 2));
    h.key(Key::Down);
    h.key(Key::Down);
    assert_eq!(h.key(Key::Enter), HomeOutcome::Stay);
    assert_eq!(h.overlay, None, "Cancel");
    h.disks(Ok(list(&[("/dev/vda", None), ("/dev/nvme0n1", None)])));
    assert_eq!(h.click(HomeHit::Overlay(1)), HomeOutcome::Stay);
    assert!(matches!(h.overlay, Some(Overlay::ConfirmDisk(ref p, _)) if p == "/dev/nvme0n1"));
    assert_eq!(h.click(HomeHit::Overlay(0)), HomeOutcome::Stay);
    assert_eq!(
        h.click(HomeHit::Overlay(1)),
        HomeOutcome::InstallToDisk { device: "/dev/nvme0n1".into(), copy_settings: false }
    );
    // None: why, per disk.
    h.disks(Ok(list(&[("/dev/sdb", Some("removable or USB storage, not an internal disk"))])));
    assert!(matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("/dev/sdb") && m.contains("removable")));
    h.key(Key::Enter);
    h.disk_progress("/dev/vda", "written  40%", 0.2);
    assert_eq!(h.key(Key::Escape), HomeOutcome::Stay);
    assert!(matches!(h.overlay, Some(Overlay::Progress(Msg::ActionInstallDisk, _, _))));
    h.disk_finished("/dev/vda", Err("read-back mismatch".into()));
    assert!(matches!(h.overlay, Some(Overlay::Info(ref m)) if m.contains("failed") && m.contains("mismatch")));
}
