//! The local Setup on the display: its keys and clicks, Apply through the
//! same save as the console's, and golden frames of every page (640x480
//! and 1920x1080, English and German; names start with `setup-`).

mod common;

use assistant::catalogue::Lang;
use assistant::setup::{view, Focus, Setup, SetupHit, SetupOutcome};
use common::{check, Fake};
use devconfig::{AddressMode, Settings};
use localsetup::{Draft, Env, Field, Node, TREE};
use ui::{Canvas, Fonts, Key, Theme, Ui};

fn screen(lang: Lang) -> Setup {
    let env = Env {
        timezones: vec!["UTC".into(), "Europe/Berlin".into()],
        modes: vec![(1280, 800), (1024, 768)],
        screen: true,
        interfaces: vec!["eth0".into(), "eth1".into()],
    };
    let settings = Settings { setup_done: true, language: "en".into(), ..Settings::default() };
    Setup::new(lang, Draft::new(settings, env))
}

fn typed(s: &mut Setup, text: &str) {
    for c in text.chars() {
        s.key(Key::Char(c));
    }
}

fn frame(s: &Setup, w: u32, h: u32, fonts: &Fonts) -> Canvas {
    let mut canvas = Canvas::new(w, h);
    let theme = Theme::for_size(w, h);
    view::draw(s, &mut Ui { canvas: &mut canvas, fonts, theme: &theme });
    canvas
}

/// Focuses the field `f` of the page shown.
fn focus(s: &mut Setup, f: Field) {
    let i = s.fields().iter().position(|x| *x == f).unwrap();
    s.click(SetupHit::Focus(Focus::Field(i)));
}

#[test]
fn a_static_address_typed_checked_and_applied() {
    let mut s = screen(Lang::En);
    s.open(Node::Root.resolve("/network/ethernet").unwrap());
    focus(&mut s, Field::NetMode);
    s.key(Key::Right);
    assert_eq!(s.draft.value(Field::NetMode), "static");
    s.key(Key::Tab);
    typed(&mut s, "10.0.2.50/24");
    s.key(Key::Tab);
    typed(&mut s, "192.168.9.1");
    s.key(Key::Tab);
    assert!(s.reason(Field::Gateway).unwrap().contains("outside the subnet"));
    let mut sys = Fake { network_runs: true, ..Fake::default() };
    s.focus = Focus::Apply;
    assert_eq!(s.key(Key::Enter), SetupOutcome::Apply);
    s.apply(&mut sys);
    assert!(sys.saved.is_empty(), "nothing saved while a field is wrong");
    assert_eq!(s.focus, Focus::Field(3), "the first wrong field has the focus");
    let (text, is_error) = s.message.clone().unwrap();
    assert!(is_error && text.contains("Default gateway"), "{text}");
    for _ in 0..20 {
        s.key(Key::Backspace);
    }
    typed(&mut s, "10.0.2.2");
    s.key(Key::Enter);
    s.focus = Focus::Apply;
    s.key(Key::Enter);
    s.apply(&mut sys);
    let saved = &sys.saved[0];
    assert_eq!(saved.network.all.mode, AddressMode::Static);
    assert_eq!((saved.network.all.address.as_str(), saved.network.all.gateway.as_str()), ("10.0.2.50/24", "10.0.2.2"));
    assert_eq!(sys.network_restarts, 1);
    assert!(s.message.clone().unwrap().0.contains("In effect now: network.mode"), "{:?}", s.message);
}

#[test]
fn one_interface_chosen_with_the_arrows_shows_and_keeps_its_own_address() {
    let mut s = screen(Lang::En);
    s.open(Node::Root.resolve("/network/ethernet").unwrap());
    focus(&mut s, Field::NetInterface);
    s.key(Key::Right);
    s.key(Key::Right);
    assert_eq!(s.draft.interface(), Some("eth1"));
    assert_eq!(s.edits[1].text, "same", "the mode field shows eth1's");
    s.key(Key::Tab);
    s.key(Key::Left);
    assert_eq!(s.draft.value(Field::NetMode), "static");
    s.key(Key::Tab);
    typed(&mut s, "192.168.7.2/24");
    s.key(Key::Tab);
    let mut sys = Fake { network_runs: true, ..Fake::default() };
    s.focus = Focus::Apply;
    s.key(Key::Enter);
    s.apply(&mut sys);
    let saved = &sys.saved[0];
    assert_eq!(saved.network.all.mode, AddressMode::Dhcp, "the others keep DHCP");
    assert_eq!(saved.network.interfaces["eth1"].address, "192.168.7.2/24");
    // Back to all interfaces: the fields show theirs again.
    focus(&mut s, Field::NetInterface);
    s.key(Key::Right);
    assert_eq!((s.draft.interface(), s.edits[1].text.as_str()), (None, "dhcp"));
}

