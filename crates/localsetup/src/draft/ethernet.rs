//! The Ethernet page's fields: which interface they are of, and its
//! addressing (its own table, or the one for every interface).

use super::{choice, list, split_list, Draft};
use crate::Field;
use devconfig::{AddressMode, Addressing};

/// The fields that show the chosen interface's addressing.
pub(crate) const VIEWED: [Field; 4] = [Field::NetMode, Field::Address, Field::Gateway, Field::Dns];

/// The field a reason from `net::config` belongs at.
fn field_of(why: &str) -> Field {
    if why.contains("gateway") {
        Field::Gateway
    } else if why.contains("DNS") {
        Field::Dns
    } else {
        Field::Address
    }
}

impl Draft {
    /// The interface the Ethernet page shows (None: all of them).
    pub fn interface(&self) -> Option<&str> {
        self.iface.as_deref()
    }

    /// The interfaces to choose from: the device's, and those with
    /// settings of their own (an adapter not plugged in now).
    pub fn interfaces(&self) -> Vec<String> {
        let mut v = self.env.interfaces.clone();
        v.extend(self.settings.network.interfaces.keys().cloned());
        v.sort();
        v.dedup();
        v
    }

    /// The addressing the page shows: the interface's own, else the one
    /// for all.
    fn addressing(&self) -> &Addressing {
        match &self.iface {
            Some(n) => self.settings.network.addressing(n),
            None => &self.settings.network.all,
        }
    }

    /// The addressing to change: an interface without its own gets one,
    /// starting from the one for all (its unknown fields stay there).
    fn addressing_mut(&mut self) -> &mut Addressing {
        let n = &mut self.settings.network;
        match &self.iface {
            None => &mut n.all,
            Some(i) => n
                .interfaces
                .entry(i.clone())
                .or_insert_with(|| Addressing { other: Default::default(), ..n.all.clone() }),
        }
    }

    pub(super) fn net_value(&self, f: Field) -> String {
        let a = self.addressing();
        match f {
            Field::NetInterface => self.iface.clone().unwrap_or_else(|| "all".into()),
            Field::NetMode
                if self.iface.as_ref().is_some_and(|i| !self.settings.network.interfaces.contains_key(i)) =>
            {
                "same".into()
            }
            Field::NetMode => match a.mode {
                AddressMode::Dhcp => "dhcp".into(),
                AddressMode::Static => "static".into(),
            },
            Field::Address => a.address.clone(),
            Field::Gateway => a.gateway.clone(),
            Field::Dns => list(&a.dns),
            _ => unreachable!("not a network field"),
        }
    }

    pub(super) fn net_apply(&mut self, f: Field, t: &str) -> Result<(), String> {
        match f {
            Field::NetInterface => {
                let all = choice(f, t).is_some();
                let pick = if all {
                    None
                } else {
                    net::config::check_iface_name(t)?;
                    let known = self.interfaces();
                    if !self.env.interfaces.is_empty() && !known.iter().any(|k| k == t) {
                        return Err(format!(
                            "this device has no interface {t:?}; choose all or one of {}",
                            known.join(", ")
                        ));
                    }
                    Some(t.to_string())
                };
                if pick != self.iface {
                    // What was typed and refused belongs to the interface shown before.
                    for v in VIEWED {
                        self.typed.remove(&v);
                        self.errors.remove(&v);
                    }
                    self.iface = pick;
                }
            }
            Field::NetMode => {
                let v = choice(f, t).ok_or_else(|| format!("{t:?}: choose one of {}", self.choices(f).join(", ")))?;
                match (v, self.iface.clone()) {
                    ("same", None) => {
                        return Err("\"same\" is for one interface; all of them use dhcp or static".into())
                    }
                    ("same", Some(i)) => {
                        self.settings.network.interfaces.remove(&i);
                    }
                    (mode, _) => {
                        self.addressing_mut().mode =
                            if mode == "static" { AddressMode::Static } else { AddressMode::Dhcp };
                    }
                }
            }
            Field::Address => {
                if !t.is_empty() {
                    net::config::parse_cidr(t)?;
                }
                self.addressing_mut().address = t.into();
            }
            Field::Gateway => {
                if !t.is_empty() {
                    t.parse::<std::net::Ipv4Addr>().map_err(|_| format!("{t:?} is not an IPv4 address"))?;
                }
                self.addressing_mut().gateway = t.into();
            }
            Field::Dns => {
                let v = split_list(t);
                if let Some(bad) = v.iter().find(|d| d.parse::<std::net::Ipv4Addr>().is_err()) {
                    return Err(format!("{bad:?} is not an IPv4 address"));
                }
                self.addressing_mut().dns = v;
            }
            _ => unreachable!("not a network field"),
        }
        Ok(())
    }

