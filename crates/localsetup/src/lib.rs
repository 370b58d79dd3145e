//! The local Setup's model: what devices without a management server are
//! configured in. Areas (User Interface, Network, Security, System) hold a
//! tree of pages; a page holds fields over devconfig's [`Settings`]. Every
//! label is given in every language the device speaks, so a search finds a
//! field by its English or German name, or by its current value.
//!
//! Pure: no files, no devices. The front ends (`quill-setup --local` on a
//! console; the display's Setup, later) edit a [`Draft`], show its
//! reasons at the fields, and save it through devconfig's crash-safe write
//! only when [`Draft::check`] finds nothing wrong.

mod draft;
mod nav;
mod search;

pub use devconfig::Settings;
pub use draft::{effect, DateTime, Draft, Effect, Enrollment, Env};
pub use nav::{Nav, Node};
pub use search::{search, Hit};

/// The languages of the labels, in the order of the label arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En = 0,
    De = 1,
}

impl Lang {
    pub fn from_tag(tag: &str) -> Lang {
        if tag == "de" {
            Lang::De
        } else {
            Lang::En
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }
}

/// A text in every language (English, German).
pub type Text = [&'static str; 2];

pub fn tr(t: &Text, lang: Lang) -> &'static str {
    t[lang as usize]
}

/// Every setting the Setup edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Language,
    Keyboard,
    Resolution,
    Blanking,
    /// Which interface the next four fields are of ("all": every one
    /// without its own settings). A view, not a setting.
    NetInterface,
    NetMode,
    Address,
    Gateway,
    Dns,
    Proxy,
    Repository,
    Channel,
    AutoInstall,
    Window,
    Announce,
    Timezone,
    DateTime,
    NtpServers,
    UsbStorage,
    UsbOffer,
    UsbAuto,
    NewPassword,
    RepeatPassword,
    Consoles,
    /// The management server to enroll with (not settings: the enrollment
    /// saves them once it succeeded).
    MgmtAddress,
    MgmtFingerprint,
    MgmtOtp,
}

/// How a field is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text, checked as typed.
    Text,
    /// One of these values (stored value, label).
    Choice(&'static [(&'static str, Text)]),
    /// On or off.
    Toggle,
    /// Several values separated by commas.
    List,
    /// A password: never shown, never searched.
    Secret,
}

/// A field's description.
pub struct FieldInfo {
    pub field: Field,
    /// Its name in the settings file (`network.address`): what the console
    /// version types, and a search term too.
    pub key: &'static str,
    pub label: Text,
    /// One line shown under the field.
    pub help: Text,
    pub kind: Kind,
}

const MODES: &[(&str, Text)] = &[
    ("dhcp", ["Automatic (DHCP)", "Automatisch (DHCP)"]),
    ("static", ["Static", "Statisch"]),
    // Only for one interface: it has no settings of its own.
    ("same", ["As for all interfaces", "Wie für alle Schnittstellen"]),
];
/// The interface choice's fixed value; the interfaces themselves come
/// from the device ([`Draft::choices`]).
const INTERFACES: &[(&str, Text)] = &[("all", ["All interfaces", "Alle Schnittstellen"])];
const LANGUAGES: &[(&str, Text)] = &[("en", ["English", "English"]), ("de", ["Deutsch", "Deutsch"])];

