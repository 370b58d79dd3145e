//! Every transition and validation of the Setup Assistant's state machine.

mod common;
use assistant::wizard::{Control, FieldId, GatewayState, Hit, Step};
use assistant::{Outcome, Wizard};
use common::{fp, zones, Fake};
use devconfig::{Licence, Settings};
use ui::Key;

fn typed(w: &mut Wizard, sys: &mut Fake, s: &str) {
    for c in s.chars() {
        w.key(Key::Char(c), sys);
    }
}

/// Types the same administrator password into both fields.
fn set_password(w: &mut Wizard, sys: &mut Fake, pw: &str) {
    while w.focused() != Control::Field(FieldId::Password) {
        w.key(Key::Tab, sys);
    }
    typed(w, sys, pw);
    w.key(Key::Tab, sys);
    typed(w, sys, pw);
}

fn to_step(w: &mut Wizard, sys: &mut Fake, step: Step) {
    while w.step != step {
        let before = w.step;
        if w.step == Step::Admin && w.next_blocker().is_some() {
            set_password(w, sys, "correct horse");
        }
        assert_eq!(w.key(Key::Enter, sys), Outcome::Continue);
        assert_ne!(w.step, before, "stuck at {before:?}: {:?}", w.next_blocker());
    }
}

#[test]
fn keyboard_only_run_with_the_gateway() {
    let mut sys = Fake { gateway_fp: fp(), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    assert_eq!(w.step, Step::Language);
    assert_eq!(w.step_text(), "Step 1 of 8", "the gateway is the default licence choice");
    assert_eq!(w.controls(), vec![Control::List, Control::Next], "no Back on the first screen");
    w.key(Key::Down, &mut sys);
    assert_eq!(w.title(), "Sprache", "the language applies at once");
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Keyboard);
    // Choose de: the layout applies at once, to the console too.
    w.key(Key::Down, &mut sys);
    w.key(Key::Down, &mut sys);
    assert_eq!(w.layout(), "de");
    assert_eq!(sys.layouts.last().map(String::as_str), Some("de"));
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Timezone);
    assert_eq!(w.focused(), Control::Field(FieldId::Filter));
    typed(&mut w, &mut sys, "zur");
    assert_eq!(w.list_items(), vec!["Europe / Zurich".to_string()]);
    w.key(Key::Enter, &mut sys);
    assert_eq!(sys.zone.as_deref(), Some("Europe/Zurich"));
    assert_eq!(w.step, Step::DateTime);
    assert_eq!((w.date.text.as_str(), w.time.text.as_str()), ("2026-11-23", "09:30"), "prefilled");
    w.key(Key::Tab, &mut sys);
    for _ in 0..2 {
        w.key(Key::Backspace, &mut sys);
    }
    typed(&mut w, &mut sys, "45");
    w.key(Key::Enter, &mut sys);
    assert_eq!(sys.clock, Some(((2026, 11, 23), (9, 45, 0))));
    assert_eq!(w.step, Step::Licence);
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Gateway);
    assert_eq!(w.step_text(), "Schritt 6 von 8");
    typed(&mut w, &mut sys, "127.0.0.1:8443");
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "0123456789ABCDEF 0123456789ABCDEF 0123456789ABCDEF 0123456789ABCDEF");
    w.key(Key::Tab, &mut sys);
    assert!(w.next_blocker().is_some_and(|b| b.contains("Einmalpasswort")), "{:?}", w.next_blocker());
    typed(&mut w, &mut sys, "otp-123");
    assert_eq!(w.next_blocker(), None);
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.gateway, GatewayState::Checking);
    w.run_gateway_check(&mut sys);
    assert!(w.gateway.is_ready());
    assert_eq!(
        w.gateway_status().unwrap(),
        "Verbindung bereit: registriert als 525400123456, Zertifikat gültig bis 2027-11-23."
    );
    assert_eq!(sys.checks, vec![("127.0.0.1:8443".into(), fp(), "otp-123".into())]);
    assert_eq!(w.focused(), Control::Next);
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Admin);
    assert_eq!(w.step_text(), "Schritt 7 von 8");
    set_password(&mut w, &mut sys, "correct horse");
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Finish);
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Finished);
    let s = &sys.saved[0];
    assert!(s.setup_done);
    assert_eq!((s.language.as_str(), s.keyboard.as_str(), s.timezone.as_str()), ("de", "de", "Europe/Zurich"));
    assert_eq!(s.licence, Licence::Gateway);
    let gw = s.gateway.as_ref().unwrap();
    assert_eq!((gw.address.as_str(), gw.fingerprint.as_str()), ("127.0.0.1:8443", fp().as_str()));
    assert!(!format!("{s:?}").contains("otp-123"), "the one-time password is never stored");
}

