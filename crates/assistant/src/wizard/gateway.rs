//! The cloud gateway step: its status line and the TLS check.

use super::{GatewayState, Wizard};
use crate::catalogue::{fill, Msg};
use crate::gateway::GatewayError;
use crate::validate::{self, Fingerprint};

impl Wizard {
    /// The line under the gateway fields.
    pub fn gateway_status(&self) -> Option<String> {
        match &self.gateway {
            GatewayState::NotChecked => None,
            GatewayState::Checking => Some(fill(self.t(Msg::GatewayChecking), &[self.address.text.trim()])),
            GatewayState::Ready => Some(self.t(Msg::GatewayReady).into()),
            GatewayState::Failed(m) => Some(m.clone()),
        }
    }

    /// Runs the TLS check the Gateway step asked for (the runner calls it
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
        self.gateway = match sys.check_gateway(&host, port, &fp) {
            Ok(()) => GatewayState::Ready,
            Err(GatewayError::Mismatch { presented }) => {
                GatewayState::Failed(fill(self.t(Msg::GatewayMismatch), &[&validate::group_fingerprint(&presented)]))
            }
            Err(GatewayError::Unreachable(e)) => {
                GatewayState::Failed(fill(self.t(Msg::GatewayUnreachable), &[self.address.text.trim(), &e]))
            }
        };
        if self.gateway == GatewayState::Ready {
            // Focus Next, so that Enter goes on.
            self.focus = self.controls().len() - 1;
        }
    }
}
