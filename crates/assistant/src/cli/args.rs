//! The command line of `quill-setup`.

use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: quill-setup [--text | --local] [--if-needed] [--reset] [--data DIR] [--drm-wait-ms N]
  (no option)   the Setup Assistant on first boot, else the home screen, on the display
  --text        the Setup Assistant as questions on this terminal
  --local       the local Setup on this terminal (every setting; asks for the
                administrator password when one is set)
  --if-needed   with --text: only when setup has not been done and no display runs it
  --reset       bring the Setup Assistant back at the next start (settings are kept)
  --data DIR    where the settings live (default /data/quill)";

pub struct Args {
    pub text: bool,
    pub local: bool,
    pub if_needed: bool,
    pub reset: bool,
    pub data: PathBuf,
    pub drm_wait: Duration,
}

pub fn args() -> Result<Args, String> {
    let mut a = Args {
        text: false,
        local: false,
        if_needed: false,
        reset: false,
        data: "/data/quill".into(),
        drm_wait: Duration::from_millis(300),
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--text" => a.text = true,
            "--local" => a.local = true,
            "--if-needed" => a.if_needed = true,
            "--reset" => a.reset = true,
            "--data" => a.data = it.next().ok_or("--data needs a directory")?.into(),
            "--drm-wait-ms" => {
                a.drm_wait =
                    Duration::from_millis(it.next().and_then(|v| v.parse().ok()).ok_or("--drm-wait-ms needs a number")?)
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}
