//! The kernel command line, as far as init cares.

/// `quill.*` settings from `/proc/cmdline`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootArgs {
    /// `quill.slot=a|b`, set by the boot selector.
    pub slot: Option<char>,
    /// `quill.partuuid=`: PARTUUID of the booted slot partition.
    pub slot_partuuid: Option<String>,
    /// `quill.diskuuid=`: GUID of the boot disk.
    pub disk_uuid: Option<String>,
    /// `quill.emergency=1`: stop after the early mounts and open a shell.
    pub emergency: bool,
    /// `quill.autoupdate=1`: install an update found on USB storage without asking.
    pub autoupdate: bool,
}

impl BootArgs {
    pub fn parse(cmdline: &str) -> BootArgs {
        let mut args = BootArgs::default();
        for word in cmdline.split_ascii_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            match key {
                "quill.slot" => args.slot = value.chars().next().filter(|c| matches!(c, 'a' | 'b')),
                "quill.partuuid" if !value.is_empty() => args.slot_partuuid = Some(value.to_ascii_lowercase()),
                "quill.diskuuid" if !value.is_empty() => args.disk_uuid = Some(value.to_ascii_lowercase()),
                "quill.emergency" => args.emergency = value != "0",
                "quill.autoupdate" => args.autoupdate = value != "0",
                _ => {}
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_words_bootsel_adds() {
        let a = BootArgs::parse(
            "console=ttyS0 initrd=\\initrd.zst quill.slot=b quill.partuuid=AB-CD quill.diskuuid=ef quiet\n",
        );
        assert_eq!(a.slot, Some('b'));
        assert_eq!(a.slot_partuuid.as_deref(), Some("ab-cd"));
        assert_eq!(a.disk_uuid.as_deref(), Some("ef"));
        assert!(!a.emergency);
        assert!(!a.autoupdate);
        assert!(BootArgs::parse("quill.autoupdate=1").autoupdate);
        assert!(!BootArgs::parse("quill.autoupdate=0").autoupdate);
    }

    #[test]
    fn ignores_bad_values() {
        let a = BootArgs::parse("quill.slot=c quill.partuuid= quill.emergency");
        assert_eq!(a, BootArgs { emergency: true, ..BootArgs::default() });
        assert!(!BootArgs::parse("quill.emergency=0").emergency);
    }
}
