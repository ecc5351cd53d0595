//! Procfiles (Heroku, foreman): `name: command` lines become `shell = true` services.
//!
//! wrangle runs a Procfile as it is; importing it gives a wrangle.toml to grow from. foreman
//! gives each process a `PORT` (5000, then 5100, ... in file order); a service whose command
//! uses `$PORT` gets that port declared, so wrangle checks it and sets `PORT` the same way.
//! `--env FILE` (foreman's `.env`) becomes the project's `[defaults] env_file`.

use std::path::Path;

use crate::import::draft::{Draft, Entry, Service};
use crate::import::source;
use crate::import::{ImportError, Paths};

/// foreman's first port, and the step between processes.
const FOREMAN_BASE_PORT: u16 = 5000;
const FOREMAN_PORT_STEP: u16 = 100;

pub fn import(path: &Path, env_file: Option<&Path>, paths: &Paths) -> Result<Draft, ImportError> {
    let text = source::read_text(path)?;
    let services = crate::config::procfile_services(path, text)
        .map_err(|error| ImportError::new(error.render(false)))?;
    let mut draft = Draft::default();
    if let Some(env_file) = env_file {
        let written = env_file.display().to_string();
        let relative_to_cwd = std::path::absolute(env_file)
            .map(|path| path.display().to_string())
            .unwrap_or(written);
        // `--env` is relative to where wrangle runs, as foreman's is.
        let for_output = match Path::new(&relative_to_cwd).strip_prefix(&paths.output_dir) {
            Ok(relative) => relative.display().to_string(),
            Err(_) => relative_to_cwd,
        };
        draft.defaults.push(Entry {
            key: "env_file".to_string(),
            value: toml_edit::Value::from(for_output),
            comments: vec!["--env: foreman's env file".to_string()],
            as_table: false,
        });
    }
    for (index, (name, line)) in services.into_iter().enumerate() {
        let mut service = Service::new(name);
        service.set("command", line.as_str());
        service.set("shell", true);
        if uses_port(&line) {
            let port = u16::try_from(index)
                .ok()
                .and_then(|index| index.checked_mul(FOREMAN_PORT_STEP))
                .and_then(|offset| offset.checked_add(FOREMAN_BASE_PORT));
            if let Some(port) = port {
                service.set("port", i64::from(port)).comment(
                    "foreman's PORT for this line: wrangle checks it is free and sets PORT",
                );
            }
        }
        draft.services.push(service);
    }
    Ok(draft)
}

fn uses_port(line: &str) -> bool {
    line.contains("$PORT") || line.contains("${PORT}") || line.contains("${PORT:")
}
