//! Every string the assistant shows, in every language it offers. A string
//! is added here with all its translations, or the build fails.

/// The languages, with their names in themselves.
pub const LANGUAGES: &[(&str, &str)] = &[("en", "English"), ("de", "Deutsch")];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    Assistant,
    StepOf,
    Back,
    Next,
    Finish,
    LanguageTitle,
    LanguageHelp,
    KeyboardTitle,
    KeyboardHelp,
    KeyboardTry,
    TimezoneTitle,
    TimezoneHelp,
    TimezoneFilter,
    TimezoneNone,
    DateTimeTitle,
    DateTimeHelp,
    Date,
    Time,
    DateInvalid,
    TimeInvalid,
    LicenceTitle,
    LicenceHelp,
    LicenceGateway,
    LicenceSkip,
    GatewayTitle,
    GatewayHelp,
    GatewayAddress,
    GatewayFingerprint,
    GatewayOtp,
    GatewayConnect,
    AddressInvalid,
    FingerprintHint,
    FingerprintInvalid,
    OtpEmpty,
    GatewayChecking,
    GatewayReady,
    GatewayMismatch,
    GatewayUnreachable,
    GatewayRefused,
    GatewayPending,
    GatewayFailed,
    FinishTitle,
    FinishHelp,
    SaveFailed,
    HomeTitle,
    HomeUnit,
    HomeHostname,
    HomeAddresses,
    HomeFirmware,
    HomeManagement,
    HomeNotEnrolled,
    HomeEnrolled,
    HomeRenewalFailed,
    HomeEnrollmentUnreadable,
    HomeSlot,
    HomeNoAddress,
    ActionSetup,
    ActionUpdate,
    ActionTerminal,
    ActionReboot,
    ActionPowerOff,
    UpdateNone,
    TerminalHint,
    Yes,
    No,
    ConfirmReboot,
    ConfirmPowerOff,
    LicenceSkipped,
    LicenceViaGateway,
    UpdateConfirm,
    UpdateNetConfirm,
    UpdateNetTitle,
    UpdateNetRunning,
    UpdateRunning,
    UpdateDone,
    UpdateFailed,
    ActionInstallDisk,
    DiskNone,
    DiskChoose,
    DiskConfirm,
    DiskSettings,
    DiskRunning,
    DiskDone,
    DiskFailed,
    Cancel,
    AdminTitle,
    AdminHelp,
    AdminSet,
    AdminNone,
    AdminKeep,
    AdminPassword,
    AdminRepeat,
    AdminTooShort,
    AdminDiffers,
    AdminSummarySet,
    AdminSummaryNone,
    AdminSummaryKeep,
    AdminNoneWarning,
    PasswordPrompt,
    PasswordWrong,
    PasswordWait,
    PasswordLocked,
    ActionReset,
    ConfirmReset,
    SetupTitle,
    SetupBack,
    SetupForward,
    SetupUp,
    SetupSearch,
    SetupApply,
    SetupClose,
    SetupHits,
    SetupNoHits,
    SetupChoose,
    SetupSaved,
    SetupInvalid,
    SetupUnchanged,
    SetupNotSaved,
    SetupUnsaved,
    ActionLocalSetup,
    SetupModes,
    SetupKeepTitle,
    SetupKeepText,
    SetupKeep,
    SetupGoBack,
    SetupReverted,
}

/// The text of `m` in `lang`.
pub fn text(lang: Lang, m: Msg) -> &'static str {
    let [en, de] = both(m);
    match lang {
        Lang::En => en,
        Lang::De => de,
    }
}