#[test]
fn search_jumps_to_the_field_and_the_history_goes_back() {
    let mut s = screen(Lang::De);
    s.key(Key::BackTab); // from the tree to the search
    assert_eq!(s.focus, Focus::Search);
    typed(&mut s, "tast");
    assert_eq!(s.hits.len(), 1);
    typed(&mut s, "atur");
    assert_eq!(s.hits[0].field, Field::Keyboard);
    s.key(Key::Enter);
    assert_eq!(s.nav.current().path(), "/ui/keyboard");
    assert_eq!((s.focus, s.marked), (Focus::Field(0), Some(Field::Keyboard)));
    assert!(s.search.text.is_empty());
    for _ in 0..5 {
        s.key(Key::Backspace);
    }
    typed(&mut s, "de");
    s.key(Key::Tab);
    assert_eq!(s.draft.value(Field::Keyboard), "de");
    s.go_back();
    assert_eq!(s.nav.current().path(), "/ui/language");
    s.go_forward();
    s.go_up();
    assert_eq!(s.nav.current().path(), "/ui");
    // Escape with a change not applied warns first, then closes.
    assert_eq!(s.key(Key::Escape), SetupOutcome::Stay);
    assert!(s.message.clone().unwrap().1);
    assert_eq!(s.key(Key::Escape), SetupOutcome::Close);
    // The tree follows Up/Down and clicks.
    let mut s = screen(Lang::En);
    s.key(Key::Down);
    assert_eq!(s.nav.current().path(), "/ui/keyboard");
    s.click(SetupHit::Row(5));
    assert_eq!(s.nav.current().path(), "/network/ethernet");
}

#[test]
fn a_firmware_action_and_a_password_that_is_never_shown() {
    let mut s = screen(Lang::En);
    s.open(Node::Root.resolve("/system/firmware").unwrap());
    assert_eq!(s.missing_info(), Some(localsetup::Info::Firmware));
    s.info.insert(localsetup::Info::Firmware, common::about(localsetup::Info::Firmware));
    assert_eq!(s.missing_info(), None);
    assert_eq!(s.click(SetupHit::Focus(Focus::Action(1))), SetupOutcome::Run(localsetup::Action::RollBack));
    let mut sys = Fake::default();
    let r = assistant::System::action(&mut sys, localsetup::Action::RollBack);
    s.ran(r);
    assert!(s.message.clone().unwrap().1 && s.missing_info().is_some(), "an error, and the facts are read again");
    s.open(Node::Root.resolve("/security/password").unwrap());
    focus(&mut s, Field::NewPassword);
    typed(&mut s, "quill4admin");
    s.key(Key::Tab);
    typed(&mut s, "quill4admin");
    s.key(Key::Tab);
    let fonts = Fonts::system().unwrap();
    check("setup-password-typed-640-en", &frame(&s, 640, 480, &fonts));
    s.apply(&mut sys);
    assert_eq!(sys.admin, [assistant::AdminChoice::Set("quill4admin".into())]);
    assert!(s.edits.iter().all(|e| e.text.is_empty()), "the password fields are emptied after a save");
}

#[test]
fn the_factory_reset_asks_first_and_no_is_the_default() {
    let mut s = screen(Lang::De);
    s.open(Node::Root.resolve("/system/reset").unwrap());
    s.click(SetupHit::Focus(Focus::Action(0)));
    assert_eq!(s.confirm, Some((localsetup::Action::FactoryReset, 1)));
    assert_eq!(s.key(Key::Enter), SetupOutcome::Stay, "No is chosen at first");
    assert_eq!(s.confirm, None);
    s.focus = Focus::Action(0);
    s.key(Key::Enter);
    s.key(Key::Escape);
    assert_eq!(s.confirm, None, "Escape says No");
    s.key(Key::Enter);
    s.key(Key::Left);
    assert_eq!(s.key(Key::Enter), SetupOutcome::Run(localsetup::Action::FactoryReset));
    let mut sys = Fake::default();
    let r = assistant::local::run_action(&mut s.draft, &mut sys, localsetup::Action::FactoryReset);
    assert!(r.is_ok() && localsetup::Action::FactoryReset.restarts());
    assert_eq!(sys.actions, [localsetup::Action::FactoryReset]);
}

