//! `quill-admin`: the administrator's password at the console.
//!
//! - `quill-admin login [--emergency] [--vt]`: what init runs on the serial
//!   console and tty2 (`--vt`) instead of a bare shell: before the first
//!   setup the text Setup Assistant (or a note that the screen is setting
//!   the device up);
//!   with a password set, a password prompt (growing delay after wrong
//!   ones, every failure logged); with "no password" chosen, a warning and
//!   the shell;
//! - `quill-admin passwd [--open]`: set or change the password (the current
//!   one first), or choose explicitly to have none;
//! - `quill-admin factory-reset [--yes]`: wipe the settings and the
//!   password (not the firmware, its trust state or history), then reboot;
//! - `quill-admin status`.

use crate::console::{ask_hidden, log, say};
use crate::{Failures, Lock, Verdict};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUN: &str = "/run/quill";
const USAGE: &str =
    "usage: quill-admin login [--emergency] [--vt] | passwd [--open] | factory-reset [--yes] | status  [--data DIR]";

pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = args.iter().position(|a| a == "--data").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let data = data.unwrap_or_else(|| PathBuf::from("/data/quill"));
    let flag = |f: &str| args.iter().any(|a| a == f);
    let code = match args.first().map(String::as_str) {
        Some("login") => login(&data, flag("--emergency"), flag("--vt")),
        Some("passwd") => passwd(&data, flag("--open")),
        Some("factory-reset") => factory_reset(&data, flag("--yes")),
        Some("status") => {
            println!(
                "{}",
                match Lock::read(&data) {
                    Lock::NotSet => "no administrator password (not set up yet)".to_string(),
                    Lock::Open => "no administrator password (chosen): anyone at the keyboard has full control".into(),
                    Lock::Set(_) => "an administrator password is set".into(),
                    Lock::Damaged(why) => format!("the password file is damaged ({why}): locked until recovery"),
                }
            );
            0
        }
        // For `cargo xtask bench`: one verification with Quill's parameters,
        // its time and the process's peak memory.
        Some("time-verify") => time_verify(),
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

/// Asks for the administrator password when one guards the device; true
/// when the caller may go on. Wrong answers wait longer each time; an empty
/// answer is no attempt. `ticket`: on tty2, an answer given right after the
/// home screen checked the password (its "Terminal" action) needs none.
pub fn authorize(data: &Path, what: &str, ticket: bool) -> bool {
    let lock = Lock::read(data);
    if !lock.guards() {
        return true;
    }
    let failures = Failures::new(Path::new(RUN));
    let mut tries = 0;
    while tries < 3 {
        let wait = crate::delay_after(failures.count());
        if !wait.is_zero() {
            say(&format!("waiting {} s after wrong passwords", wait.as_secs()));
            std::thread::sleep(wait);
        }
        let Some(pw) = ask_hidden("Administrator password: ") else { return false };
        if ticket && crate::take_ticket(Path::new(RUN)) {
            log(&format!("{what}: the password was given on the screen"));
            return true;
        }
        if pw.is_empty() {
            continue;
        }
        tries += 1;
        match lock.verify(&pw) {
            Verdict::Right => {
                failures.succeeded();
                log(&format!("administrator password accepted ({what})"));
                return true;
            }
            Verdict::Wrong => {
                let next = failures.failed();
                log(&format!("wrong administrator password ({what}); {} failure(s) in a row", failures.count()));
                say(&format!("Wrong password. Next try in {} s.", next.as_secs()));
            }
            Verdict::Unverifiable(why) => {
                log(&format!("the administrator password cannot be checked ({why}); {what} refused"));
                say(&format!(
                    "The administrator password cannot be checked ({why}). Only the recovery opens this \
                     device: hold R while it starts and confirm with Y (the settings and the password are \
                     wiped; the firmware and its trust state stay)."
                ));
                // Nothing typed here can help; do not spin.
                std::thread::sleep(Duration::from_secs(5));
                return false;
            }
        }
    }
    false
}

fn setup_done(data: &Path) -> bool {
    devconfig::Store::new(data).load().map(|(s, _)| s.setup_done).unwrap_or(false)
}

/// Whether the settings switch the consoles' login off (Security ›
/// Consoles). A file that cannot be read leaves them on: the recovery is
/// the way back from a lock-out, not a console that stays shut.
fn consoles_off(data: &Path) -> bool {
    devconfig::peek(data).is_some_and(|s| !s.security.console)
}

fn data_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some("/data")))
}

fn shell() -> ! {
    let e = std::process::Command::new("/bin/sh").arg("-l").exec();
    say(&format!("cannot start the shell: {e}"));
    std::process::exit(1);
}

/// Marks that the display runs the UI (quill-setup writes it), or that
/// there is none.
const UI_ACTIVE: &str = "ui-active";
const UI_NONE: &str = "ui-none";

/// Where the first setup happens: the screen, or (no display) this console.
fn display_verdict() -> bool {
    // quill-setup decides within a few seconds of the start (it waits for
    // a DRM driver); without any verdict the console takes over.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let run = Path::new(RUN);
    while !run.join(UI_ACTIVE).exists() && !run.join(UI_NONE).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    run.join(UI_ACTIVE).exists() && !run.join(UI_NONE).exists()
}

