//! The network under QEMU: a DHCP lease from QEMU's user-mode network
//! (`restrict=on`: nothing leaves QEMU), the console line, `quill-net
//! status`, the cable pulled and put back over QMP.

use quill_e2e::{boot_ready, or_log, sh, TestDisk};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_lease_is_applied_and_a_pulled_cable_is_seen_and_renewed() {
    let disk = TestDisk::new().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        // With restrict=on, QEMU's DHCP server hands out no router and no
        // DNS server (nothing beyond QEMU is reachable).
        let up = vm.wait_seen("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("ip=10.0.2.15/24 gw=none dns=none"), "{up}");
        let out = sh(&mut vm, "quill-net status; ip -4 addr show eth0")?;
        anyhow::ensure!(out.contains("eth0: 10.0.2.15/24\n"), "{out}");
        anyhow::ensure!(out.contains("inet 10.0.2.15/24"), "{out}");
        vm.set_link("net0", false)?;
        vm.wait_for("quill: network eth0 down", STEP)?;
        let out = sh(&mut vm, "quill-net status")?;
        anyhow::ensure!(out.contains("eth0: cable unplugged"), "{out}");
        vm.set_link("net0", true)?;
        vm.wait_for("quill: network eth0 up ip=10.0.2.15/24", STEP)?;
        let out = sh(&mut vm, "quill-net status")?;
        anyhow::ensure!(out.contains("eth0: 10.0.2.15/24"), "the lease survived the flap: {out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("network-lease", &vm, r);
}

/// 2031-03-04 05:06:07 UTC.
const LAB_TIME: i64 = 1_930_367_167;
/// 2020-01-01 00:00:00 UTC.
const OLD_TIME: i64 = 1_577_836_800;

/// In a network of the test's own (a namespace with dnsmasq and an SNTP
/// server): the lease's router, DNS server, search domain, NTP server and
/// option 43 are applied; a name resolves; the clock is set from SNTP and
/// the time floor kept; an answer from before the floor is ignored.
#[test]
#[ignore = "needs the image and root: run with `cargo xtask test`"]
fn dhcp_options_dns_and_time_in_a_lab_network() {
    use std::sync::atomic::Ordering;
    let lab = quill_e2e::netlab::Lab::new(&quill_e2e::netlab::LabOptions {
        dhcp: true,
        mgmt_address: Some("mgmt.lab.test:8443".into()),
        ..Default::default()
    })
    .unwrap();
    lab.ntp_time.store(LAB_TIME, Ordering::SeqCst);
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    lab.attach(&mut cfg);
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        let up = vm.wait_seen("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("gw=10.77.0.1 dns=10.77.0.1"), "{up}");
        let set = vm.wait_seen("quill: time set from NTP 10.77.0.1", STEP)?;
        anyhow::ensure!(set.contains("2031-03-04 05:06:0"), "{set}");
        let out = sh(
            &mut vm,
            "quill-net resolve quill-mgmt.lab.test; quill-net resolve quill-mgmt; date -u +year=%Y; \
             echo floor=$(cat /data/quill/time-floor); quill-net status --json | grep mgmt_address",
        )?;
        anyhow::ensure!(out.contains("quill-mgmt.lab.test 10.77.0.1"), "{out}");
        anyhow::ensure!(out.contains("quill-mgmt 10.77.0.1"), "the search domain applies: {out}");
        anyhow::ensure!(out.contains("year=2031"), "{out}");
        anyhow::ensure!(out.contains("floor=193036"), "{out}");
        anyhow::ensure!(out.contains("\"mgmt_address\": \"mgmt.lab.test:8443\""), "{out}");
        // A server that says it is 2020 now: before the floor, ignored.
        lab.ntp_time.store(OLD_TIME, Ordering::SeqCst);
        vm.type_serial("kill -USR1 $(pidof quill-net)\n")?;
        let ignored = vm.wait_for("before the last known time", STEP)?;
        anyhow::ensure!(ignored.contains("2020-01-01") && ignored.contains("ignored"), "{ignored}");
        let out = sh(&mut vm, "date -u +year=%Y")?;
        anyhow::ensure!(out.contains("year=2031"), "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("network-lab", &vm, r);
}

/// Nobody answers DHCP: ready comes anyway, the console says so, and the
/// client asks again later, each time waiting longer.
#[test]
#[ignore = "needs the image and root: run with `cargo xtask test`"]
fn without_a_dhcp_server_ready_comes_and_the_console_says_no_lease() {
    let lab = quill_e2e::netlab::Lab::new(&quill_e2e::netlab::LabOptions::default()).unwrap();
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    lab.attach(&mut cfg);
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.wait_seen("quill: network eth0 no lease", STEP)?;
        vm.wait_seen("asking for a lease again in 2 s", STEP)?;
        vm.wait_seen("asking for a lease again in 4 s", STEP)?;
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("network-no-dhcp", &vm, r);
}

/// A USB network adapter plugged into the running device (QEMU's usb-net,
/// a CDC Ethernet device) is brought up and gets its own lease.
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn a_hot_plugged_usb_adapter_gets_a_lease() {
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    cfg.usb_hotplug = true;
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.wait_seen("quill: network eth0 up", STEP)?;
        let q = vm.qmp()?;
        q.execute(
            "netdev_add",
            serde_json::json!({"type": "user", "id": "net1", "restrict": true, "net": "10.0.3.0/24"}),
        )?;
        q.execute(
            "device_add",
            serde_json::json!({"driver": "usb-net", "netdev": "net1", "bus": "xhci.0", "id": "usbnic", "mac": "52:54:00:aa:bb:cc"}),
        )?;
        let up = vm.wait_for("up ip=10.0.3.15/24", STEP)?;
        anyhow::ensure!(!up.contains("eth0"), "{up}");
        let out = sh(&mut vm, "quill-net status")?;
        anyhow::ensure!(out.contains("eth0: 10.0.2.15/24") && out.contains(": 10.0.3.15/24"), "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("network-usb-nic", &vm, r);
}

/// Static addressing from the settings: a configuration that does not hold
/// together is reported and DHCP is used (the file kept); a good one is
/// applied.
#[test]
#[ignore = "needs the image: run with `cargo xtask test`"]
fn static_settings_are_checked_and_applied() {
    let disk = TestDisk::new().unwrap();
    let mut vm = disk.boot().unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.wait_seen("quill: network eth0 up ip=10.0.2.15/24", STEP)?;
        let write = |vm: &mut quill_qemu::Vm, address: &str, gateway: &str| {
            sh(
                vm,
                &format!(
                    "printf 'schema = 1\\n[network]\\nmode = \"static\"\\naddress = \"{address}\"\\ngateway = \"{gateway}\"\\n' \
                     > /data/quill/settings.toml; kill $(pidof quill-net)"
                ),
            )
        };
        write(&mut vm, "10.0.2.50/24", "192.168.2.1")?;
        let bad = vm.wait_for("quill: network settings:", STEP)?;
        anyhow::ensure!(bad.contains("outside the subnet") && bad.contains("DHCP is used"), "{bad}");
        vm.wait_for("quill: network eth0 up ip=10.0.2.15/24", STEP)?;
        let out = sh(&mut vm, "grep -c 192.168.2.1 /data/quill/settings.toml")?;
        anyhow::ensure!(out.lines().any(|l| l.trim() == "1"), "the file is kept: {out}");
        write(&mut vm, "10.0.2.50/24", "10.0.2.2")?;
        let up = vm.wait_for("quill: network eth0 up", STEP)?;
        anyhow::ensure!(up.contains("ip=10.0.2.50/24 gw=10.0.2.2 dns=none (static)"), "{up}");
        let out = sh(&mut vm, "ip -4 addr show eth0; ip route")?;
        anyhow::ensure!(out.contains("inet 10.0.2.50/24") && !out.contains("10.0.2.15"), "{out}");
        anyhow::ensure!(out.contains("default via 10.0.2.2"), "{out}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("network-static", &vm, r);
}
