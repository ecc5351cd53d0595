"""Manager adapters of bench/run: one class per tool, so that each scenario is written once.

A scenario asks a Manager for a Session (a temporary directory with its own state/home
directories and a run marker BENCH_MARK=<uuid> in every process it starts), hands it a list of
Service specs, and then uses the same small interface whatever the tool:

    session.start(services)         write the tool's config, run its start command (returns when
                                    that command returns; the harness waits for the services)
    session.start_argv(services)    the same command, to spawn and time it
    session.status_argv()           the status command (`wrangle ps --json`, `pm2 jlist`, ...)
    session.stop_argv()             stop every service *and* the manager (`wrangle down`,
                                    `pm2 kill`, `supervisorctl shutdown`, ...)
    session.manager_pids()          the manager's own processes (not the services)
    session.log_file(name)          where the tool writes a service's stdout
    session.kill_manager()          SIGKILL of the manager's main process
    session.cleanup()               stop, SIGKILL the manager and everything marked, remove dir

Each adapter configures its tool with the fastest honest settings for the workload; METHOD.md
lists them beside the tool's defaults.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchlib import MARK_VAR, BenchError, children, cmdline, kill_marked, marked_pids, proc_stat_fields


@dataclass
class Service:
    name: str
    argv: list[str]
    restart: str = "always"          # "always", "never", or "fast" (crash loop: restart at once)
    ready_http: str | None = None    # readiness URL, for the tools that gate on it
    depends_on: str | None = None    # one dependency (a chain), for the tools that order


def sleeper(name: str) -> Service:
    return Service(name, ["sleep", "100000"])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Session:
    tool = "?"

    live: list["Session"] = []

    def __init__(self, manager: "Manager", label: str):
        self.manager = manager
        parent = manager.paths.get("workdir")
        if parent:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"wbench-{self.tool}-{label}-", dir=parent)
        self.mark = uuid.uuid4().hex
        self.env = dict(os.environ)
        self.env[MARK_VAR] = self.mark
        self.env["NO_COLOR"] = "1"
        self.env.pop("CLICOLOR_FORCE", None)
        self.known_manager_pids: set[int] = set()
        Session.live.append(self)
        manager.marks.append(self.mark)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def run(self, argv: list[str], limit: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, cwd=self.dir, env=self.env, capture_output=True, text=True,
                                timeout=limit, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise BenchError(f"{' '.join(argv[:3])} exited {result.returncode}: "
                             f"{(result.stdout + result.stderr).strip()[-600:]}")
        return result

    # the interface ------------------------------------------------------------------------
    def start_argv(self, services: list[Service]) -> list[str]:
        raise NotImplementedError

    def start(self, services: list[Service]) -> None:
        self.run(self.start_argv(services), limit=300)
        self.remember_manager()

    def status_argv(self) -> list[str]:
        raise NotImplementedError

    def stop_argv(self) -> list[str]:
        raise NotImplementedError

    def manager_pids(self) -> list[int]:
        raise NotImplementedError

    def log_file(self, name: str) -> Path:
        raise NotImplementedError

    def main_pid(self) -> int:
        return self.manager_pids()[0]

    def kill_manager(self) -> None:
        sigkill(self.main_pid())

    def remember_manager(self) -> None:
        try:
            self.known_manager_pids.update(self.manager_pids())
        except (BenchError, OSError, ValueError):
            pass

    def service_pids(self) -> list[int]:
        """Live marked processes that are not the manager's own."""
        own = set(self.known_manager_pids)
        return [pid for pid in marked_pids(self.mark) if pid not in own]

    def cleanup(self) -> int:
        """Stops everything of this session; returns how many processes had to be SIGKILLed
        after the tool's own stop command."""
        if marked_pids(self.mark):
            try:
                self.run(self.stop_argv(), limit=60, check=False)
            except (subprocess.TimeoutExpired, BenchError, OSError, NotImplementedError):
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(alive(p) for p in self.known_manager_pids):
                time.sleep(0.02)
        for pid in self.known_manager_pids:
            sigkill(pid)
        killed = kill_marked(self.mark)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in Session.live:
            Session.live.remove(self)
        return killed

    @classmethod
    def cleanup_all(cls) -> None:
        for session in list(cls.live):
            try:
                session.cleanup()
            except Exception:  # noqa: BLE001 - best effort on the way out
                for pid in session.known_manager_pids:
                    sigkill(pid)
                kill_marked(session.mark)


