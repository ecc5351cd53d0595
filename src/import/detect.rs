//! `wrangle init`: what a directory holds that a wrangle.toml can start from.
//!
//! In order of preference: a Procfile, a PM2 ecosystem file, a process-compose file, a Compose
//! file (each imported as `wrangle import` would), a `package.json` with a `dev` or `start`
//! script, a Python project with a web entry point (`manage.py`, or a console script of
//! `pyproject.toml` whose name says it serves). Anything else found is mentioned, so the user
//! knows the other imports exist. With nothing to go on, a commented example.

use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::import::draft::{self, Draft, Service};
use crate::import::source::{self, scalar_text};
use crate::import::{Format, ImportError, Request};

/// Files `init` recognises, by format, in order of preference.
const CANDIDATES: &[(Format, &[&str])] = &[
    (Format::Procfile, &["Procfile", "Procfile.dev"]),
    (
        Format::Pm2,
        &[
            "ecosystem.config.js",
            "ecosystem.config.cjs",
            "ecosystem.config.json",
            "ecosystem.config.yaml",
            "ecosystem.config.yml",
            "ecosystem.json",
        ],
    ),
    (
        Format::ProcessCompose,
        &["process-compose.yaml", "process-compose.yml"],
    ),
    (
        Format::Compose,
        &[
            "compose.yaml",
            "compose.yml",
            "docker-compose.yaml",
            "docker-compose.yml",
        ],
    ),
];

/// What `init` found and the draft it makes from it.
#[derive(Debug)]
pub struct Detected {
    /// What the draft was made from, for the user (`"Procfile"`, `"package.json"`, ...).
    pub from: Option<String>,
    pub draft: Draft,
}

/// Looks at `dir` and drafts a wrangle.toml for it.
pub fn detect(dir: &Path) -> Result<Detected, ImportError> {
    let mut found: Vec<(Format, PathBuf)> = Vec::new();
    for (format, names) in CANDIDATES {
        for name in *names {
            let path = dir.join(name);
            if path.is_file() {
                found.push((*format, path));
            }
        }
    }
    // A JavaScript ecosystem file is imported only when asked for by name: evaluating it runs
    // its code, which `init` never does on its own.
    let chosen = found.iter().find(|(_, path)| !is_javascript(path)).cloned();
    let also: Vec<String> = found
        .iter()
        .filter(|(_, path)| Some(path) != chosen.as_ref().map(|(_, chosen)| chosen))
        .map(|(format, path)| {
            let name = file_name(path);
            let command = format!("`wrangle import {} {name}`", format.name());
            match is_javascript(path) {
                true => format!(
                    "Also found {name}: {command} converts it (it runs the file with node, so \
                     init did not)."
                ),
                false => format!("Also found {name}: {command} converts it."),
            }
        })
        .collect();
    let (from, mut draft) = match chosen {
        Some((format, path)) => {
            let env = dir.join(".env");
            let request = Request {
                format,
                source: path.clone(),
                output_dir: dir.to_path_buf(),
                env_file: (format == Format::Procfile && env.is_file()).then_some(env),
            };
            (Some(file_name(&path)), crate::import::import(&request)?)
        }
        None => match from_package_json(dir)? {
            Some(draft) => (Some("package.json".to_string()), draft),
            None => match from_python(dir)? {
                Some((from, draft)) => (Some(from), draft),
                None => (None, example()),
            },
        },
    };
    draft.header.extend(also);
    Ok(Detected { from, draft })
}

fn is_javascript(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "js" || extension == "cjs")
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A `dev` (preferred: it is how the project runs locally) or `start` script.
fn from_package_json(dir: &Path) -> Result<Option<Draft>, ImportError> {
    let path = dir.join("package.json");
    if !path.is_file() {
        return Ok(None);
    }
    let package = source::parse_json(&source::read_text(&path)?, "package.json")?;
    let Some(Value::Mapping(scripts)) = package.get("scripts") else {
        return Ok(None);
    };
    let Some((script, body)) = ["dev", "start"].iter().find_map(|name| {
        scripts
            .get(*name)
            .and_then(scalar_text)
            .map(|body| (*name, body))
    }) else {
        return Ok(None);
    };
    let manager = if dir.join("pnpm-lock.yaml").is_file() {
        "pnpm"
    } else if dir.join("yarn.lock").is_file() {
        "yarn"
    } else if dir.join("bun.lockb").is_file() || dir.join("bun.lock").is_file() {
        "bun"
    } else {
        "npm"
    };
    let name = package
        .get("name")
        .and_then(scalar_text)
        .and_then(|name| crate::import::service_name(name.rsplit('/').next().unwrap_or("")))
        .unwrap_or_else(|| "web".to_string());
    let mut service = Service::new(name);
    service
        .set("command", draft::strings(&[manager, "run", script]))
        .comment(format!("package.json's `{script}` script: {body}"));
    match port_in(&body) {
        Some(port) => {
            service.set("port", i64::from(port));
            let mut ready = toml_edit::InlineTable::new();
            ready.insert(
                "http",
                toml_edit::Value::from(format!("http://127.0.0.1:{port}/")),
            );
            ready.insert("timeout", toml_edit::Value::from("2m"));
            service
                .set("ready", ready)
                .comment("check: ready once this URL answers with a 2xx status");
        }
        None => service.note(
            "check: if it listens on a port, add port = N (checked free before each start) and \
             ready = { http = \"http://127.0.0.1:N/\" } so dependents wait for it",
        ),
    }
    let mut draft = Draft::default();
    draft.header.push(format!(
        "Written by `wrangle init` from package.json ({manager} run {script})."
    ));
    draft.services.push(service);
    Ok(Some(draft))
}

