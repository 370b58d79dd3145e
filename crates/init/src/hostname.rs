//! The hostname: IGEL devices are named `ITC` + the unit ID (bootid).

pub fn hostname_for(unit_id: &str) -> String {
    format!("ITC{unit_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itc_and_the_unit_id() {
        assert_eq!(hostname_for("52540012345F"), "ITC52540012345F");
    }
}
