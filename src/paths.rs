//! TEMPORARY stub until the proc branch is merged.
use std::path::{Path, PathBuf};
#[derive(Debug)] pub struct PathsError(String);
impl std::fmt::Display for PathsError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) } }
pub struct Home { pub root: PathBuf }
pub struct ProjectPaths { pub dir: PathBuf, pub lock_file: PathBuf, pub runtime_dir: PathBuf }
impl Home {
  pub fn from_env() -> Result<Home, PathsError> { Ok(Home { root: PathBuf::from(std::env::var("WRANGLE_HOME").unwrap_or_default()) }) }
  pub fn project(&self, _c: &Path) -> Result<ProjectPaths, PathsError> { let d = self.root.join("p"); std::fs::create_dir_all(d.join("run")).map_err(|e| PathsError(e.to_string()))?; Ok(ProjectPaths { lock_file: d.join("lock"), runtime_dir: d.join("run"), dir: d }) }
}