/// `-p 3000`, `--port 3000`, `--port=3000`, `PORT=3000` in a script.
fn port_in(script: &str) -> Option<u16> {
    let words: Vec<&str> = script.split_whitespace().collect();
    for (index, word) in words.iter().enumerate() {
        for prefix in ["--port=", "PORT=", "-p="] {
            if let Some(port) = word.strip_prefix(prefix).and_then(|port| port.parse().ok()) {
                return Some(port);
            }
        }
        if (*word == "-p" || *word == "--port")
            && let Some(port) = words.get(index + 1).and_then(|port| port.parse().ok())
        {
            return Some(port);
        }
    }
    None
}

/// Django's `manage.py`, or a console script of pyproject.toml named like a server.
fn from_python(dir: &Path) -> Result<Option<(String, Draft)>, ImportError> {
    if dir.join("manage.py").is_file() {
        let mut service = Service::new("web");
        service
            .set(
                "command",
                draft::strings(&[
                    "python3",
                    "manage.py",
                    "runserver",
                    "127.0.0.1:8000",
                    "--noreload",
                ]),
            )
            .comment("Django's development server (wrangle restarts it, so its reloader is off)");
        service.set("port", 8000);
        let mut ready = toml_edit::InlineTable::new();
        ready.insert("tcp", toml_edit::Value::from(8000));
        service.set("ready", ready);
        service.note("check: run wrangle from the virtualenv that has Django installed");
        let mut draft = Draft::default();
        draft
            .header
            .push("Written by `wrangle init` from manage.py (Django).".to_string());
        draft.services.push(service);
        return Ok(Some(("manage.py".to_string(), draft)));
    }
    let path = dir.join("pyproject.toml");
    if !path.is_file() {
        return Ok(None);
    }
    let text = source::read_text(&path)?;
    let Ok(document) = text.parse::<toml::Table>() else {
        return Ok(None);
    };
    let scripts = document
        .get("project")
        .and_then(|project| project.get("scripts"))
        .or_else(|| {
            document
                .get("tool")
                .and_then(|tool| tool.get("poetry"))
                .and_then(|poetry| poetry.get("scripts"))
        })
        .and_then(toml::Value::as_table);
    let Some(scripts) = scripts else {
        return Ok(None);
    };
    let serving = |name: &str| {
        [
            "web", "serve", "server", "app", "api", "run", "start", "dev",
        ]
        .iter()
        .any(|word| name.to_ascii_lowercase().contains(word))
    };
    let Some((script, target)) = scripts.iter().find(|(name, _)| serving(name)) else {
        return Ok(None);
    };
    let Some(name) = crate::import::service_name(script) else {
        return Ok(None);
    };
    let mut service = Service::new(name);
    service
        .set("command", draft::strings(&[script.as_str()]))
        .comment(format!(
            "pyproject.toml's console script {script} = {}",
            target.as_str().unwrap_or_default()
        ));
    service.note(
        "check: the script is installed by `pip install -e .`; run wrangle from that virtualenv \
         (or write command = [\".venv/bin/SCRIPT\"])",
    );
    service.note(
        "check: if it listens on a port, add port = N and ready = { http = \"http://127.0.0.1:N/\" }",
    );
    let mut draft = Draft::default();
    draft.header.push(format!(
        "Written by `wrangle init` from pyproject.toml (console script {script})."
    ));
    draft.services.push(service);
    Ok(Some(("pyproject.toml".to_string(), draft)))
}

/// A commented example, when there is nothing to start from.
fn example() -> Draft {
    let mut draft = Draft::default();
    draft.header.extend(
        [
            "Written by `wrangle init`: nothing to import was found here (Procfile, ecosystem",
            "file, Compose or process-compose file, package.json scripts, pyproject.toml).",
            "Replace the example below with your services. Reference: docs/config.md",
        ]
        .map(str::to_string),
    );
    let mut web = Service::new("web");
    web.comments
        .push("An HTTP server; the others start once it answers.".to_string());
    web.set(
        "command",
        draft::strings(&[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            "127.0.0.1",
        ]),
    );
    web.set("port", 8000);
    let mut ready = toml_edit::InlineTable::new();
    ready.insert("http", toml_edit::Value::from("http://127.0.0.1:8000/"));
    web.set("ready", ready);
    web.note("[services.worker]");
    web.note("command = \"./worker --queue default\"");
    web.note("depends_on = [\"web\"]");
    web.note("restart = \"always\"");
    draft.services.push(web);
    draft
}
