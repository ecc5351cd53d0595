//! TEMPORARY stub until the proc branch is merged.
use std::path::{Path, PathBuf};
use crate::paths::ProjectPaths;
use crate::spec::{ProjectSpec, ServiceId};
#[derive(Debug)]
pub enum PreflightError { AlreadyRunning { pid: Option<i32>, config: PathBuf }, PortsHeld(Vec<u16>), Other(String) }
impl std::fmt::Display for PreflightError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") } }
pub fn acquire_lock(_p: &ProjectPaths, _c: &Path) -> Result<(), PreflightError> { Ok(()) }
pub fn check_ports(_s: &ProjectSpec, _x: &[ServiceId]) -> Result<(), PreflightError> { Ok(()) }