class Manager:
    name = "?"
    session_class = Session

    def __init__(self, version: str, paths: dict[str, str], how: str):
        self.version = version
        self.paths = paths
        self.how = how
        self.marks: list[str] = []

    def session(self, label: str) -> Session:
        return self.session_class(self, label)

    def probe(self) -> str:
        """Empty when the tool can run the workload here, else why not."""
        return ""


# ---------------------------------------------------------------------------------------------
# wrangle


class WrangleSession(Session):
    tool = "wrangle"

    def __init__(self, manager, label):
        super().__init__(manager, label)
        self.home = self.path("home")
        self.env["WRANGLE_HOME"] = self.home
        self.daemon: int | None = None
        # Project-level tables put before the services (e.g. `[monitor]`).
        self.extra_toml = ""

    def config(self, services: list[Service]) -> str:
        parts = [self.extra_toml] if self.extra_toml else []
        for service in services:
            lines = [f"[services.{service.name}]", f"command = {json.dumps(service.argv)}"]
            if service.restart == "never":
                lines.append('restart = "never"')
            elif service.restart == "fast":
                lines += ['restart = "on-failure"', 'backoff_initial = "0s"',
                          'backoff_max = "1ms"', "max_restarts = 1000", 'restart_window = "1s"']
            if service.ready_http:
                lines.append(f'ready = {{ http = "{service.ready_http}" }}')
            if service.depends_on:
                lines.append(f'depends_on = ["{service.depends_on}"]')
            parts.append("\n".join(lines) + "\n")
        return "\n".join(parts)

    def start_argv(self, services):
        Path(self.path("wrangle.toml")).write_text(self.config(services))
        return [self.manager.paths["wrangle"], "up", "-d"]

    def start(self, services):
        result = self.run(self.start_argv(services), limit=300)
        marker = "running in the background (daemon PID "
        for line in result.stdout.splitlines():
            if marker in line:
                self.daemon = int(line.split(marker)[1].split(")")[0])
        self.remember_manager()

    def status_argv(self):
        return [self.manager.paths["wrangle"], "ps", "--json"]

    def stop_argv(self):
        return [self.manager.paths["wrangle"], "down"]

    def daemon_pid(self) -> int:
        if self.daemon is None:
            self.daemon = json.loads(self.run(self.status_argv()).stdout)["daemon_pid"]
        return self.daemon

    def manager_pids(self):
        """The daemon, then its sentinel: its parent (`wrangle __sentinel --daemon`), or its
        child (`wrangle __sentinel`) in builds before the sentinel moved above the daemon, so
        that an older binary can be measured beside a newer one."""
        daemon = self.daemon_pid()
        fields = proc_stat_fields(daemon)
        parent = int(fields[3]) if fields else 0
        above = [parent] if parent > 1 and "__sentinel" in cmdline(parent) else []
        beside = [pid for pid in children(daemon) if "__sentinel" in cmdline(pid)]
        return [daemon] + above + beside

    def log_file(self, name):
        dirs = list(Path(self.home, "projects").glob("*/logs"))
        if len(dirs) != 1:
            raise BenchError(f"expected one project log dir under {self.home}, found {dirs}")
        return dirs[0] / f"{name}.log"

    def main_pid(self):
        return self.daemon_pid()


class Wrangle(Manager):
    name = "wrangle"
    session_class = WrangleSession


# ---------------------------------------------------------------------------------------------
# PM2


class Pm2Session(Session):
    tool = "pm2"

    def __init__(self, manager, label):
        super().__init__(manager, label)
        self.env["PM2_HOME"] = self.path("pm2home")
        self.env["PM2_DISABLE_VERSION_CHECK"] = "true"
        os.makedirs(self.path("logs"), exist_ok=True)

    def pm2(self, *args: str) -> list[str]:
        return [self.manager.paths["node"], self.manager.paths["pm2"], *args]

    def app(self, service: Service) -> dict:
        app = {
            "name": service.name,
            "script": service.argv[0],
            "args": service.argv[1:],
            "interpreter": "none",
            "exec_mode": "fork",
            "cwd": self.dir,
            "out_file": self.path(f"logs/{service.name}.out.log"),
            "error_file": self.path(f"logs/{service.name}.err.log"),
            "env": {MARK_VAR: self.mark},
            "autorestart": service.restart != "never",
        }
        if service.restart == "fast":
            # PM2's own floor: no delay, no exponential backoff, and never "errored" for
            # restarting too often (defaults: max_restarts 16 within min_uptime 1000 ms).
            app.update({"restart_delay": 0, "min_uptime": 100, "max_restarts": 1000000})
        return app

    def start_argv(self, services):
        Path(self.path("ecosystem.json")).write_text(
            json.dumps({"apps": [self.app(s) for s in services]}, indent=1))
        return self.pm2("start", self.path("ecosystem.json"))

    def status_argv(self):
        return self.pm2("jlist")

    def stop_argv(self):
        return self.pm2("kill")

    def manager_pids(self):
        try:
            pid = int(Path(self.path("pm2home/pm2.pid")).read_text().strip())
        except (FileNotFoundError, ValueError) as error:
            raise BenchError(f"no PM2 daemon pid file: {error}") from error
        return [pid]

    def log_file(self, name):
        return Path(self.path(f"logs/{name}.out.log"))


