//! Enrollment with a management server in a network of the test's own
//! (netlab: a namespace, dnsmasq, no route out): DHCP option 43 names the
//! server and its certificate's fingerprint, the device enrolls over EST
//! with a one-time password (testkit's EST server inside the namespace),
//! keeps its key and certificate on DATA across a reboot, and says hello
//! over mutual TLS.

use quill_e2e::netlab::{Lab, LabOptions, HOST};
use quill_e2e::{boot_ready, or_log, sh, TestDisk};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);
const UNIT: &str = "525400123456";

/// Browses `_quill._tcp` from inside the lab, as `cargo xtask scan` does:
/// until the device answers when one is `expected`, else for 3 s.
fn scan(lab: &Lab, expected: bool) -> anyhow::Result<Vec<discovery::Found>> {
    let found = lab.run_inside(move || -> Result<Vec<discovery::Found>, String> {
        let daemon = mdns_sd::ServiceDaemon::new().map_err(|e| e.to_string())?;
        let wait = if expected { STEP } else { Duration::from_secs(3) };
        // Expected: until it answers with its lease's address.
        let lab_v4 =
            |f: &[discovery::Found]| f.iter().any(|d| d.ip.iter().any(|i| i.to_string().starts_with("10.77.0.")));
        let r = discovery::scan(&daemon, wait, &|f| expected && lab_v4(f));
        let _ = daemon.shutdown();
        r
    })?;
    found.map_err(anyhow::Error::msg)
}

#[test]
#[ignore = "needs the image and root: run with `cargo xtask test`"]
fn enrolls_over_est_from_dhcp_option_43_and_keeps_it_across_a_reboot() {
    let names = ["quill-mgmt.lab.test", HOST];
    // The server first, inside the lab's namespace: its fingerprint goes
    // into the DHCP answer, so dnsmasq starts after it.
    let mut lab = Lab::new(&LabOptions::default()).unwrap();
    let est = testkit::est::EstServer::serve(lab.listen_tcp(8443).unwrap(), &names, 30 * 86_400).unwrap();
    est.allow(UNIT, "otp-4711");
    lab.start_dhcp(&LabOptions {
        dhcp: true,
        mgmt_address: Some("quill-mgmt.lab.test:8443".into()),
        mgmt_fingerprint: Some(est.fingerprint.clone()),
    })
    .unwrap();
    let disk = TestDisk::new().unwrap();
    let mut cfg = disk.vm_config().unwrap();
    lab.attach(&mut cfg);
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.wait_seen("quill: network eth0 up", STEP)?;
        vm.wait_seen("quill: discovery announces", STEP)?;
        let found = scan(&lab, true)?;
        anyhow::ensure!(found.len() == 1 && !found[0].enrolled, "{found:?}");
        let f = &found[0];
        anyhow::ensure!(f.unit_id == UNIT && f.mac == "52:54:00:12:34:56", "{f:?}");
        anyhow::ensure!(f.name == format!("ITC{UNIT}") && f.product == quill_e2e::board(), "{f:?}");
        anyhow::ensure!((f.firmware.as_str(), f.slot.as_str()) == ("0.1.0", "a"), "{f:?}");
        anyhow::ensure!(f.ip.iter().any(|i| i.to_string().starts_with("10.77.0.")), "{f:?}");
        let out = sh(&mut vm, "quill-enroll status; echo wrong | quill-enroll enroll --otp-stdin; echo rc=$?")?;
        anyhow::ensure!(out.contains("not enrolled"), "{out}");
        anyhow::ensure!(out.contains("quill-mgmt.lab.test:8443 (from DHCP option 43)"), "{out}");
        anyhow::ensure!(out.contains("refused the credentials of unit 525400123456"), "{out}");
        anyhow::ensure!(out.contains("rc=3"), "{out}");
        let out = sh(
            &mut vm,
            "echo otp-4711 | quill-enroll enroll --otp-stdin; echo rc=$?; quill-enroll status; \
             stat -c 'mode=%a' /data/quill/enrollment.json",
        )?;
        anyhow::ensure!(out.contains("certificate fingerprint from DHCP option 43"), "{out}");
        anyhow::ensure!(out.contains(&format!("connection ready: welcome {UNIT}")), "{out}");
        anyhow::ensure!(out.contains("rc=0"), "{out}");
        anyhow::ensure!(out.contains("enrolled to quill-mgmt.lab.test:8443 until"), "{out}");
        anyhow::ensure!(out.contains("mode=600"), "{out}");
        // The announcement follows: enrolled now.
        vm.wait_for("quill: discovery announces", STEP)?;
        let found = scan(&lab, true)?;
        anyhow::ensure!(found.len() == 1 && found[0].enrolled, "{found:?}");
        // Switched off in the settings: withdrawn.
        sh(&mut vm, "printf '\\n[discovery]\\nannounce = false\\n' >> /data/quill/settings.toml")?;
        vm.wait_for("quill: discovery announcement off", STEP)?;
        let found = scan(&lab, false)?;
        anyhow::ensure!(found.is_empty(), "withdrawn: {found:?}");
        // Kept on DATA: after a reboot the device still says hello with
        // its certificate, and renews it.
        vm.type_serial("reboot\n")?;
        vm.wait_exit(STEP)?;
        Ok(())
    })();
    or_log("enroll-lab", &vm, r);
    drop(vm);
    // QEMU runs with -no-reboot: the reboot is a new QEMU on the same disk.
    let mut vm = quill_qemu::Vm::start(&cfg).unwrap();
    let r = (|| -> anyhow::Result<()> {
        boot_ready(&mut vm, 'a', "0.1.0")?;
        vm.wait_seen("quill: network eth0 up", STEP)?;
        let out = sh(&mut vm, "quill-enroll hello; quill-enroll renew; echo rc=$?")?;
        anyhow::ensure!(out.contains(&format!("welcome {UNIT}")), "{out}");
        anyhow::ensure!(out.contains("renewed: enrolled to quill-mgmt.lab.test:8443"), "{out}");
        anyhow::ensure!(out.contains("rc=0"), "{out}");
        let seen = est.seen();
        let hellos: Vec<_> = seen.iter().filter(|s| s.path == "/quill/v1/hello").collect();
        anyhow::ensure!(hellos.len() == 2, "{seen:?}");
        anyhow::ensure!(hellos.iter().all(|h| h.client_cn.as_deref() == Some(UNIT)), "{seen:?}");
        let body: serde_json::Value = serde_json::from_slice(&hellos[1].body)?;
        anyhow::ensure!(body["board"] == quill_e2e::board().as_str(), "{body}");
        anyhow::ensure!(body["firmware"].is_object(), "{body}");
        quill_e2e::poweroff(&mut vm)
    })();
    or_log("enroll-lab-reboot", &vm, r);
}
