//! Golden frames: each screen drawn into a memory display with scripted
//! input, compared with the reference PNGs in tests/golden/. On a mismatch
//! the frame and a diff image (differing pixels in magenta) are written to
//! target/golden-diff/. `QUILL_BLESS=1 cargo test -p assistant --test golden`
//! rewrites the references after an intended change (look at them first).

mod common;
use assistant::wizard::Step;
use assistant::{view, Wizard};
use common::{check, fp, zones, Fake};
use devconfig::Settings;
use ui::display::{Display, MemoryDisplay};
use ui::input::{Input, InputSource, Scripted};
use ui::{Canvas, Event, Fonts, Theme, Ui};

/// Drives the wizard on a memory display with scripted keys, as quill-setup
/// does, and returns the frame after each script.
struct Harness {
    w: Wizard,
    sys: Fake,
    display: MemoryDisplay,
    fonts: Fonts,
    theme: Theme,
    input: Input,
}

impl Harness {
    fn new(width: u32, height: u32) -> Harness {
        Harness {
            w: Wizard::new(Settings::default(), zones()),
            sys: Fake { gateway_fp: fp(), ..Fake::default() },
            display: MemoryDisplay::new(width, height),
            fonts: Fonts::system().expect("fonts (install fonts-dejavu-core)"),
            theme: Theme::for_size(width, height),
            input: Input::new(keymap::Layout::by_name("us").unwrap(), width, height),
        }
    }

    fn run(&mut self, script: &mut Scripted) -> &Canvas {
        let (w, h) = self.display.size();
        let mut canvas = Canvas::new(w, h);
        loop {
            let hits = view::draw(&self.w, &mut Ui { canvas: &mut canvas, fonts: &self.fonts, theme: &self.theme });
            self.display.present(&canvas).unwrap();
            if self.w.gateway == assistant::wizard::GatewayState::Checking {
                self.w.run_gateway_check(&mut self.sys);
                continue;
            }
            let Some(raw) = script.next(std::time::Duration::ZERO) else { break };
            match self.input.translate(raw) {
                Some(Event::Key(k)) => {
                    self.w.key(k, &mut self.sys);
                }
                Some(Event::Click { x, y }) => {
                    if let Some(hit) = view::hit_at(&hits, x, y) {
                        self.w.click(hit, &mut self.sys);
                    }
                }
                _ => {}
            }
            self.input.set_layout(keymap::Layout::by_name(self.w.layout()).unwrap());
        }
        &self.display.last
    }
}

/// The device QEMU's first NIC (MAC 52:54:00:12:34:56) makes, running the
/// test image (which trusts the development key, and says so).
fn qemu_device(addresses: Vec<String>, version: &str, slot: &str) -> assistant::home::DeviceInfo {
    assistant::home::DeviceInfo {
        unit: "525400123456".into(),
        hostname: "ITC525400123456".into(),
        addresses,
        version: version.into(),
        slot: slot.into(),
        management: enroll::State::NotEnrolled,
        pocket: false,
        warnings: vec!["DEV-KEY: this firmware trusts the development signing key; not for devices in a fleet.".into()],
    }
}

/// The administrator password the QEMU test sets (tests/tests/assistant.rs).
const E2E_PASSWORD: &str = "quill4admin";

const ENTER: u16 = ui::input::KEY_ENTER;
const DOWN: u16 = ui::input::KEY_DOWN;
const TAB: u16 = ui::input::KEY_TAB;

#[test]
fn every_screen_at_640x480() {
    let us = keymap::Layout::by_name("us").unwrap();
    let de = keymap::Layout::by_name("de").unwrap();
    let mut h = Harness::new(640, 480);
    check("640-1-language", h.run(&mut Scripted::new()));
    check("640-2-keyboard", h.run(Scripted::new().tap(ENTER).tap(DOWN).tap(DOWN)));
    assert_eq!(h.w.layout(), "de");
    // Typed on the German layout now: the same keys give z and y.
    check("640-3-keyboard-try", h.run(Scripted::new().tap(TAB).type_text(us, "yz")));
    assert_eq!(h.w.try_field.text, "zy");
    check("640-4-timezone", h.run(Scripted::new().tap(ENTER).type_text(de, "europe")));
    assert_eq!(h.w.step, Step::Timezone);
    check("640-5-datetime", h.run(Scripted::new().tap(ENTER)));
    check("640-6-datetime-invalid", h.run(Scripted::new().type_text(de, "x")));
    check("640-7-licence", h.run(Scripted::new().tap(ui::input::KEY_BACKSPACE).tap(ENTER)));
    check(
        "640-8-gateway-partial",
        h.run(Scripted::new().tap(ENTER).type_text(de, "gw.example.com").tap(TAB).type_text(de, "0123 4567")),
    );
    let mut rest = Scripted::new();
    for _ in 0..9 {
        rest.tap(ui::input::KEY_BACKSPACE);
    }
    rest.type_text(de, &fp()).tap(TAB).type_text(de, "secret").tap(ENTER);
    check("640-9-gateway-ready", h.run(&mut rest));
    assert!(h.w.gateway.is_ready());
    // The administrator password: shown as dots, too short for now.
    check("640-10-admin-short", h.run(Scripted::new().tap(ENTER).tap(TAB).type_text(de, "geheim")));
    assert_eq!(h.w.step, Step::Admin);
    check("640-11-admin-differs", h.run(Scripted::new().type_text(de, "nis").tap(TAB).type_text(de, "geheimni")));
    check("640-12-finish", h.run(Scripted::new().type_text(de, "s").tap(ENTER)));
    assert_eq!(h.w.step, Step::Finish);
    assert_eq!(h.w.admin_choice(), assistant::AdminChoice::Set("geheimnis".into()));
}

