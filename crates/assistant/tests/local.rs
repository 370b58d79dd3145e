//! The local Setup on a console (`quill-setup --local`), driven by lines.

mod common;

use assistant::console::Lines;
use common::Fake;
use devconfig::{AddressMode, Settings};
use localsetup::{Draft, Env, Lang};

fn session(lines: &str, sys: &mut Fake, lang: Lang) -> String {
    let env =
        Env { timezones: vec!["UTC".into(), "Europe/Berlin".into()], modes: vec![], screen: false, interfaces: vec![] };
    let mut draft = Draft::new(Settings { setup_done: true, ..Settings::default() }, env);
    let mut out = Vec::new();
    assistant::local::run(&mut draft, lang, sys, &mut Lines(lines.as_bytes()), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn a_static_address_and_a_keyboard_layout_are_saved_once_valid_and_applied() {
    let mut sys = Fake { network_runs: true, ..Fake::default() };
    let out = session(
        "cd network/ethernet\n\
         set network.mode static\n\
         set network.address 10.0.2.300/24\n\
         set network.address 10.0.2.15/24\n\
         set network.gateway 192.168.1.1\n\
         apply\n\
         set network.gateway 10.0.2.2\n\
         set network.dns 10.0.2.3\n\
         search tastatur\n\
         go 1\n\
         set keyboard de\n\
         apply\n",
        &mut sys,
        Lang::En,
    );
    assert!(out.contains("! Static address: \"10.0.2.300\" is not an IPv4 address (not changed)"), "{out}");
    assert!(out.contains("nothing saved; mend these first"), "{out}");
    assert!(out.contains("network.gateway: the gateway 192.168.1.1 is outside the subnet of 10.0.2.15/24"), "{out}");
    assert!(out.contains("1. Keyboard layout (ui/keyboard): Tastaturbelegung"), "{out}");
    assert!(out.contains("> keyboard"), "the found field is marked: {out}");
    assert!(
        out.contains("in effect now: network.mode, network.address, network.gateway, network.dns, keyboard"),
        "{out}"
    );
    assert_eq!(sys.network_restarts, 1, "the network service started over once");
    assert_eq!(sys.saved.len(), 1, "saved once, when valid");
    let s = &sys.saved[0];
    assert_eq!((s.network.all.mode, s.network.all.address.as_str()), (AddressMode::Static, "10.0.2.15/24"));
    assert_eq!((s.network.all.gateway.as_str(), s.keyboard.as_str()), ("10.0.2.2", "de"));
    assert!(s.setup_done, "the rest of the settings is kept");
    assert_eq!(sys.layouts, ["de"]);
}

#[test]
fn firmware_actions_and_a_new_password() {
    let mut sys = Fake::default();
    let out = session(
        "cd /system/firmware\ndo check-update\ndo roll-back\ndo nothing\n\
         cd /security/password\nset admin.password hunter22\npasswd\nshort\nshort\npasswd\nquill4admin\nquill4admin\nls\napply\n",
        &mut sys,
        Lang::En,
    );
    assert!(out.contains("slot B: 1.0.0, priority 1, successful"), "{out}");
    assert!(out.contains("do check-update"), "{out}");
    assert!(out.contains("update 3.0.0 available"), "{out}");
    assert!(out.contains("! slot B never booted successfully"), "{out}");
    assert!(out.contains("! no action \"nothing\""), "{out}");
    assert!(out.contains("use passwd"), "{out}");
    assert!(out.contains("too short") && out.contains("the password is unchanged"), "{out}");
    assert!(out.contains("admin.password         New administrator password: •••••••••••"), "{out}");
    assert!(!out.contains("quill4admin"), "never shown: {out}");
    assert!(out.contains("in effect now: admin.password"), "{out}");
    assert_eq!(sys.admin, [assistant::AdminChoice::Set("quill4admin".into())]);
    assert_eq!(sys.saved.len(), 1);
}

#[test]
fn navigation_german_labels_and_a_failed_save() {
    let mut sys = Fake { fail_save: true, ..Fake::default() };
    let out = session(
        "cd /system/time\nback\nforward\nup\nls\ncd nowhere\nset timezone Europe/Berlin\napply\nfrobnicate\nquit\n",
        &mut sys,
        Lang::De,
    );
    assert!(out.contains("Zeit und Datum (/system/time)"), "{out}");
    assert!(out.contains("Zeitzone: UTC"), "{out}");
    assert!(out.contains("! nowhere to go forward") || out.contains("setup:/system/time>"), "{out}");
    assert!(out.contains("System (/system)"), "up goes to the area: {out}");
    assert!(out.contains("! no such area or page: \"nowhere\""), "{out}");
    assert!(out.contains("! not saved: DATA is read-only; the saved settings are unchanged"), "{out}");
    assert!(out.contains("! unknown command \"frobnicate\""), "{out}");
    assert!(out.contains("1 change(s) not applied were dropped"), "{out}");
    assert_eq!(sys.zone, None, "nothing applied when nothing was saved");
    // Without a network service, network settings wait for it to start.
    let mut sys = Fake::default();
    let out = session("set network.ntp_servers pool.ntp.org\nset language de\napply\n", &mut sys, Lang::En);
    assert!(out.contains("in effect after a restart of the device: network.ntp_servers, language"), "{out}");
}

#[test]
fn enrolling_again_and_a_factory_reset_that_asks_first() {
    let fp = "ab".repeat(32);
    let mut sys = Fake { gateway_fp: fp.clone(), ..Fake::default() };
    let out = session(
        &format!(
            "cd /system/management\ndo enroll\nset management.address gw.example:8443\n\
             set management.fingerprint {fp}\ndo enroll\nwrong\n\
             set keyboard de\ndo enroll\notp-7\nls\n\
             cd /system/reset\nls\ndo factory-reset\nno\ndo factory-reset\nyes\nquit\n"
        ),
        &mut sys,
        Lang::En,
    );
    assert!(out.contains("! management.address: the management server's address is needed"), "{out}");
    assert!(out.contains("! ") && out.contains("525400123456"), "a refused password is explained: {out}");
    assert!(out.contains("Connection ready: enrolled as 525400123456 until 2027-11-23"), "{out}");
    assert!(!out.contains("otp-7"), "the one-time password is never shown: {out}");
    assert_eq!(sys.checks.last().unwrap(), &("gw.example:8443".into(), fp.clone(), "otp-7".into()));
    // The server is saved at once; the keyboard typed before waits for Apply.
    let saved = &sys.saved[0];
    assert_eq!((saved.gateway.as_ref().unwrap().fingerprint.as_str(), saved.keyboard.as_str()), (fp.as_str(), "us"));
    assert!(out.contains("Wipes the settings and the administrator password"), "{out}");
    assert!(out.contains("cancelled; nothing was changed"), "{out}");
    assert_eq!(sys.actions, [localsetup::Action::FactoryReset], "done once, after yes");
    assert_eq!(sys.reboots, 1);
}
