//! The cloud gateway step: its status line and the enrollment (the pinned
//! TLS connection, EST with the one-time password, the hello).

use super::{GatewayState, Wizard};
use crate::catalogue::{fill, Msg};
use crate::validate::{self, Fingerprint};
use enroll::Error;

impl Wizard {
    /// Fills in the management server the network names (DHCP option 43,
    /// or `quill-mgmt` in the search domain) when none was typed or saved;
    /// a fingerprint only comes with DHCP (crates/enroll/src/locate.rs).
    pub fn with_found_server(mut self, address: &str, fingerprint: Option<&str>) -> Wizard {
        if self.address.text.trim().is_empty() {
            self.address = crate::field::Field::new(address);
            if let Some(fp) = fingerprint {
                self.fingerprint = crate::field::Field::new(&validate::group_fingerprint(fp));
            }
        }
        self
    }

    /// The line under the gateway fields.
    pub fn gateway_status(&self) -> Option<String> {
        match &self.gateway {
            GatewayState::NotChecked => None,
            GatewayState::Checking => Some(fill(self.t(Msg::GatewayChecking), &[self.address.text.trim()])),
            GatewayState::Ready(e) => Some(fill(self.t(Msg::GatewayReady), &[&e.unit_id, &e.until])),
            GatewayState::Failed(m) => Some(m.clone()),
        }
    }

    /// Runs the enrollment the Gateway step asked for (the runner calls it
    /// after drawing "Connecting ...").
    pub fn run_gateway_check(&mut self, sys: &mut dyn super::System) {
        if self.gateway != GatewayState::Checking {
            return;
        }
        let (Some((host, port)), Fingerprint::Complete(fp)) =
            (validate::address(&self.address.text), validate::fingerprint(&self.fingerprint.text))
        else {
            self.gateway = GatewayState::NotChecked;
            return;
        };
        let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        self.gateway = match sys.enroll(&address, &fp, self.otp.text.trim()) {
            Ok(e) => GatewayState::Ready(e),
            Err(Error::Mismatch { presented }) => {
                GatewayState::Failed(fill(self.t(Msg::GatewayMismatch), &[&validate::group_fingerprint(&presented)]))
            }
            Err(Error::Unreachable(e)) => {
                GatewayState::Failed(fill(self.t(Msg::GatewayUnreachable), &[self.address.text.trim(), &e]))
            }
            Err(Error::Refused { .. }) => GatewayState::Failed(self.t(Msg::GatewayRefused).into()),
            Err(Error::Pending(secs)) => GatewayState::Failed(fill(self.t(Msg::GatewayPending), &[&secs.to_string()])),
            Err(e) => GatewayState::Failed(fill(self.t(Msg::GatewayFailed), &[&e.to_string()])),
        };
        if self.gateway.is_ready() {
            // Focus Next, so that Enter goes on.
            self.focus = self.controls().len() - 1;
        }
    }
}