fn both(m: Msg) -> [&'static str; 2] {
    use Msg::*;
    match m {
        Assistant => ["Setup Assistant", "Einrichtungsassistent"],
        StepOf => ["Step {0} of {1}", "Schritt {0} von {1}"],
        Back => ["Back", "Zurück"],
        Next => ["Next", "Weiter"],
        Finish => ["Finish", "Fertigstellen"],
        LanguageTitle => ["Language", "Sprache"],
        LanguageHelp => ["Choose the language of this device.", "Wählen Sie die Sprache dieses Geräts."],
        KeyboardTitle => ["Keyboard layout", "Tastaturbelegung"],
        KeyboardHelp => [
            "Choose the layout of the keyboard. It applies at once, here and on the console.",
            "Wählen Sie die Belegung der Tastatur. Sie gilt sofort, hier und auf der Konsole.",
        ],
        KeyboardTry => ["Try it here", "Hier ausprobieren"],
        TimezoneTitle => ["Time zone", "Zeitzone"],
        TimezoneHelp => {
            ["Type to filter, then choose the time zone.", "Tippen Sie zum Filtern und wählen Sie die Zeitzone."]
        }
        TimezoneFilter => ["Filter", "Filter"],
        TimezoneNone => ["No time zone matches the filter.", "Keine Zeitzone passt zum Filter."],
        DateTimeTitle => ["Date and time", "Datum und Uhrzeit"],
        DateTimeHelp => [
            "Check the date and time. Next sets the system clock and the hardware clock.",
            "Prüfen Sie Datum und Uhrzeit. Weiter stellt die Systemuhr und die Hardwareuhr.",
        ],
        Date => ["Date (YYYY-MM-DD)", "Datum (JJJJ-MM-TT)"],
        Time => ["Time (HH:MM)", "Uhrzeit (HH:MM)"],
        DateInvalid => ["Enter a valid date as YYYY-MM-DD.", "Geben Sie ein gültiges Datum als JJJJ-MM-TT ein."],
        TimeInvalid => ["Enter a valid time as HH:MM.", "Geben Sie eine gültige Uhrzeit als HH:MM ein."],
        LicenceTitle => ["Licence", "Lizenz"],
        LicenceHelp => ["How should this device get its licence?", "Wie soll dieses Gerät seine Lizenz erhalten?"],
        LicenceGateway => [
            "Install licence via management server / cloud gateway",
            "Lizenz über Management-Server / Cloud-Gateway installieren",
        ],
        LicenceSkip => ["Skip for now", "Vorerst überspringen"],
        GatewayTitle => ["Cloud gateway login", "Anmeldung am Cloud-Gateway"],
        GatewayHelp => [
            "Enter the gateway's address, the fingerprint its status page shows, and your one-time password.",
            "Geben Sie die Adresse des Gateways, den Fingerabdruck von seiner Statusseite und Ihr Einmalpasswort ein.",
        ],
        GatewayAddress => ["Address (host or host:port)", "Adresse (Host oder Host:Port)"],
        GatewayFingerprint => {
            ["Server certificate fingerprint (SHA-256)", "Fingerabdruck des Serverzertifikats (SHA-256)"]
        }
        GatewayOtp => ["One-time password", "Einmalpasswort"],
        GatewayConnect => ["Connect", "Verbinden"],
        AddressInvalid => [
            "Enter a host name or IP address, optionally with :port.",
            "Geben Sie einen Hostnamen oder eine IP-Adresse ein, optional mit :Port.",
        ],
        FingerprintHint => {
            ["4 groups of 16 hex digits ({0} of 64 typed)", "4 Gruppen zu 16 Hex-Ziffern ({0} von 64 eingegeben)"]
        }
        FingerprintInvalid => [
            "Only hex digits 0-9 and A-F, in 4 groups of 16 (found {0}).",
            "Nur Hex-Ziffern 0-9 und A-F, in 4 Gruppen zu 16 (gefunden: {0}).",
        ],
        OtpEmpty => ["Enter the one-time password.", "Geben Sie das Einmalpasswort ein."],
        GatewayChecking => ["Connecting to {0} ...", "Verbindung zu {0} wird aufgebaut ..."],
        GatewayReady => {
            [
                "Connection ready: enrolled as {0}, certificate valid until {1}.",
                "Verbindung bereit: registriert als {0}, Zertifikat gültig bis {1}.",
            ]
        }
        GatewayMismatch => [
            "The fingerprint does not match: the server presented {0}. Nothing was saved.",
            "Der Fingerabdruck stimmt nicht überein: der Server zeigte {0}. Es wurde nichts gespeichert.",
        ],
        GatewayUnreachable => ["Cannot connect to {0}: {1}", "Keine Verbindung zu {0}: {1}"],
        GatewayRefused => [
            "The server refused the one-time password. Check it, or ask the administrator for a new one.",
            "Der Server hat das Einmalpasswort abgelehnt. Prüfen Sie es oder fragen Sie den Administrator nach einem neuen.",
        ],
        GatewayPending => [
            "The server holds the request until an administrator approves it. Try again in {0} s.",
            "Der Server hält die Anfrage zurück, bis ein Administrator sie freigibt. Versuchen Sie es in {0} s erneut.",
        ],
        GatewayFailed => ["Enrollment failed: {0}", "Registrierung fehlgeschlagen: {0}"],
        FinishTitle => ["Ready", "Fertig"],
        FinishHelp => [
            "Finish saves these settings and starts the device.",
            "Fertigstellen speichert diese Einstellungen und startet das Gerät.",
        ],
        SaveFailed => {
            ["The settings could not be saved: {0}", "Die Einstellungen konnten nicht gespeichert werden: {0}"]
        }
        HomeTitle => ["Quill", "Quill"],
        HomeUnit => ["Unit ID", "Geräte-ID"],
        HomeHostname => ["Host name", "Hostname"],
        HomeAddresses => ["IP addresses", "IP-Adressen"],
        HomeFirmware => ["Firmware", "Firmware"],
        HomeManagement => ["Management", "Verwaltung"],
        HomeNotEnrolled => ["not enrolled", "nicht registriert"],
        HomeEnrolled => ["enrolled to {0} until {1}", "registriert bei {0} bis {1}"],
        HomeRenewalFailed => ["renewal failed: {0}", "Erneuerung fehlgeschlagen: {0}"],
        HomeEnrollmentUnreadable => ["enrollment unreadable: {0}", "Registrierung nicht lesbar: {0}"],
        HomeSlot => ["slot {0}", "Slot {0}"],
        HomeNoAddress => ["none", "keine"],
        ActionSetup => ["Run the Setup Assistant again", "Einrichtungsassistent erneut ausführen"],
        ActionUpdate => ["Update from a USB stick", "Update vom USB-Stick"],
        ActionTerminal => ["Terminal for administrators", "Terminal für Administratoren"],
        ActionReboot => ["Reboot", "Neu starten"],
        ActionPowerOff => ["Power off", "Ausschalten"],
        UpdateNone => [
            "No update found on USB storage. Insert a stick with a .qbundle file.",
            "Kein Update auf USB-Speicher gefunden. Stecken Sie einen Stick mit einer .qbundle-Datei ein.",
        ],
        TerminalHint => [
            "The administrators' shell runs on the second console: press Ctrl+Alt+F2 (back with Ctrl+Alt+F1).",
            "Die Shell für Administratoren läuft auf der zweiten Konsole: Strg+Alt+F2 (zurück mit Strg+Alt+F1).",
        ],
        Yes => ["Yes", "Ja"],
        No => ["No", "Nein"],
        ConfirmReboot => ["Reboot the device now?", "Das Gerät jetzt neu starten?"],
        ConfirmPowerOff => ["Power the device off now?", "Das Gerät jetzt ausschalten?"],
        LicenceSkipped => ["Licence: skipped for now", "Lizenz: vorerst übersprungen"],
        LicenceViaGateway => ["Licence: via the cloud gateway {0}", "Lizenz: über das Cloud-Gateway {0}"],
        UpdateConfirm => [
            "Install {0} from the USB stick? It is checked first; the device runs its current firmware until it restarts.",
            "{0} vom USB-Stick installieren? Es wird zuerst geprüft; das Gerät läuft bis zum Neustart mit der bisherigen Firmware.",
        ],
        UpdateNetConfirm => [
            "Update {0} is available from the network. Install it now? It is checked first; the device runs its current firmware until it restarts.",
            "Update {0} ist über das Netzwerk verfügbar. Jetzt installieren? Es wird zuerst geprüft; das Gerät läuft bis zum Neustart mit der bisherigen Firmware.",
        ],
        UpdateNetTitle => ["Update from the network", "Update über das Netzwerk"],
        UpdateNetRunning => ["Downloading and installing {0}.", "{0} wird heruntergeladen und installiert."],
        UpdateRunning => ["Installing {0}. Do not remove the USB stick.", "{0} wird installiert. Den USB-Stick nicht entfernen."],
        UpdateDone => [
            "{0}\nRestart the device to start the new firmware.",
            "{0}\nStarten Sie das Gerät neu, um die neue Firmware zu starten.",
        ],
        UpdateFailed => [
            "The update was not installed; the device keeps its firmware. {0}",
            "Das Update wurde nicht installiert; das Gerät behält seine Firmware. {0}",
        ],
        ActionInstallDisk => ["Install Quill onto this PC's disk", "Quill auf die Festplatte dieses PCs installieren"],
        DiskNone => [
            "No internal disk to install onto was found.\n{0}",
            "Keine interne Festplatte zum Installieren gefunden.\n{0}",
        ],
        DiskChoose => [
            "Choose the disk to install Quill onto. Everything on it will be erased.",
            "Wählen Sie die Festplatte, auf die Quill installiert wird. Alles darauf wird gelöscht.",
        ],
        DiskConfirm => [
            "Everything on {0} ({1}) will be erased and Quill installed onto it. Continue?",
            "Alles auf {0} ({1}) wird gelöscht und Quill darauf installiert. Fortfahren?",
        ],
        DiskSettings => [
            "Copy the settings made on this stick (language, keyboard, time zone, gateway) to the disk?",
            "Die auf diesem Stick gemachten Einstellungen (Sprache, Tastatur, Zeitzone, Gateway) übernehmen?",
        ],
        DiskRunning => [
            "Installing Quill onto {0}. Do not remove the USB stick or switch off.",
            "Quill wird auf {0} installiert. Den USB-Stick nicht entfernen und nicht ausschalten.",
        ],
        DiskDone => [
            "Quill is on {0} and verified. Power off, remove the USB stick and start the PC from its disk.",
            "Quill ist auf {0} installiert und geprüft. Ausschalten, den USB-Stick abziehen und den PC von der Festplatte starten.",
        ],
        DiskFailed => ["Installing onto {0} failed. {1}", "Die Installation auf {0} ist fehlgeschlagen. {1}"],
        Cancel => ["Cancel", "Abbrechen"],
        AdminTitle => ["Administrator password", "Administratorkennwort"],
        AdminHelp => [
            "The administrator password guards the terminal, this assistant, updates from the screen, installing onto a disk and the factory reset.",
            "Das Administratorkennwort schützt das Terminal, diesen Assistenten, Updates vom Bildschirm, die Installation auf eine Festplatte und das Zurücksetzen.",
        ],
        AdminSet => ["Set an administrator password", "Ein Administratorkennwort festlegen"],
        AdminNone => [
            "No password: anyone at the keyboard controls this device",
            "Kein Kennwort: jeder an der Tastatur kontrolliert dieses Gerät",
        ],
        AdminKeep => ["Keep the current password", "Das bisherige Kennwort behalten"],
        AdminPassword => ["Password", "Kennwort"],
        AdminRepeat => ["The same again", "Noch einmal dasselbe"],
        AdminTooShort => ["At least {0} characters ({1} more).", "Mindestens {0} Zeichen (noch {1})."],
        AdminDiffers => ["The two passwords differ.", "Die beiden Kennwörter sind verschieden."],
        AdminSummarySet => ["set", "festgelegt"],
        AdminSummaryNone => ["none (not recommended)", "keines (nicht empfohlen)"],
        AdminSummaryKeep => ["unchanged", "unverändert"],
        AdminNoneWarning => [
            "No administrator password is set: anyone at the keyboard controls this device. Run the Setup Assistant again to set one.",
            "Kein Administratorkennwort gesetzt: jeder an der Tastatur kontrolliert dieses Gerät. Richten Sie im Einrichtungsassistenten eines ein.",
        ],
        PasswordPrompt => ["Administrator password for: {0}", "Administratorkennwort für: {0}"],
        PasswordWrong => ["Wrong password. Next try in {0} s.", "Falsches Kennwort. Nächster Versuch in {0} s."],
        PasswordWait => ["Wait {0} s after the wrong passwords.", "Nach den falschen Kennwörtern {0} s warten."],
        PasswordLocked => [
            "The administrator password cannot be checked ({0}). Only the recovery opens this device: hold R while it starts.",
            "Das Administratorkennwort kann nicht geprüft werden ({0}). Nur die Wiederherstellung öffnet dieses Gerät: beim Start R gedrückt halten.",
        ],
        ActionReset => ["Reset to factory settings", "Auf Werkseinstellungen zurücksetzen"],
        ConfirmReset => [
            "Wipe the settings and the administrator password and restart? The firmware, its trust state and its history stay.",
            "Einstellungen und Administratorkennwort löschen und neu starten? Die Firmware, ihr Vertrauensstatus und ihr Verlauf bleiben.",
        ],
        SetupTitle => ["Setup", "Setup"],
        SetupBack => ["Back", "Zurück"],
        SetupForward => ["Forward", "Vor"],
        SetupUp => ["Up", "Nach oben"],
        SetupSearch => ["Search (Ctrl+F)", "Suchen (Strg+F)"],
        SetupApply => ["Apply", "Übernehmen"],
        SetupClose => ["Close", "Schließen"],
        SetupHits => ["Found in the Setup: {0}", "In der Einrichtung gefunden: {0}"],
        SetupNoHits => ["Nothing matches this search.", "Nichts passt zu dieser Suche."],
        SetupChoose => ["Choose a page on the left, or search.", "Wählen Sie links eine Seite oder suchen Sie."],
        SetupSaved => ["Saved. In effect now: {0}. After a restart: {1}.", "Gespeichert. Sofort wirksam: {0}. Nach einem Neustart: {1}."],
        SetupInvalid => ["Nothing saved: mend the fields marked in red first ({0}).", "Nichts gespeichert: zuerst die rot markierten Felder korrigieren ({0})."],
        SetupUnchanged => ["Nothing changed.", "Nichts geändert."],
        SetupNotSaved => ["Not saved: {0}. The saved settings are unchanged.", "Nicht gespeichert: {0}. Die gespeicherten Einstellungen bleiben."],
        SetupUnsaved => ["Changes not applied. Escape again closes without them.", "Änderungen nicht übernommen. Escape erneut schließt ohne sie."],
        ActionLocalSetup => ["Setup: all settings (Ctrl+Alt+S)", "Einrichtung: alle Einstellungen (Strg+Alt+S)"],
        SetupModes => ["The screen offers", "Der Bildschirm bietet"],
        SetupKeepTitle => ["Keep this resolution?", "Diese Auflösung behalten?"],
        SetupKeepText => ["The screen goes back to the resolution before in {0} s unless you keep this one.", "Der Bildschirm kehrt in {0} s zur vorigen Auflösung zurück, wenn Sie diese nicht behalten."],
        SetupKeep => ["Keep", "Behalten"],
        SetupGoBack => ["Go back", "Zurück"],
        SetupReverted => ["The resolution went back to {0}.", "Die Auflösung ist zurück auf {0}."],
    }
}

