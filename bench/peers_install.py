"""Installs the peers bench/run compares wrangle with, each with its ordinary client, into a
cache directory kept between runs (default ~/.cache/wrangle-bench, or $WRANGLE_BENCH_CACHE, or
bench/run --cache DIR). Standard library only.

    pm2          npm install --prefix CACHE/pm2 pm2@VERSION
    supervisord  python3 -m venv CACHE/supervisor; CACHE/supervisor/bin/pip install supervisor==VERSION
    shep         cargo install --locked --root CACHE/shep shep@VERSION
    pmdaemon     cargo install --locked --root CACHE/pmdaemon pmdaemon@VERSION

A peer that is already installed at the pinned version is used as it is. A peer whose install
fails is reported as unavailable with the reason (the last lines of the client's output are kept
in CACHE/<name>.install.log); it never stops the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Pinned versions: change them here, and the next run installs the new one beside the old.
PM2_VERSION = "7.0.4"
SUPERVISOR_VERSION = "4.3.0"
SHEP_VERSION = "0.23.0"
PMDAEMON_VERSION = "0.1.4"

PEERS = ("pm2", "supervisord", "shep", "pmdaemon")


def default_cache() -> Path:
    return Path(os.environ.get("WRANGLE_BENCH_CACHE")
                or Path.home() / ".cache" / "wrangle-bench")


@dataclass
class Installed:
    name: str
    version: str = ""
    paths: dict[str, str] | None = None  # what the adapter needs: binaries, node, ...
    how: str = ""                         # the install command, for the results
    unavailable: str = ""                 # the reason, when the peer cannot be measured


def _run(argv: list[str], log: Path, cwd: str | None = None, env: dict | None = None,
         limit: float = 3600) -> tuple[int, str]:
    """Runs an install step, appending its output to log; returns (exit code, last lines)."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        try:
            result = subprocess.run(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, timeout=limit)
            code = result.returncode
        except FileNotFoundError as error:
            out.write(f"{error}\n")
            return 127, str(error)
        except subprocess.TimeoutExpired:
            out.write(f"timed out after {limit:.0f} s\n")
            return 124, f"timed out after {limit:.0f} s"
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-6:]
    return code, " / ".join(tail)[-500:]


def _first_error(text: str) -> str:
    for part in text.split(" / "):
        if "error" in part.lower():
            return part.strip()[:300]
    return text[-300:]


def install_pm2(cache: Path, log: Path) -> Installed:
    how = f"npm install --prefix {cache}/pm2 pm2@{PM2_VERSION}"
    prefix = cache / "pm2"
    pm2 = prefix / "node_modules" / "pm2" / "bin" / "pm2"
    package = prefix / "node_modules" / "pm2" / "package.json"
    node = shutil.which("node")
    if not node or not shutil.which("npm"):
        return Installed("pm2", how=how, unavailable="node/npm not found (apt-get install nodejs npm)")

    def installed_version() -> str:
        try:
            import json
            return json.loads(package.read_text())["version"]
        except (OSError, ValueError, KeyError):
            return ""

    if installed_version() != PM2_VERSION:
        prefix.mkdir(parents=True, exist_ok=True)
        code, tail = _run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                           f"pm2@{PM2_VERSION}"], log)
        if code != 0 or installed_version() != PM2_VERSION:
            return Installed("pm2", how=how, unavailable=f"npm install failed: {_first_error(tail)}")
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return Installed("pm2", f"{PM2_VERSION} (node {node_version})",
                     {"node": node, "pm2": str(pm2)}, how)


