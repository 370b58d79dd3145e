//! The IANA time zones, from `zone1970.tab` of the tzdata shipped in the
//! image, grouped by region and filtered as the user types.

pub use devconfig::ZONEINFO;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// "Europe/Berlin".
    pub name: String,
    /// "Europe".
    pub region: String,
    /// "Berlin", or "Argentina/Buenos Aires" below a region.
    pub place: String,
}

impl Zone {
    fn new(name: &str) -> Zone {
        let (region, place) = name.split_once('/').unwrap_or(("", name));
        Zone { name: name.into(), region: region.into(), place: place.replace('_', " ") }
    }

    /// "Europe / Berlin".
    pub fn label(&self) -> String {
        if self.region.is_empty() {
            self.place.clone()
        } else {
            format!("{} / {}", self.region, self.place)
        }
    }
}

/// The zones of a `zone1970.tab` text and UTC, sorted by region then place.
pub fn parse_zone_tab(text: &str) -> Vec<Zone> {
    let mut zones: Vec<Zone> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split('\t').nth(2)).map(Zone::new).collect();
    zones.push(Zone::new("UTC"));
    zones.sort_by(|a, b| (&a.region, &a.place).cmp(&(&b.region, &b.place)));
    zones.dedup();
    zones
}

/// The zones of the image (or an empty list with only UTC when the table
/// is missing).
pub fn system_zones() -> Vec<Zone> {
    let text = std::fs::read_to_string(format!("{ZONEINFO}/zone1970.tab")).unwrap_or_default();
    parse_zone_tab(&text)
}

/// The indexes of the zones whose name contains every word of `query`
/// (case and underscores ignored).
pub fn filter(zones: &[Zone], query: &str) -> Vec<usize> {
    let words: Vec<String> = query.split_whitespace().map(|w| w.to_lowercase().replace('_', " ")).collect();
    zones
        .iter()
        .enumerate()
        .filter(|(_, z)| {
            let hay = z.label().to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAB: &str = "# comment\nDE,DK,NO,SE,SJ\t+5230+01322\tEurope/Berlin\nAR\t-3436-05827\tAmerica/Argentina/Buenos_Aires\nCH,DE,LI\t+4723+00832\tEurope/Zurich\nUS\t+404251-0740023\tAmerica/New_York\tEastern (most areas)\n";

    #[test]
    fn zones_are_grouped_by_region_and_named_readably() {
        let z = parse_zone_tab(TAB);
        let labels: Vec<_> = z.iter().map(Zone::label).collect();
        assert_eq!(
            labels,
            ["UTC", "America / Argentina/Buenos Aires", "America / New York", "Europe / Berlin", "Europe / Zurich"]
        );
        assert_eq!(z[2].name, "America/New_York");
    }

    #[test]
    fn filtering_as_you_type() {
        let z = parse_zone_tab(TAB);
        let names = |q| filter(&z, q).into_iter().map(|i| z[i].name.clone()).collect::<Vec<_>>();
        assert_eq!(names("zur"), ["Europe/Zurich"]);
        assert_eq!(names("new york"), ["America/New_York"]);
        assert_eq!(names("EUROPE"), ["Europe/Berlin", "Europe/Zurich"]);
        assert_eq!(names(""), z.iter().map(|z| z.name.clone()).collect::<Vec<_>>());
        assert!(names("atlantis").is_empty());
    }

    #[test]
    fn the_host_table_parses_when_there_is_one() {
        if let Ok(text) = std::fs::read_to_string("/usr/share/zoneinfo/zone1970.tab") {
            let z = parse_zone_tab(&text);
            assert!(z.len() > 250, "{}", z.len());
            assert!(z.iter().any(|z| z.name == "Europe/Berlin"));
        }
    }
}