#[test]
fn skipping_the_licence_skips_the_gateway_and_back_comes_back() {
    let mut sys = Fake::default();
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Licence);
    w.key(Key::Down, &mut sys);
    assert_eq!(w.step_text(), "Step 5 of 7");
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Admin);
    set_password(&mut w, &mut sys, "correct horse");
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Finish);
    w.key(Key::Escape, &mut sys);
    assert_eq!(w.step, Step::Admin, "Esc goes back, past the gateway that was skipped");
    w.key(Key::Escape, &mut sys);
    assert_eq!(w.step, Step::Licence);
    // Back on every screen, by Esc and by the Back button.
    for expected in [Step::DateTime, Step::Timezone, Step::Keyboard, Step::Language, Step::Language] {
        w.click(Hit::Control(Control::Back), &mut sys);
        assert_eq!(w.step, expected);
    }
    to_step(&mut w, &mut sys, Step::Finish);
    w.key(Key::Enter, &mut sys);
    assert_eq!(sys.saved.last().unwrap().licence, Licence::Skip);
    assert_eq!(sys.saved.last().unwrap().gateway, None);
}

#[test]
fn mouse_only_run() {
    let mut sys = Fake { gateway_fp: fp(), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    let next = Hit::Control(Control::Next);
    w.click(Hit::Row(1), &mut sys);
    assert_eq!(w.lang.tag(), "de");
    w.click(next, &mut sys);
    w.click(Hit::Row(4), &mut sys);
    assert_eq!(w.layout(), "fr");
    w.click(next, &mut sys);
    let tokyo = w.list_items().iter().position(|l| l.contains("Tokyo")).unwrap();
    w.click(Hit::Row(tokyo), &mut sys);
    w.click(next, &mut sys);
    assert_eq!(sys.zone.as_deref(), Some("Asia/Tokyo"));
    w.click(next, &mut sys);
    w.click(Hit::Row(1), &mut sys);
    w.click(next, &mut sys);
    assert_eq!(w.step, Step::Admin);
    w.click(Hit::Row(1), &mut sys); // no password, chosen with the mouse
    w.click(next, &mut sys);
    assert_eq!(w.step, Step::Finish);
    assert_eq!(w.click(next, &mut sys), Outcome::Finished);
}

#[test]
fn invalid_input_keeps_next_disabled_with_the_reason() {
    let mut sys = Fake { gateway_fp: fp(), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Timezone);
    typed(&mut w, &mut sys, "atlantis");
    assert_eq!(w.next_blocker().as_deref(), Some("No time zone matches the filter."));
    w.key(Key::Enter, &mut sys);
    w.click(Hit::Control(Control::Next), &mut sys);
    assert_eq!(w.step, Step::Timezone);
    for _ in 0..8 {
        w.key(Key::Backspace, &mut sys);
    }
    to_step(&mut w, &mut sys, Step::DateTime);
    w.key(Key::End, &mut sys);
    typed(&mut w, &mut sys, "x");
    assert!(w.next_blocker().unwrap().contains("valid date"));
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::DateTime);
    assert_eq!(sys.clock, None, "an invalid date sets nothing");
    w.key(Key::Backspace, &mut sys);
    to_step(&mut w, &mut sys, Step::Gateway);

    typed(&mut w, &mut sys, "gw example");
    assert!(w.next_blocker().unwrap().contains("host name"));
    w.address = assistant::field::Field::new("gw.example.com");
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "0123 45G7");
    let (hint, is_error) = w.field_hint(FieldId::Fingerprint).unwrap();
    assert!(is_error && hint.contains("found G"), "{hint}");
    for _ in 0..4 {
        w.key(Key::Backspace, &mut sys);
    }
    let (hint, is_error) = w.field_hint(FieldId::Fingerprint).unwrap();
    assert!(!is_error && hint.contains("4 of 64"), "{hint}");
    assert_eq!(w.next_blocker(), Some(hint));
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.gateway, GatewayState::NotChecked, "Next stays disabled");
    assert!(sys.checks.is_empty());
}