    /// What does not hold together in the addressing of every interface:
    /// at the field when it is the interface shown, else at the interface
    /// choice, named.
    pub(super) fn net_check(&self, out: &mut Vec<(Field, String)>) {
        let n = &self.settings.network;
        let (_, problems) = net::config::plans(n);
        for (who, why) in problems {
            let a = who.as_deref().map_or(&n.all, |i| n.addressing(i));
            let why = if a.mode == AddressMode::Static && a.address.is_empty() {
                "a static address is needed, e.g. 192.168.1.20/24".to_string()
            } else {
                why
            };
            if who == self.iface {
                let f = field_of(&why);
                if !self.errors.contains_key(&f) && !out.iter().any(|(g, _)| *g == f) {
                    out.push((f, why));
                }
            } else {
                let name = who.unwrap_or_else(|| "all interfaces".into());
                out.push((Field::NetInterface, format!("{name}: {why}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Draft, Env, Field, Settings};
    use devconfig::AddressMode;

    fn draft() -> Draft {
        Draft::new(Settings::default(), Env { interfaces: vec!["eth0".into(), "eth1".into()], ..Env::default() })
    }

    #[test]
    fn one_interface_gets_its_own_static_address_and_the_others_keep_dhcp() {
        let mut d = draft();
        assert_eq!(d.choices(Field::NetInterface), ["all", "eth0", "eth1"]);
        assert_eq!(d.choices(Field::NetMode), ["dhcp", "static"], "all interfaces cannot be 'as for all'");
        assert!(d.set(Field::NetInterface, "eth7").unwrap_err().contains("no interface \"eth7\""));
        assert!(d.set(Field::NetMode, "same").unwrap_err().contains("for one interface"));
        d.set(Field::NetInterface, "eth1").unwrap();
        assert_eq!(d.value(Field::NetMode), "same");
        assert_eq!(d.choices(Field::NetMode), ["dhcp", "static", "same"]);
        d.set(Field::NetMode, "static").unwrap();
        assert_eq!(d.check()[0], (Field::Address, "a static address is needed, e.g. 192.168.1.20/24".into()));
        // Refused typing stays with the interface it was typed for.
        assert!(d.set(Field::Address, "10.1.1.300/24").is_err());
        d.set(Field::NetInterface, "Alle Schnittstellen").unwrap();
        assert_eq!(d.interface(), None);
        assert_eq!((d.value(Field::NetMode), d.value(Field::Address)), ("dhcp".into(), String::new()));
        let c = d.check();
        assert_eq!(c[0].0, Field::NetInterface, "eth1's problem is named at the interface choice: {c:?}");
        assert!(c[0].1.starts_with("eth1: a static address is needed"), "{c:?}");
        d.set(Field::NetInterface, "eth1").unwrap();
        d.set(Field::Address, "10.1.1.5/24").unwrap();
        d.set(Field::Gateway, "10.1.1.1").unwrap();
        let s = d.to_save().unwrap();
        assert_eq!(s.network.all.mode, AddressMode::Dhcp);
        let own = &s.network.interfaces["eth1"];
        assert_eq!(
            (own.mode, own.address.as_str(), own.gateway.as_str()),
            (AddressMode::Static, "10.1.1.5/24", "10.1.1.1")
        );
        assert_eq!(d.changed(), [Field::NetMode, Field::Address, Field::Gateway]);
        // A second default gateway is refused where it is typed.
        d.set(Field::NetInterface, "all").unwrap();
        d.set(Field::NetMode, "static").unwrap();
        d.set(Field::Address, "10.2.2.5/24").unwrap();
        d.set(Field::Gateway, "10.2.2.1").unwrap();
        let c = d.check();
        assert!(
            c.iter().any(|(f, w)| *f == Field::NetInterface
                && w.contains("eth1: only one interface can have the default gateway")),
            "{c:?}"
        );
        d.set(Field::Gateway, "").unwrap();
        assert!(d.to_save().is_ok(), "{:?}", d.check());
        // Back to 'as for all': its own table goes.
        d.set(Field::NetInterface, "eth1").unwrap();
        d.set(Field::NetMode, "Wie für alle Schnittstellen").unwrap();
        assert!(d.to_save().unwrap().network.interfaces.is_empty());
        assert_eq!(d.value(Field::Address), "10.2.2.5/24", "it shows the addressing for all");
    }
}