fn text_assistant() {
    say("This device is not set up yet: the Setup Assistant asks its questions here (b goes back).");
    match std::process::Command::new("/usr/bin/quill-setup").arg("--text").status() {
        Ok(s) if s.success() => {}
        Ok(s) => say(&format!("The Setup Assistant stopped ({s}); it starts again.")),
        Err(e) => {
            say(&format!("The Setup Assistant cannot start: {e}"));
            std::thread::sleep(Duration::from_secs(5));
        }
    }
}

/// The console's login. `vt`: on a text console beside the screen (tty2),
/// which opens on Enter, and without asking again right after the home
/// screen checked the password for its "Terminal" action.
fn login(data: &Path, emergency: bool, vt: bool) -> i32 {
    loop {
        if !emergency && consoles_off(data) {
            say("\nQuill: login on this console is switched off (Setup: Security › Consoles). Use the screen's \
                 Setup (Ctrl+Alt+S), or hold R at start for the recovery.");
            log("console login refused: switched off in the settings");
            if crate::console::ask("").is_none() {
                return 1;
            }
            continue;
        }
        if vt {
            say("\nQuill: terminal for administrators. Press Enter to log in (Ctrl+Alt+F1: back to the screen).");
            if crate::console::ask("").is_none() {
                return 1;
            }
        }
        // Without DATA the password cannot be read: locked (fail closed).
        let lock =
            if emergency && !data_mounted() { Lock::Damaged("DATA is not mounted".into()) } else { Lock::read(data) };
        if vt && lock.guards() && crate::take_ticket(Path::new(RUN)) {
            log("terminal: the password was given on the screen");
            shell();
        }
        match lock {
            Lock::NotSet if !emergency && !setup_done(data) => {
                if vt {
                    say("This device is being set up on its screen (Ctrl+Alt+F1).");
                } else if display_verdict() {
                    say("This device is being set up on its screen; this console opens when that is done. \
                         Press Enter to set it up here instead.");
                    loop {
                        if setup_done(data) || Lock::read(data) != Lock::NotSet {
                            break;
                        }
                        match crate::console::line_within(Duration::from_secs(1)) {
                            Some(Some(_)) => {
                                text_assistant();
                                break;
                            }
                            Some(None) => return 1,
                            None => {}
                        }
                    }
                } else {
                    text_assistant();
                }
            }
            Lock::NotSet | Lock::Open => {
                say("No administrator password is set: anyone at this console has full control of the device. \
                     Set one with `quill-admin passwd`.");
                log(if emergency {
                    "emergency shell opened (no password set)"
                } else {
                    "shell opened (no password set)"
                });
                shell();
            }
            Lock::Set(_) | Lock::Damaged(_) => {
                if emergency {
                    say("Emergency console: the administrator password is needed.");
                }
                if authorize(data, if emergency { "emergency console" } else { "console login" }, vt) {
                    shell();
                }
            }
        }
    }
}

fn passwd(data: &Path, open: bool) -> i32 {
    if !authorize(data, "changing the password", false) {
        return 1;
    }
    if open {
        return match crate::set_open(data) {
            Ok(()) => {
                log("the administrator password was removed (no password chosen)");
                say("No administrator password: anyone at the keyboard has full control of this device.");
                0
            }
            Err(e) => {
                say(&e.to_string());
                1
            }
        };
    }
    let (Some(a), Some(b)) = (ask_hidden("New administrator password: "), ask_hidden("The same again: ")) else {
        return 1;
    };
    if let Err(e) = crate::check_new(&a, &b).and_then(|()| crate::set_password(data, &a)) {
        say(&e.to_string());
        return 1;
    }
    log("the administrator password was changed");
    say("The administrator password is set.");
    0
}

fn factory_reset(data: &Path, yes: bool) -> i32 {
    if !authorize(data, "factory reset", false) {
        return 1;
    }
    if !yes {
        let answer = crate::console::ask(
            "This wipes the settings and the administrator password (the firmware, its trust \
                                   state and its history stay) and restarts the device. Type yes to go on: ",
        );
        if answer.as_deref().map(str::trim) != Some("yes") {
            say("Cancelled; nothing was changed.");
            return 1;
        }
    }
    match crate::factory_reset(data) {
        Ok(removed) => {
            log(&format!("factory reset: removed {}", removed.join(", ")));
            say("The settings are wiped; restarting. The Setup Assistant runs next.");
            // SIGTERM to PID 1 is Quill's reboot request.
            // SAFETY: sending a signal has no memory effects.
            unsafe { libc::kill(1, libc::SIGTERM) };
            0
        }
        Err(e) => {
            say(&e.to_string());
            1
        }
    }
}

fn time_verify() -> i32 {
    let dir = std::env::temp_dir().join(format!("quill-admin-bench-{}", std::process::id()));
    let password = "correct horse battery";
    if let Err(e) = crate::set_password(&dir, password) {
        eprintln!("quill-admin: {e}");
        return 1;
    }
    let lock = Lock::read(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let t = std::time::Instant::now();
    let right = lock.verify(password) == Verdict::Right;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
        })
        .unwrap_or_default();
    println!("verify_ms={ms:.0} hwm_kib={hwm} right={right}");
    i32::from(!right)
}