#[test]
fn a_wrong_fingerprint_is_reported_and_nothing_is_saved() {
    let mut sys = Fake { gateway_fp: "ff".repeat(32), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Gateway);
    typed(&mut w, &mut sys, "gw.example.com");
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, &fp());
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "secret");
    w.key(Key::Enter, &mut sys);
    w.run_gateway_check(&mut sys);
    match &w.gateway {
        GatewayState::Failed(m) => assert!(m.contains("does not match") && m.contains("FFFFFFFF"), "{m}"),
        other => panic!("{other:?}"),
    }
    w.key(Key::Enter, &mut sys);
    w.run_gateway_check(&mut sys);
    assert_eq!(w.step, Step::Gateway, "a mismatch never goes on");
    assert!(sys.saved.is_empty(), "nothing saved");
    // Editing the fingerprint clears the old result.
    w.key(Key::BackTab, &mut sys);
    assert_eq!(w.focused(), Control::Field(FieldId::Fingerprint));
    w.key(Key::Backspace, &mut sys);
    assert_eq!(w.gateway, GatewayState::NotChecked);
}

#[test]
fn the_server_the_network_names_is_filled_in_unless_one_was_typed() {
    let w = Wizard::new(Settings::default(), zones()).with_found_server("quill-mgmt.lab.test", None);
    assert_eq!((w.address.text.as_str(), w.fingerprint.text.as_str()), ("quill-mgmt.lab.test", ""));
    let w = Wizard::new(Settings::default(), zones()).with_found_server("mgmt:8443", Some(&"ab".repeat(32)));
    assert_eq!(w.address.text, "mgmt:8443");
    assert!(w.fingerprint.text.starts_with("ABAB"), "{}", w.fingerprint.text);
    let old = Settings {
        gateway: Some(devconfig::Gateway { address: "saved:443".into(), ..Default::default() }),
        ..Default::default()
    };
    let w = Wizard::new(old, zones()).with_found_server("other", None);
    assert_eq!(w.address.text, "saved:443");
}

#[test]
fn a_refused_one_time_password_is_explained_and_can_be_corrected() {
    let mut sys = Fake { gateway_fp: fp(), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Gateway);
    typed(&mut w, &mut sys, "gw.example.com");
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, &fp());
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "wrong");
    w.key(Key::Enter, &mut sys);
    w.run_gateway_check(&mut sys);
    match &w.gateway {
        GatewayState::Failed(m) => assert!(m.contains("refused the one-time password"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(sys.checks[0].0, "gw.example.com:443", "EST's default port");
    for _ in 0..5 {
        w.key(Key::Backspace, &mut sys);
    }
    typed(&mut w, &mut sys, "right");
    w.key(Key::Enter, &mut sys);
    w.run_gateway_check(&mut sys);
    assert!(w.gateway.is_ready(), "{:?}", w.gateway);
}

#[test]
fn a_failed_save_is_shown_and_can_be_retried() {
    let mut sys = Fake { fail_save: true, ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Licence);
    w.key(Key::Down, &mut sys);
    to_step(&mut w, &mut sys, Step::Finish);
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Continue);
    assert!(w.error.as_deref().unwrap().contains("read-only"));
    sys.fail_save = false;
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Finished);
}

#[test]
fn running_again_starts_from_the_saved_settings_and_keeps_unknown_fields() {
    let mut old = Settings {
        setup_done: true,
        language: "de".into(),
        keyboard: "ch".into(),
        timezone: "Europe/Zurich".into(),
        ..Settings::default()
    };
    old.other.insert("screensaver".into(), 300.into());
    let mut sys = Fake::default();
    let mut w = Wizard::new(old, zones());
    assert_eq!((w.lang.tag(), w.layout()), ("de", "ch"));
    to_step(&mut w, &mut sys, Step::Timezone);
    assert_eq!(w.list_items()[w.list_selected().unwrap()], "Europe / Zurich");
    to_step(&mut w, &mut sys, Step::Licence);
    w.key(Key::Down, &mut sys);
    to_step(&mut w, &mut sys, Step::Finish);
    w.key(Key::Enter, &mut sys);
    assert_eq!(sys.saved[0].other.get("screensaver"), Some(&300.into()));
}