#[test]
fn german_and_full_hd() {
    let mut h = Harness::new(1920, 1080);
    check("1080-1-language-de", h.run(Scripted::new().tap(DOWN)));
    let mut s = Scripted::new();
    s.tap(ENTER).tap(ENTER).tap(ENTER).tap(ENTER).tap(ENTER);
    check("1080-2-gateway-de", h.run(&mut s));
    assert_eq!(h.w.step, Step::Gateway);
    // Back to the licence, skip it: the administrator step, in German.
    let mut s = Scripted::new();
    s.tap(ui::input::KEY_ESC).tap(DOWN).tap(ENTER).tap(TAB).type_text(keymap::Layout::by_name("us").unwrap(), "kurz");
    check("1080-3-admin-de", h.run(&mut s));
    assert_eq!(h.w.step, Step::Admin);
    check("1080-4-admin-none-de", h.run(Scripted::new().tap(ui::input::KEY_ESC).tap(ENTER).tap(DOWN)));
}

#[test]
fn a_wrong_fingerprint_at_800x600() {
    let us = keymap::Layout::by_name("us").unwrap();
    let mut h = Harness::new(800, 600);
    h.sys.gateway_fp = "ee".repeat(32);
    let mut s = Scripted::new();
    for _ in 0..5 {
        s.tap(ENTER);
    }
    s.type_text(us, "10.0.0.2:8443").tap(TAB).type_text(us, &fp()).tap(TAB).type_text(us, "otp").tap(ENTER);
    check("800-gateway-mismatch", h.run(&mut s));
    assert!(matches!(h.w.gateway, assistant::wizard::GatewayState::Failed(_)));
    assert!(h.sys.saved.is_empty());
}

#[test]
fn the_home_screen() {
    use assistant::home::Home;
    let fonts = Fonts::system().unwrap();
    let theme = Theme::for_size(1024, 768);
    let mut c = Canvas::new(1024, 768);
    let info = qemu_device(vec!["10.0.2.15 (eth0)".into()], "2.0.0", "b");
    let mut home = Home::new(assistant::catalogue::Lang::En, info);
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home", &c);
    home.key(ui::Key::Up);
    home.key(ui::Key::Up);
    home.key(ui::Key::Enter);
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-confirm", &c);
    home.key(ui::Key::Escape);
    home.progress("quill-x86-ud-2.0.0.qbundle", "written  60% (96.0 MiB, 41.3 MiB/s)", 0.6);
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-installing", &c);
    home.finished(Ok("2.0.0 into slot B".into()));
    home.key(ui::Key::Enter);
    home.offer_network("3.1.0");
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-network-offer", &c);
}

/// The management line: enrolled (German, full HD) and a failed renewal.
#[test]
fn the_home_screen_enrolled_and_renewal_failed() {
    use assistant::catalogue::Lang;
    use assistant::home::Home;
    let fonts = Fonts::system().unwrap();
    let until = devconfig::unix_time((2027, 11, 23), (0, 0, 0));
    let address = "quill-mgmt.lab.test:8443".to_string();
    for (lang, w, h, name, state) in [
        (Lang::De, 1920, 1080, "1080-home-enrolled-de", enroll::State::Enrolled { address: address.clone(), until }),
        (
            Lang::En,
            1024,
            768,
            "1024-home-renewal-failed",
            enroll::State::RenewalFailed { address, until, reason: "the server answered HTTP 503: CA down".into() },
        ),
    ] {
        let theme = Theme::for_size(w, h);
        let mut c = Canvas::new(w, h);
        let mut info = qemu_device(vec!["10.0.2.15 (eth0)".into()], "2.0.0", "b");
        info.management = state;
        let home = Home::new(lang, info);
        home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
        check(name, &c);
    }
}