def install_supervisor(cache: Path, log: Path) -> Installed:
    how = (f"python3 -m venv {cache}/supervisor && {cache}/supervisor/bin/pip install "
           f"supervisor=={SUPERVISOR_VERSION}")
    venv = cache / "supervisor"
    bin_dir = venv / "bin"

    def installed_version() -> str:
        python = bin_dir / "python"
        if not python.exists():
            return ""
        result = subprocess.run([str(python), "-c",
                                 "import importlib.metadata as m; print(m.version('supervisor'))"],
                                capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    if installed_version() != SUPERVISOR_VERSION:
        if not (bin_dir / "python").exists():
            code, tail = _run(["python3", "-m", "venv", str(venv)], log)
            if code != 0:
                return Installed("supervisord", how=how,
                                 unavailable=f"python3 -m venv failed: {_first_error(tail)}")
        code, tail = _run([str(bin_dir / "pip"), "install", "--disable-pip-version-check",
                           "--quiet", f"supervisor=={SUPERVISOR_VERSION}"], log)
        if code != 0 or installed_version() != SUPERVISOR_VERSION:
            return Installed("supervisord", how=how,
                             unavailable=f"pip install failed: {_first_error(tail)}")
    python_version = subprocess.run([str(bin_dir / "python"), "--version"], capture_output=True,
                                    text=True).stdout.strip()
    return Installed("supervisord", f"{SUPERVISOR_VERSION} ({python_version})",
                     {"supervisord": str(bin_dir / "supervisord"),
                      "supervisorctl": str(bin_dir / "supervisorctl")}, how)


def install_crate(name: str, crate: str, version: str, binary: str, cache: Path,
                  log: Path) -> Installed:
    """cargo install --locked; when the crate's lock file names a version the registry does not
    serve (seen with mirrors), once more without --locked, and the results say so."""
    root = cache / name
    exe = root / "bin" / binary
    stamp = root / "installed-version"
    how = f"cargo install --locked --root {root} {crate}@{version}"
    if not shutil.which("cargo"):
        return Installed(name, how=how, unavailable="cargo not found")
    note = ""
    if not (exe.exists() and stamp.exists() and stamp.read_text().strip().startswith(version)):
        code, tail = _run(["cargo", "install", "--locked", "--root", str(root),
                           f"{crate}@{version}"], log, cwd="/tmp")
        if code != 0 and ("failed to select a version" in tail or "locked to" in tail):
            note = " (without --locked: its Cargo.lock names a dependency version the registry does not serve)"
            code, tail = _run(["cargo", "install", "--root", str(root), f"{crate}@{version}"],
                              log, cwd="/tmp")
        if code != 0 or not exe.exists():
            return Installed(name, how=how, unavailable=f"cargo install failed: {_first_error(tail)}")
        root.mkdir(parents=True, exist_ok=True)
        stamp.write_text(version + note + "\n")
    else:
        note = stamp.read_text().strip()[len(version):]
    if note:
        how = f"cargo install --root {root} {crate}@{version}" + note
    # A private working directory for the sessions of peers that refuse to keep files below
    # a world-writable directory such as /tmp (shep, as root).
    return Installed(name, version, {binary: str(exe), "workdir": str(cache / "tmp")}, how)


def install(names: list[str], cache: Path) -> dict[str, Installed]:
    """Installs (or finds in the cache) each named peer; never raises."""
    cache.mkdir(parents=True, exist_ok=True)
    found: dict[str, Installed] = {}
    for name in names:
        log = cache / f"{name}.install.log"
        print(f"peer {name}: checking the cache {cache}", flush=True)
        try:
            if name == "pm2":
                found[name] = install_pm2(cache, log)
            elif name == "supervisord":
                found[name] = install_supervisor(cache, log)
            elif name == "shep":
                found[name] = install_crate("shep", "shep", SHEP_VERSION, "shep", cache, log)
            elif name == "pmdaemon":
                found[name] = install_crate("pmdaemon", "pmdaemon", PMDAEMON_VERSION, "pmdaemon",
                                            cache, log)
            else:
                found[name] = Installed(name, unavailable="unknown peer")
        except Exception as error:  # noqa: BLE001 - one peer must not sink the run
            found[name] = Installed(name, unavailable=f"install step raised {type(error).__name__}: {error}")
        peer = found[name]
        print(f"peer {name}: " + (f"unavailable: {peer.unavailable}" if peer.unavailable
                                  else f"{peer.version}"), flush=True)
    return found