class Pm2(Manager):
    name = "pm2"
    session_class = Pm2Session


# ---------------------------------------------------------------------------------------------
# supervisord


class SupervisordSession(Session):
    tool = "supervisord"

    def __init__(self, manager, label):
        super().__init__(manager, label)
        os.makedirs(self.path("logs"), exist_ok=True)
        self.conf = self.path("supervisord.conf")

    def config(self, services: list[Service]) -> str:
        d = self.dir
        text = [
            "[unix_http_server]", f"file={d}/supervisor.sock", "",
            "[supervisord]", f"logfile={d}/supervisord.log", f"pidfile={d}/supervisord.pid",
            f"childlogdir={d}/logs", "logfile_maxbytes=0", "loglevel=warn", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{d}/supervisor.sock", "",
        ]
        chain = any(service.depends_on for service in services)
        if not chain:
            # One group: supervisord stops groups one after the other (each program is a group
            # of its own by default, and each group takes a turn of its 1-second main loop),
            # but the programs of one group together.
            text += ["[group:bench]", "programs=" + ",".join(s.name for s in services), ""]
        for priority, service in enumerate(services):
            command = " ".join(_supervisor_quote(arg) for arg in service.argv)
            text += [
                f"[program:{service.name}]",
                f"command={command}",
                f"directory={d}",
                # Distinct priorities order the start (what supervisord offers for a chain),
                # but also serialise the stop, one priority at a time: only for a chain.
                f"priority={priority + 1 if chain else 999}",
                "startsecs=0",
                "autorestart=" + ("false" if service.restart == "never" else "true"),
                "startretries=1000",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={d}/logs/{service.name}.log",
                "stdout_logfile_maxbytes=0",
                "",
            ]
        return "\n".join(text)

    def start_argv(self, services):
        Path(self.conf).write_text(self.config(services))
        return [self.manager.paths["supervisord"], "-c", self.conf]

    def start(self, services):
        super().start(services)
        # supervisord forks into the background and its parent exits at once: wait for the
        # pid file so that manager_pids() has something to read.
        deadline = time.monotonic() + 30
        while not os.path.exists(self.path("supervisord.pid")):
            if time.monotonic() > deadline:
                raise BenchError("supervisord wrote no pid file within 30 s")
            time.sleep(0.005)
        self.remember_manager()

    def status_argv(self):
        return [self.manager.paths["supervisorctl"], "-c", self.conf, "status"]

    def stop_argv(self):
        return [self.manager.paths["supervisorctl"], "-c", self.conf, "shutdown"]

    def manager_pids(self):
        try:
            return [int(Path(self.path("supervisord.pid")).read_text().strip())]
        except (FileNotFoundError, ValueError) as error:
            raise BenchError(f"no supervisord pid file: {error}") from error

    def log_file(self, name):
        return Path(self.path(f"logs/{name}.log"))


def _supervisor_quote(arg: str) -> str:
    """supervisord splits `command` with shlex and expands %(...)s: quote for both."""
    import shlex
    return shlex.quote(arg.replace("%", "%%"))


class Supervisord(Manager):
    name = "supervisord"
    session_class = SupervisordSession


# ---------------------------------------------------------------------------------------------
# shep


def _toml(value) -> str:
    return json.dumps(value)  # a JSON string or list of strings is valid TOML