/// With an administrator password set, the guarded actions ask for it
/// (dots, never the characters); a wrong one says how long to wait.
#[test]
fn the_password_box() {
    use assistant::catalogue::Lang;
    use assistant::home::{Home, HomeOutcome};
    let fonts = Fonts::system().unwrap();
    for (lang, w, h, name) in
        [(Lang::En, 1024, 768, "1024-home-password"), (Lang::De, 1920, 1080, "1080-home-password-de")]
    {
        let theme = Theme::for_size(w, h);
        let mut c = Canvas::new(w, h);
        let mut home = Home::new(lang, qemu_device(vec!["10.0.2.15 (eth0)".into()], "2.0.0", "b"));
        home.guarded = true;
        assert_eq!(home.key(ui::Key::Enter), HomeOutcome::Stay, "re-running the setup asks first");
        for ch in "secret".chars() {
            home.key(ui::Key::Char(ch));
        }
        home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
        check(name, &c);
        let HomeOutcome::Authorize { password, then } = home.key(ui::Key::Enter) else { panic!("no password asked") };
        assert_eq!(password.0, "secret");
        home.refused(*then, 4, None);
        home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
        check(&format!("{name}-wrong"), &c);
    }
}

#[test]
fn the_home_screen_on_a_pocket() {
    use assistant::home::Home;
    let fonts = Fonts::system().unwrap();
    let theme = Theme::for_size(1024, 768);
    let mut c = Canvas::new(1024, 768);

    // On a UD Pocket where no password was chosen: eight actions, two
    // warnings; then the disk choice, the erase question, the settings.
    let mut info = qemu_device(vec!["10.0.2.15 (eth0)".into()], "2.0.0", "a");
    info.pocket = true;
    info.warnings.insert(
        0,
        assistant::catalogue::text(assistant::catalogue::Lang::En, assistant::catalogue::Msg::AdminNoneWarning).into(),
    );
    let mut home = Home::new(assistant::catalogue::Lang::En, info);
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-pocket-no-password", &c);
    let disk = |path: &str, label: &str| flash::disks::Disk {
        path: path.into(),
        label: label.into(),
        size: 128 << 30,
        refusal: None,
    };
    home.disks(Ok(flash::disks::DiskList {
        running_from: "/dev/sda".into(),
        from_removable: true,
        disks: vec![disk("/dev/nvme0n1", "Samsung SSD 980, 128.0 GiB"), disk("/dev/mmcblk0", "eMMC DG4016, 14.7 GiB")],
    }));
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-choose-disk", &c);
    home.key(ui::Key::Enter);
    home.draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1024-home-erase-disk", &c);
}

/// The references of the QEMU end-to-end test (tests/tests/assistant.rs):
/// the same keys on the same 1280x800 display (QEMU's bochs-drm mode). That
/// test compares its screendumps with these frames, tolerating the clock,
/// the pointer and the device's addresses.
#[test]
fn the_qemu_run_at_1280x800() {
    use assistant::home::Home;
    let us = keymap::Layout::by_name("us").unwrap();
    let mut h = Harness::new(1280, 800);
    check("1280-e2e-1-language", h.run(&mut Scripted::new()));
    check("1280-e2e-2-keyboard", h.run(Scripted::new().tap(ENTER).tap(DOWN).tap(DOWN).tap(TAB).type_text(us, "y")));
    assert_eq!(h.w.try_field.text, "z");
    check("1280-e2e-3-timezone", h.run(Scripted::new().tap(ENTER).type_text(us, "berlin")));
    check("1280-e2e-4-datetime", h.run(Scripted::new().tap(ENTER)));
    assert_eq!(h.w.step, Step::DateTime);
    check(
        "1280-e2e-5-admin",
        h.run(Scripted::new().tap(ENTER).tap(DOWN).tap(ENTER).tap(TAB).type_text(us, E2E_PASSWORD).tap(TAB)),
    );
    assert_eq!(h.w.step, Step::Admin);
    check("1280-e2e-6-finish", h.run(Scripted::new().type_text(us, E2E_PASSWORD).tap(ENTER)));
    assert_eq!(h.w.step, Step::Finish);

    let fonts = Fonts::system().unwrap();
    let theme = Theme::for_size(1280, 800);
    let mut c = Canvas::new(1280, 800);
    let info = qemu_device(vec![], "0.1.0", "a");
    Home::new(assistant::catalogue::Lang::En, info).draw(&mut Ui { canvas: &mut c, fonts: &fonts, theme: &theme });
    check("1280-e2e-7-home", &c);
}