/// `text` with `{0}`, `{1}` replaced by `args`.
pub fn fill(text: &str, args: &[&str]) -> String {
    let mut s = text.to_string();
    for (i, a) in args.iter().enumerate() {
        s = s.replace(&format!("{{{i}}}"), a);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_is_translated_and_placeholders_agree() {
        // Msg has no iterator; walk the discriminants through a list that
        // the match above keeps complete.
        let all = [
            Msg::Assistant,
            Msg::StepOf,
            Msg::Back,
            Msg::Next,
            Msg::Finish,
            Msg::LanguageTitle,
            Msg::LanguageHelp,
            Msg::KeyboardTitle,
            Msg::KeyboardHelp,
            Msg::KeyboardTry,
            Msg::TimezoneTitle,
            Msg::TimezoneHelp,
            Msg::TimezoneFilter,
            Msg::TimezoneNone,
            Msg::DateTimeTitle,
            Msg::DateTimeHelp,
            Msg::Date,
            Msg::Time,
            Msg::DateInvalid,
            Msg::TimeInvalid,
            Msg::LicenceTitle,
            Msg::LicenceHelp,
            Msg::LicenceGateway,
            Msg::LicenceSkip,
            Msg::GatewayTitle,
            Msg::GatewayHelp,
            Msg::GatewayAddress,
            Msg::GatewayFingerprint,
            Msg::GatewayOtp,
            Msg::GatewayConnect,
            Msg::AddressInvalid,
            Msg::FingerprintHint,
            Msg::FingerprintInvalid,
            Msg::OtpEmpty,
            Msg::GatewayChecking,
            Msg::GatewayReady,
            Msg::GatewayMismatch,
            Msg::GatewayUnreachable,
            Msg::GatewayRefused,
            Msg::GatewayPending,
            Msg::GatewayFailed,
            Msg::FinishTitle,
            Msg::FinishHelp,
            Msg::SaveFailed,
            Msg::HomeTitle,
            Msg::HomeUnit,
            Msg::HomeHostname,
            Msg::HomeAddresses,
            Msg::HomeFirmware,
            Msg::HomeManagement,
            Msg::HomeNotEnrolled,
            Msg::HomeEnrolled,
            Msg::HomeRenewalFailed,
            Msg::HomeEnrollmentUnreadable,
            Msg::HomeSlot,
            Msg::HomeNoAddress,
            Msg::ActionSetup,
            Msg::SetupTitle,
            Msg::SetupBack,
            Msg::SetupForward,
            Msg::SetupUp,
            Msg::SetupSearch,
            Msg::SetupApply,
            Msg::SetupClose,
            Msg::SetupHits,
            Msg::SetupNoHits,
            Msg::SetupChoose,
            Msg::SetupSaved,
            Msg::SetupInvalid,
            Msg::SetupUnchanged,
            Msg::SetupNotSaved,
            Msg::SetupUnsaved,
            Msg::ActionLocalSetup,
            Msg::SetupModes,
            Msg::SetupKeepTitle,
            Msg::SetupKeepText,
            Msg::SetupKeep,
            Msg::SetupGoBack,
            Msg::SetupReverted,
            Msg::ActionUpdate,
            Msg::ActionTerminal,
            Msg::ActionReboot,
            Msg::ActionPowerOff,
            Msg::UpdateNone,
            Msg::TerminalHint,
            Msg::Yes,
            Msg::No,
            Msg::ConfirmReboot,
            Msg::ConfirmPowerOff,
            Msg::LicenceSkipped,
            Msg::LicenceViaGateway,
            Msg::UpdateConfirm,
            Msg::UpdateNetConfirm,
            Msg::UpdateNetTitle,
            Msg::UpdateNetRunning,
            Msg::UpdateRunning,
            Msg::UpdateDone,
            Msg::UpdateFailed,
            Msg::ActionInstallDisk,
            Msg::DiskNone,
            Msg::DiskChoose,
            Msg::DiskConfirm,
            Msg::DiskSettings,
            Msg::DiskRunning,
            Msg::DiskDone,
            Msg::DiskFailed,
            Msg::Cancel,
            Msg::AdminTitle,
            Msg::AdminHelp,
            Msg::AdminSet,
            Msg::AdminNone,
            Msg::AdminKeep,
            Msg::AdminPassword,
            Msg::AdminRepeat,
            Msg::AdminTooShort,
            Msg::AdminDiffers,
            Msg::AdminSummarySet,
            Msg::AdminSummaryNone,
            Msg::AdminSummaryKeep,
            Msg::AdminNoneWarning,
            Msg::PasswordPrompt,
            Msg::PasswordWrong,
            Msg::PasswordWait,
            Msg::PasswordLocked,
            Msg::ActionReset,
            Msg::ConfirmReset,
        ];
        for m in all {
            let [en, de] = both(m);
            assert!(!en.is_empty() && !de.is_empty(), "{m:?}");
            for i in 0..3 {
                let p = format!("{{{i}}}");
                assert_eq!(en.contains(&p), de.contains(&p), "{m:?}: placeholder {p}");
            }
        }
        assert_eq!(fill(text(Lang::De, Msg::StepOf), &["2", "7"]), "Schritt 2 von 7");
    }
}