pub const FIELDS: &[FieldInfo] = &[
    FieldInfo {
        field: Field::Language,
        key: "language",
        label: ["Language", "Sprache"],
        help: ["The language of the screens", "Die Sprache der Anzeigen"],
        kind: Kind::Choice(LANGUAGES),
    },
    FieldInfo {
        field: Field::Keyboard,
        key: "keyboard",
        label: ["Keyboard layout", "Tastaturbelegung"],
        help: ["us, gb, de, ch or fr; takes effect at once", "us, gb, de, ch oder fr; gilt sofort"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Resolution,
        key: "display.resolution",
        label: ["Screen resolution", "Bildschirmauflösung"],
        help: [
            "One the screen offers (below); empty: its own",
            "Eine, die der Bildschirm anbietet (unten); leer: seine eigene",
        ],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Blanking,
        key: "display.blank_minutes",
        label: ["Blank the screen after (minutes)", "Bildschirm abschalten nach (Minuten)"],
        help: ["Without input; 0: never", "Ohne Eingabe; 0: nie"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::NetInterface,
        key: "network.interface",
        label: ["Interface", "Schnittstelle"],
        help: ["All, or one with settings of its own", "Alle, oder eine mit eigenen Einstellungen"],
        kind: Kind::Choice(INTERFACES),
    },
    FieldInfo {
        field: Field::NetMode,
        key: "network.mode",
        label: ["IP address", "IP-Adresse"],
        help: [
            "Automatic (DHCP), static, or as for all interfaces",
            "Automatisch (DHCP), statisch oder wie für alle Schnittstellen",
        ],
        kind: Kind::Choice(MODES),
    },
    FieldInfo {
        field: Field::Address,
        key: "network.address",
        label: ["Static address", "Statische Adresse"],
        help: ["With its prefix, e.g. 192.168.1.20/24", "Mit Präfix, z. B. 192.168.1.20/24"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Gateway,
        key: "network.gateway",
        label: ["Default gateway", "Standard-Gateway"],
        help: ["In the address's subnet; empty: none", "Im Subnetz der Adresse; leer: keines"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Dns,
        key: "network.dns",
        label: ["DNS servers", "DNS-Server"],
        help: ["IPv4 addresses, separated by commas", "IPv4-Adressen, durch Kommas getrennt"],
        kind: Kind::List,
    },
    FieldInfo {
        field: Field::Proxy,
        key: "network.proxy",
        label: ["Proxy", "Proxy"],
        help: [
            "http://host:port for updates and enrollment; empty: none",
            "http://host:port für Updates und Registrierung; leer: keiner",
        ],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Repository,
        key: "update.repository",
        label: ["Update repository", "Update-Quelle"],
        help: ["http(s) URL of the static repository; empty: none", "http(s)-URL der statischen Quelle; leer: keine"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Channel,
        key: "update.channel",
        label: ["Update channel", "Update-Kanal"],
        help: ["stable, beta, … (letters, digits, -)", "stable, beta, … (Buchstaben, Ziffern, -)"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::AutoInstall,
        key: "update.auto_install",
        label: ["Install updates by themselves", "Updates selbständig installieren"],
        help: ["Inside the maintenance window; never restarts", "Im Wartungsfenster; startet nie neu"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::Window,
        key: "update.window",
        label: ["Maintenance window", "Wartungsfenster"],
        help: ["HH:MM-HH:MM local time; empty: any time", "HH:MM-HH:MM Ortszeit; leer: jederzeit"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::Announce,
        key: "discovery.announce",
        label: ["Announce on the network (mDNS)", "Im Netzwerk ankündigen (mDNS)"],
        help: ["Lets management tools find this device", "Verwaltungswerkzeuge finden das Gerät"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::Timezone,
        key: "timezone",
        label: ["Time zone", "Zeitzone"],
        help: ["e.g. Europe/Berlin; takes effect at once", "z. B. Europe/Berlin; gilt sofort"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::DateTime,
        key: "date_time",
        label: ["Date and time", "Datum und Uhrzeit"],
        help: ["YYYY-MM-DD HH:MM local time; empty: unchanged", "JJJJ-MM-TT HH:MM Ortszeit; leer: unverändert"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::UsbStorage,
        key: "usb.storage",
        label: ["Use USB storage", "USB-Speicher verwenden"],
        help: ["Mount sticks read-only (FAT32, exFAT)", "Sticks schreibgeschützt einbinden (FAT32, exFAT)"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::UsbOffer,
        key: "usb.offer_updates",
        label: ["Offer updates from USB sticks", "Updates von USB-Sticks anbieten"],
        help: ["An update found on a stick is offered", "Ein Update auf einem Stick wird angeboten"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::UsbAuto,
        key: "usb.install_without_asking",
        label: ["Install updates from sticks without asking", "Updates von Sticks ohne Rückfrage installieren"],
        help: ["Never a downgrade; the device restarts into it", "Nie ein Downgrade; das Gerät startet damit neu"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::NewPassword,
        key: "admin.password",
        label: ["New administrator password", "Neues Administratorkennwort"],
        help: [
            "Guards the Setup, updates and the consoles; empty: unchanged",
            "Schützt Einrichtung, Updates und Konsolen; leer: unverändert",
        ],
        kind: Kind::Secret,
    },
    FieldInfo {
        field: Field::RepeatPassword,
        key: "admin.repeat",
        label: ["Repeat the new password", "Neues Kennwort wiederholen"],
        help: ["The same again", "Dasselbe noch einmal"],
        kind: Kind::Secret,
    },
    FieldInfo {
        field: Field::Consoles,
        key: "security.console",
        label: ["Login on the consoles (serial, tty2)", "Anmeldung an den Konsolen (seriell, tty2)"],
        help: ["Off: only the screen and the recovery", "Aus: nur Bildschirm und Wiederherstellung"],
        kind: Kind::Toggle,
    },
    FieldInfo {
        field: Field::NtpServers,
        key: "network.ntp_servers",
        label: ["Time servers (NTP)", "Zeitserver (NTP)"],
        help: ["Besides DHCP's, separated by commas", "Zusätzlich zu denen von DHCP, durch Kommas getrennt"],
        kind: Kind::List,
    },
    FieldInfo {
        field: Field::MgmtAddress,
        key: "management.address",
        label: ["Management server", "Verwaltungsserver"],
        help: ["host or host:port (port 443 if none)", "Host oder Host:Port (ohne Port: 443)"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::MgmtFingerprint,
        key: "management.fingerprint",
        label: ["Server certificate fingerprint", "Fingerabdruck des Serverzertifikats"],
        help: ["SHA-256, 64 hex digits, as the server shows it", "SHA-256, 64 Hex-Ziffern, wie der Server ihn zeigt"],
        kind: Kind::Text,
    },
    FieldInfo {
        field: Field::MgmtOtp,
        key: "management.one_time_password",
        label: ["One-time password", "Einmalkennwort"],
        help: [
            "From the server's console; used once, never saved",
            "Aus der Konsole des Servers; einmal genutzt, nie gespeichert",
        ],
        kind: Kind::Secret,
    },
];

/// The fields that are not settings but the Enroll action's input.
pub const ENROLL_FIELDS: [Field; 3] = [Field::MgmtAddress, Field::MgmtFingerprint, Field::MgmtOtp];

pub fn info(f: Field) -> &'static FieldInfo {
    FIELDS.iter().find(|i| i.field == f).expect("every field is described")
}

/// A field by its settings key (`network.address`).
pub fn by_key(key: &str) -> Option<Field> {
    FIELDS.iter().find(|i| i.key == key).map(|i| i.field)
}

/// Something a page does, beyond its fields (a button).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Ask the update channel now (`fwupdate check`).
    CheckUpdate,
    /// Boot the other slot next, where the version before this one is
    /// (`fwupdate rollback`; it must have booted successfully before).
    RollBack,
    /// Enroll with the management server of the page's fields (again).
    Enroll,
    /// Wipe the settings and the administrator password, and restart.
    FactoryReset,
}

impl Action {
    pub fn label(self) -> Text {
        match self {
            Action::CheckUpdate => ["Check for an update", "Nach einem Update suchen"],
            Action::RollBack => ["Roll back to the other slot", "Zum anderen Slot zurückkehren"],
            Action::Enroll => ["Enroll with the server", "Beim Server registrieren"],
            Action::FactoryReset => ["Reset to factory settings", "Auf Werkseinstellungen zurücksetzen"],
        }
    }

    /// Done, it restarts the device (the front end asks for the restart
    /// once it has shown what the action said).
    pub fn restarts(self) -> bool {
        self == Action::FactoryReset
    }

    /// The question asked before it is done (answered No by default).
    pub fn confirm(self) -> Option<Text> {
        match self {
            Action::FactoryReset => Some([
                "Wipe the settings and the administrator password and restart? The firmware, its trust state and its history stay.",
                "Einstellungen und Administratorkennwort löschen und neu starten? Die Firmware, ihr Vertrauensstatus und ihr Verlauf bleiben.",
            ]),
            _ => None,
        }
    }

    /// Its name in the console version (`do check-update`).
    pub fn key(self) -> &'static str {
        match self {
            Action::CheckUpdate => "check-update",
            Action::RollBack => "roll-back",
            Action::Enroll => "enroll",
            Action::FactoryReset => "factory-reset",
        }
    }
}

/// Facts a page shows that are not settings (read by the front end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Info {
    /// Each slot's version and state (`fwupdate status`).
    Firmware,
    /// The enrollment with the management server (`quill-enroll status`).
    Management,
    /// The resolutions the screen offers.
    Display,
}

/// A page of the tree.
pub struct Page {
    /// `network/ethernet`: the path the console version shows.
    pub id: &'static str,
    pub title: Text,
    pub fields: &'static [Field],
    pub info: Option<Info>,
    pub actions: &'static [Action],
    /// A line shown above the actions.
    pub note: Option<Text>,
}

const fn page(id: &'static str, title: Text, fields: &'static [Field]) -> Page {
    Page { id, title, fields, info: None, actions: &[], note: None }
}

/// An area: the tree's first level.
pub struct Area {
    pub id: &'static str,
    pub title: Text,
    pub pages: &'static [Page],
}

pub const TREE: &[Area] = &[
    Area {
        id: "ui",
        title: ["User Interface", "Benutzeroberfläche"],
        pages: &[
            page("ui/language", ["Language", "Sprache"], &[Field::Language]),
            page("ui/keyboard", ["Keyboard", "Tastatur"], &[Field::Keyboard]),
            Page {
                info: Some(Info::Display),
                ..page("ui/display", ["Display", "Bildschirm"], &[Field::Resolution, Field::Blanking])
            },
        ],
    },
    Area {
        id: "network",
        title: ["Network", "Netzwerk"],
        pages: &[
            page(
                "network/ethernet",
                ["Ethernet", "Ethernet"],
                &[Field::NetInterface, Field::NetMode, Field::Address, Field::Gateway, Field::Dns],
            ),
            page("network/proxy", ["Proxy", "Proxy"], &[Field::Proxy]),
            page(
                "network/updates",
                ["Updates", "Updates"],
                &[Field::Repository, Field::Channel, Field::AutoInstall, Field::Window],
            ),
        ],
    },
    Area {
        id: "devices",
        title: ["Devices", "Geräte"],
        pages: &[page(
            "devices/usb",
            ["USB storage", "USB-Speicher"],
            &[Field::UsbStorage, Field::UsbOffer, Field::UsbAuto],
        )],
    },
    Area {
        id: "security",
        title: ["Security", "Sicherheit"],
        pages: &[
            page(
                "security/password",
                ["Administrator password", "Administratorkennwort"],
                &[Field::NewPassword, Field::RepeatPassword],
            ),
            page("security/consoles", ["Consoles", "Konsolen"], &[Field::Consoles]),
            page("security/discovery", ["Discovery", "Erkennung"], &[Field::Announce]),
        ],
    },
    Area {
        id: "system",
        title: ["System", "System"],
        pages: &[
            page(
                "system/time",
                ["Time and date", "Zeit und Datum"],
                &[Field::Timezone, Field::DateTime, Field::NtpServers],
            ),
            Page {
                info: Some(Info::Firmware),
                actions: &[Action::CheckUpdate, Action::RollBack],
                ..page("system/firmware", ["Firmware", "Firmware"], &[])
            },
            Page {
                info: Some(Info::Management),
                actions: &[Action::Enroll],
                ..page(
                    "system/management",
                    ["Management server", "Verwaltungsserver"],
                    &[Field::MgmtAddress, Field::MgmtFingerprint, Field::MgmtOtp],
                )
            },
            Page {
                actions: &[Action::FactoryReset],
                note: Some([
                    "Wipes the settings and the administrator password; the Setup Assistant runs next.",
                    "Löscht die Einstellungen und das Administratorkennwort; danach läuft der Einrichtungsassistent.",
                ]),
                ..page("system/reset", ["Factory reset", "Werkseinstellungen"], &[])
            },
        ],
    },
];

/// The page a field is on (area index, page index).
pub fn page_of(f: Field) -> (usize, usize) {
    for (a, area) in TREE.iter().enumerate() {
        for (p, page) in area.pages.iter().enumerate() {
            if page.fields.contains(&f) {
                return (a, p);
            }
        }
    }
    unreachable!("every field is on a page")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_described_once_and_on_exactly_one_page() {
        for i in FIELDS {
            assert_eq!(FIELDS.iter().filter(|j| j.field == i.field).count(), 1, "{:?}", i.field);
            let on: usize = TREE.iter().flat_map(|a| a.pages).filter(|p| p.fields.contains(&i.field)).count();
            assert_eq!(on, 1, "{:?} is on {on} pages", i.field);
            assert_eq!(by_key(i.key), Some(i.field));
            assert!(i.label.iter().chain(&i.help).all(|t| !t.is_empty()));
        }
        for a in TREE {
            assert!(a.pages.iter().all(|p| p.id.starts_with(&format!("{}/", a.id))), "{}", a.id);
        }
    }
}