#[test]
fn focus_cycles_with_tab_and_shift_tab() {
    let mut sys = Fake::default();
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Keyboard);
    let order: Vec<_> = (0..4)
        .map(|_| {
            let c = w.focused();
            w.key(Key::Tab, &mut sys);
            c
        })
        .collect();
    assert_eq!(order, [Control::List, Control::Field(FieldId::Try), Control::Back, Control::Next]);
    assert_eq!(w.focused(), Control::List);
    w.key(Key::BackTab, &mut sys);
    assert_eq!(w.focused(), Control::Next);
    w.key(Key::Left, &mut sys);
    assert_eq!(w.focused(), Control::Back);
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Language, "Enter on Back goes back");
}

#[test]
fn the_console_assistant_asks_the_same_questions() {
    let mut sys = Fake { gateway_fp: fp(), ..Fake::default() };
    let mut w = Wizard::new(Settings::default(), zones());
    let answers = format!("2\n3\nzurich\n1\n\n12:00\n1\n127.0.0.1\n{}\nonce\n1\nsecret words\nsecret words\n\n", fp());
    let mut out = Vec::new();
    assistant::console::run(&mut w, &mut sys, &mut assistant::console::Lines(answers.as_bytes()), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("Tastaturbelegung"), "{out}");
    assert!(out.contains("Verbindung bereit"), "{out}");
    let s = &sys.saved[0];
    assert_eq!((s.language.as_str(), s.keyboard.as_str(), s.timezone.as_str()), ("de", "de", "Europe/Zurich"));
    assert_eq!(sys.clock, Some(((2026, 11, 23), (12, 0, 0))));
    assert_eq!(sys.admin, [assistant::AdminChoice::Set("secret words".into())]);
    assert!(!out.contains("secret words"), "the password is not echoed back: {out}");
    // The input ends before the end: an error, nothing saved.
    let mut w = Wizard::new(Settings::default(), zones());
    let mut sys = Fake::default();
    assert!(assistant::console::run(
        &mut w,
        &mut sys,
        &mut assistant::console::Lines("1\n".as_bytes()),
        &mut Vec::new()
    )
    .is_err());
    assert!(sys.saved.is_empty());
}

#[test]
fn the_administrator_step_checks_the_password_and_offers_none_and_keep() {
    let mut sys = Fake::default();
    let mut w = Wizard::new(Settings::default(), zones());
    to_step(&mut w, &mut sys, Step::Licence);
    w.key(Key::Down, &mut sys); // skip the licence: no gateway step
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Admin);
    assert_eq!(
        w.controls(),
        [
            Control::List,
            Control::Field(FieldId::Password),
            Control::Field(FieldId::Repeat),
            Control::Back,
            Control::Next
        ]
    );
    assert!(w.next_blocker().unwrap().contains("At least 8 characters (8 more)"));
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "short");
    let (hint, is_error) = w.field_hint(FieldId::Password).unwrap();
    assert!(hint.contains("3 more") && is_error, "{hint}");
    typed(&mut w, &mut sys, " but ok");
    assert_eq!(w.field_hint(FieldId::Password), None);
    w.key(Key::Tab, &mut sys);
    typed(&mut w, &mut sys, "short but no");
    assert_eq!(w.field_hint(FieldId::Repeat).unwrap(), ("The two passwords differ.".to_string(), true));
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Continue);
    assert_eq!(w.step, Step::Admin, "not while they differ");
    // "No password", chosen explicitly, needs no fields.
    w.click(Hit::Row(1), &mut sys);
    assert_eq!(w.controls(), [Control::List, Control::Back, Control::Next]);
    assert_eq!(w.next_blocker(), None);
    w.key(Key::Enter, &mut sys);
    assert_eq!(w.step, Step::Finish);
    assert!(w.summary().iter().any(|(k, v)| k == "Administrator password" && v.contains("not recommended")));
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Finished);
    assert_eq!(sys.admin, [assistant::AdminChoice::None]);
    assert!(!format!("{:?}", assistant::AdminChoice::Set("hunter22".into())).contains("hunter22"));
    // Run again with a password set: keeping it is offered and chosen.
    let mut w = Wizard::new(sys.saved[0].clone(), zones()).with_admin_existing();
    to_step(&mut w, &mut sys, Step::Admin);
    assert_eq!(w.list_items().len(), 3);
    assert_eq!(w.list_selected(), Some(2));
    to_step(&mut w, &mut sys, Step::Finish);
    assert_eq!(w.key(Key::Enter, &mut sys), Outcome::Finished);
    assert_eq!(sys.admin.last(), Some(&assistant::AdminChoice::Keep));
}