#[test]
fn a_new_resolution_is_kept_only_when_confirmed() {
    let mut s = screen(Lang::En);
    let mut sys = Fake::default();
    s.open(Node::Root.resolve("/ui/display").unwrap());
    focus(&mut s, Field::Resolution);
    typed(&mut s, "800x600");
    s.key(Key::Tab);
    assert!(
        s.reason(Field::Resolution).unwrap().contains("does not offer 800x600"),
        "{:?}",
        s.reason(Field::Resolution)
    );
    focus(&mut s, Field::Resolution);
    for _ in 0..7 {
        s.key(Key::Backspace);
    }
    typed(&mut s, "1024x768");
    s.key(Key::Tab);
    assert_eq!(s.apply(&mut sys).as_deref(), Some("1024x768"), "the runner switches to it");
    s.ask_keep(std::time::Instant::now() + std::time::Duration::from_secs(15));
    let fonts = Fonts::system().unwrap();
    check("setup-keep-resolution-640-de", &{
        s.lang = Lang::De;
        frame(&s, 640, 480, &fonts)
    });
    assert_eq!(s.key(Key::Tab), SetupOutcome::Stay, "the box holds the keys");
    assert_eq!(s.key(Key::Enter), SetupOutcome::Revert, "Go back");
    assert_eq!(s.take_keep().as_deref(), Some(""), "back to the screen's own resolution");
    // Kept: Enter on Keep (the default).
    focus(&mut s, Field::Resolution);
    for _ in 0..8 {
        s.key(Key::Backspace);
    }
    typed(&mut s, "1280x800");
    s.key(Key::Tab);
    assert!(s.apply(&mut sys).is_some());
    s.ask_keep(std::time::Instant::now() + std::time::Duration::from_secs(15));
    assert_eq!(s.key(Key::Enter), SetupOutcome::Stay);
    assert!(s.keep.is_none());
    assert_eq!(sys.saved.last().unwrap().display.resolution, "1280x800");
}

#[test]
fn golden_frames_of_every_page() {
    let fonts = Fonts::system().expect("fonts (install fonts-dejavu-core)");
    for (w, h) in [(640, 480), (1920, 1080)] {
        for lang in [Lang::En, Lang::De] {
            let tag = if lang == Lang::En { "en" } else { "de" };
            let mut s = screen(lang);
            for what in [localsetup::Info::Firmware, localsetup::Info::Management] {
                s.info.insert(what, common::about(what));
            }
            s.info.insert(localsetup::Info::Display, vec!["The screen offers: 1280x800, 1024x768".into()]);
            for (a, area) in TREE.iter().enumerate() {
                s.open(Node::Area(a));
                check(&format!("setup-{}-{w}-{tag}", area.id), &frame(&s, w, h, &fonts));
                for (p, page) in area.pages.iter().enumerate() {
                    s.open(Node::Page(a, p));
                    check(&format!("setup-{}-{w}-{tag}", page.id.replace('/', "-")), &frame(&s, w, h, &fonts));
                }
            }
        }
    }
    // A search with its hits, and a wrong field with its reason, marked.
    let mut s = screen(Lang::De);
    s.key(Key::BackTab);
    typed(&mut s, "zeit");
    check("setup-search-640-de", &frame(&s, 640, 480, &fonts));
    let mut s = screen(Lang::En);
    s.open(Node::Root.resolve("/network/ethernet").unwrap());
    focus(&mut s, Field::NetMode);
    s.key(Key::Right);
    s.key(Key::Tab);
    typed(&mut s, "10.0.2.500/24");
    s.key(Key::Tab);
    check("setup-invalid-640-en", &frame(&s, 640, 480, &fonts));
    // The factory reset's question, in German, No chosen.
    let mut s = screen(Lang::De);
    s.open(Node::Root.resolve("/system/reset").unwrap());
    s.click(SetupHit::Focus(Focus::Action(0)));
    check("setup-confirm-reset-640-de", &frame(&s, 640, 480, &fonts));
}
