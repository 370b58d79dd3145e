//! `fwupdate repair-state`: rebuilds whichever copy of the trust evidence
//! cannot be read from the other one. A damaged state file is kept aside
//! (`updater.json.damaged-N`), never deleted; history that was only in it is
//! lost, the floor and the key statements are not. When neither copy can be
//! read, only an explicit `forget` starts over from a fresh device (rollback
//! floor 0): that is a decision for a person at the device, never automatic.

use crate::control::Updater;
use crate::evidence;
use crate::state::{EventKind, Loaded, State};
use crate::Error;
use blockdev::BlockDevice;
use trust::{Evidence, RecordArea, RecordError};

/// What a repair did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repaired {
    /// Both copies read fine.
    Nothing,
    /// The state on DATA was rebuilt from the trust record (the damaged
    /// file moved to `aside`, when there was one).
    State { aside: Option<std::path::PathBuf>, floor: u64 },
    /// The trust record was rebuilt from the state on DATA.
    Record { floor: u64 },
    /// Neither could be read; started over as a fresh device.
    Forgotten,
}

impl<D: BlockDevice> Updater<D> {
    pub fn repair_state(&mut self, forget: bool) -> Result<Repaired, Error> {
        let _lock = self.lock()?;
        let area = RecordArea::locate(&mut self.dev, self.block_size).map_err(Error::TrustRecord)?;
        let record = area.read(&mut self.dev);
        let loaded = State::read(&self.paths.state);
        let data_ev = match &loaded {
            Loaded::Found(s) => s.evidence().ok(),
            _ => None,
        };
        let data_ok = data_ev.is_some() || matches!(loaded, Loaded::Missing);
        match (data_ok, record) {
            (true, Ok(rec)) => {
                if matches!(loaded, Loaded::Missing) && rec.as_ref().is_some_and(|r| !r.is_fresh()) {
                    let rec = rec.expect("checked");
                    return self.rebuild_state(None, &rec);
                }
                Ok(Repaired::Nothing)
            }
            (false, Ok(Some(rec))) => {
                let aside = self.move_aside()?;
                self.rebuild_state(aside, &rec)
            }
            (false, Ok(None)) if forget => self.forget(&area),
            (true, Err(RecordError::Damaged)) => {
                let ev = data_ev.unwrap_or_default();
                let written = area.write(&mut self.dev, &ev).map_err(Error::TrustRecord)?;
                let mut state = evidence::state_with(loaded, &written);
                state.record(EventKind::Repaired, self.booted.letter(), "", "trust record rebuilt from DATA");
                state.save(&self.paths.state)?;
                Ok(Repaired::Record { floor: written.floor })
            }
            (false, Err(RecordError::Damaged)) if forget => self.forget(&area),
            (false, Ok(None)) | (false, Err(RecordError::Damaged)) => Err(Error::NotOnData(
                "neither the state on DATA nor the trust record on the boot disk can be read; \
                 `fwupdate repair-state --forget` starts over as a fresh device (rollback floor 0, \
                 kept key statements forgotten)"
                    .into(),
            )),
            (_, Err(e)) => Err(Error::TrustRecord(e)),
        }
    }

    fn rebuild_state(&mut self, aside: Option<std::path::PathBuf>, rec: &Evidence) -> Result<Repaired, Error> {
        let mut state = State::fresh();
        state.set_evidence(rec);
        state.record(EventKind::Repaired, self.booted.letter(), "", "state rebuilt from the trust record");
        state.save(&self.paths.state)?;
        Ok(Repaired::State { aside, floor: rec.floor })
    }

    fn forget(&mut self, area: &RecordArea) -> Result<Repaired, Error> {
        self.move_aside()?;
        let written = area.write(&mut self.dev, &Evidence::default()).map_err(Error::TrustRecord)?;
        let mut state = State::fresh();
        state.set_evidence(&written);
        state.record(EventKind::Repaired, self.booted.letter(), "", "both copies unreadable: started over (floor 0)");
        state.save(&self.paths.state)?;
        Ok(Repaired::Forgotten)
    }

    /// Moves a damaged state file to `updater.json.damaged-N`.
    fn move_aside(&self) -> Result<Option<std::path::PathBuf>, Error> {
        let path = State::path(&self.paths.state);
        if !path.exists() {
            return Ok(None);
        }
        let aside =
            (1..).map(|n| path.with_extension(format!("json.damaged-{n}"))).find(|p| !p.exists()).expect("a free name");
        std::fs::rename(&path, &aside).map_err(|source| {
            Error::State(crate::state::StateError::Io { path: path.clone(), op: "moving aside", source })
        })?;
        Ok(Some(aside))
    }
}