class ShepSession(Session):
    """shep, running as root, refuses to open log files below a directory it does not own, such
    as /tmp: its sessions live in CACHE/tmp instead (paths["workdir"], set by the installer)."""

    tool = "shep"

    def __init__(self, manager, label):
        super().__init__(manager, label)
        self.env["SHEP_HOME"] = self.path("shephome")
        os.makedirs(self.path("shephome"), mode=0o700, exist_ok=True)
        self.env["SHEP_STYLE"] = "bare"
        os.makedirs(self.path("logs"), exist_ok=True)

    def shep(self, *args: str) -> list[str]:
        return [self.manager.paths["shep"], *args]

    def config(self, services: list[Service]) -> str:
        parts = []
        for service in services:
            lines = [
                "[[app]]",
                f"name = {_toml(service.name)}",
                f"script = {_toml(service.argv[0])}",
                f"args = {_toml(service.argv[1:])}",
                'interpreter = "none"',
                f"cwd = {_toml(self.dir)}",
                f"env = {{ {MARK_VAR} = {_toml(self.mark)} }}",
                "autorestart = " + ("false" if service.restart == "never" else "true"),
            ]
            if service.restart == "fast":
                # No fixed delay, and never given up on (defaults: min_uptime 1 s,
                # max_restarts 16 unstable exits in a row).
                lines += ['restart_delay = "0"', 'min_uptime = "1ms"', "max_restarts = 1000000"]
            if service.ready_http:
                lines.append(f'readiness_probe = {{ kind = "http", target = {_toml(service.ready_http)} }}')
            if service.depends_on:
                lines.append(f"depends_on = [{_toml(service.depends_on)}]")
            parts.append("\n".join(lines) + "\n")
        return "\n".join(parts)

    def start_argv(self, services):
        Path(self.path("Flockfile.toml")).write_text(self.config(services))
        return self.shep("start", self.path("Flockfile.toml"))

    def status_argv(self):
        return self.shep("flock", "--format", "json")

    def stop_argv(self):
        return self.shep("kill")

    def manager_pids(self):
        try:
            return [int(Path(self.path("shephome/pids/shepd.pid")).read_text().split()[0])]
        except (FileNotFoundError, ValueError, IndexError) as error:
            raise BenchError(f"no shep daemon pid file: {error}") from error

    def log_file(self, name):
        # The default place: shep running as root refuses log files in directories it does not
        # own (such as anything below /tmp), but its own home is its own.
        return Path(self.path(f"shephome/logs/{name}-0-out.log"))


class Shep(Manager):
    name = "shep"
    session_class = ShepSession


# ---------------------------------------------------------------------------------------------
# pmdaemon


class PmdaemonSession(Session):
    tool = "pmdaemon"

    def __init__(self, manager, label):
        super().__init__(manager, label)
        home = self.path("home")
        os.makedirs(home, exist_ok=True)
        # pmdaemon keeps its state in ~/.pmdaemon: a private HOME keeps it out of the user's.
        self.env.update({"HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
                         "XDG_DATA_HOME": f"{home}/.local/share"})

    def pmdaemon(self, *args: str) -> list[str]:
        return [self.manager.paths["pmdaemon"], *args]

    def stop_argv(self):
        return self.pmdaemon("delete", "all", "--force")


class Pmdaemon(Manager):
    """pmdaemon 0.1.4 has no long-running supervisor: `pmdaemon start` spawns the service and
    exits. The probe checks that on this machine, and the peer is reported unavailable with
    what was seen, rather than timing a manager that is not there."""

    name = "pmdaemon"
    session_class = PmdaemonSession

    def probe(self) -> str:
        session = self.session("probe")
        try:
            started = session.run(session.pmdaemon("start", "sleep", "--name", "probe", "--",
                                                   "100000"), limit=60, check=False)
            time.sleep(1.0)
            live = marked_pids(session.mark)
            sleeps = [pid for pid in live if cmdline(pid)[:1] == ["sleep"]]
            others = [pid for pid in live if pid not in sleeps]
            if started.returncode == 0 and sleeps and not others:
                ppid = Path(f"/proc/{sleeps[0]}/stat").read_text().rsplit(")", 1)[1].split()[1]
                return (f"{self.version} runs no supervising process: `pmdaemon start` spawned "
                        f"the service and exited (the service's parent is now PID {ppid}), so "
                        "nothing is left to restart it, hold its output or stop it; there is no "
                        "manager to measure")
            if started.returncode != 0:
                return f"`pmdaemon start` exited {started.returncode}: {started.stderr.strip()[-200:]}"
            return ("a pmdaemon process stays running after `pmdaemon start`, but bench/managers.py "
                    "has no adapter for that mode yet")
        finally:
            session.cleanup()


ADAPTERS: dict[str, type[Manager]] = {
    "wrangle": Wrangle,
    "pm2": Pm2,
    "supervisord": Supervisord,
    "shep": Shep,
    "pmdaemon": Pmdaemon,
}
