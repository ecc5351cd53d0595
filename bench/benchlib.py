"""Helpers for bench/run: projects in temporary directories, process inspection through /proc,
timing, statistics and clean-up. Standard library only (python3 >= 3.11), Linux only.

Every project gets its own temporary directory, its own WRANGLE_HOME and a unique marker
variable BENCH_MARK=<uuid> in wrangle's environment. Services inherit wrangle's environment, so
every process a scenario starts (wrangle, its sentinel, services and their descendants) carries
the marker; clean-up runs `wrangle down` and then SIGKILLs whatever still carries it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

MARK_VAR = "BENCH_MARK"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


class BenchError(Exception):
    """A scenario could not be measured (as opposed to a target being missed)."""


# ---------------------------------------------------------------------------------------------
# statistics


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    if not values:
        raise BenchError("no samples")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


# ---------------------------------------------------------------------------------------------
# /proc


def proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/pid/stat, numbered like proc(5) minus one (index 0 is the pid)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    close = raw.rfind(")")
    head = raw[: raw.find("(")].strip()
    comm = raw[raw.find("(") + 1 : close]
    return [head, comm] + raw[close + 2 :].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime (proc(5) fields 14 and 15) of the whole process, in clock ticks."""
    fields = proc_stat_fields(pid)
    if fields is None:
        raise BenchError(f"process {pid} is gone")
    return int(fields[13]) + int(fields[14])


def cpu_ns(pid: int) -> int:
    """On-CPU time of every thread of pid, in ns, from /proc/pid/task/*/schedstat (field 1).

    Much finer than clock ticks (10 ms each at 100 Hz). Threads that already exited are not
    counted, so this is for long-lived processes only."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError as error:
        raise BenchError(f"process {pid} is gone") from error
    for task in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total


def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError as error:
        raise BenchError(f"process {pid} is gone") from error
    raise BenchError(f"no VmRSS for {pid} (a zombie?)")


def smaps_rollup_kib(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/smaps_rollup (Rss, Pss, Private_Clean, ...)."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    except FileNotFoundError as error:
        raise BenchError(f"process {pid} is gone") from error
    return fields


def private_kib(pid: int) -> int:
    """The process's private memory (USS: Private_Clean + Private_Dirty of smaps_rollup), what
    the machine gets back if it exits; RSS also counts pages of the binary and libraries that
    other processes share. A page of a file that only this process maps counts as private here
    (and stays in the page cache when it exits)."""
    fields = smaps_rollup_kib(pid)
    if "Private_Clean" not in fields or "Private_Dirty" not in fields:
        raise BenchError(f"no Private_* in /proc/{pid}/smaps_rollup")
    return fields["Private_Clean"] + fields["Private_Dirty"]


def pss_kib(pid: int) -> int:
    """The process's proportional memory (PSS): each resident page divided by the number of
    processes mapping it, so memory shared by N processes is counted once in total."""
    fields = smaps_rollup_kib(pid)
    if "Pss" not in fields:
        raise BenchError(f"no Pss in /proc/{pid}/smaps_rollup")
    return fields["Pss"]


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children(pid: int) -> list[int]:
    found = []
    for candidate in all_pids():
        fields = proc_stat_fields(candidate)
        if fields is not None and fields[3] == str(pid):
            found.append(candidate)
    return found


def is_zombie(pid: int) -> bool:
    fields = proc_stat_fields(pid)
    return fields is None or fields[2] in ("Z", "X")


def wait_exit(proc: subprocess.Popen, limit: float) -> int:
    """`proc.wait(timeout=limit)` without its polling: CPython waits with a timeout by sleeping
    0.5, 1, 2, 4, ... up to 50 ms between checks, so an exit at 20 ms is seen at about 32 ms
    (and one at 33 ms at about 64 ms). A pidfd says the moment the process exits."""
    import select

    fd = os.pidfd_open(proc.pid)
    try:
        if not select.select([fd], [], [], limit)[0]:
            raise subprocess.TimeoutExpired(proc.args, limit)
    finally:
        os.close(fd)
    return proc.wait()


def marked_pids(mark: str) -> list[int]:
    """Live (non-zombie) processes whose environment carries BENCH_MARK=mark."""
    needle = f"{MARK_VAR}={mark}".encode()
    found = []
    own = os.getpid()
    for pid in all_pids():
        if pid == own:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in environ.split(b"\0") and not is_zombie(pid):
            found.append(pid)
    return found


def kill_marked(mark: str, limit: float = 5.0) -> int:
    """SIGKILLs every process carrying the marker (wrangle processes first, so nothing is
    restarted meanwhile) until none is left; returns how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = marked_pids(mark)
        if not pids:
            break
        pids.sort(key=lambda pid: 0 if any("wrangle" in arg for arg in cmdline(pid)[:1]) else 1)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    return len(killed)


# ---------------------------------------------------------------------------------------------
# processes and timing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed_spawn(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, int]:
    """Runs argv with stdin and stdout on /dev/null (stderr too); returns (seconds from just
    before posix_spawn to the reaped exit, exit status). The same path is used for /bin/true
    as the floor of the measurement."""
    devnull = os.open(os.devnull, os.O_RDWR)
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
        ]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
    finally:
        os.chdir(old_cwd)
        os.close(devnull)
    return elapsed, os.waitstatus_to_exitcode(status)


class LineWatcher:
    """Reads a child's stdout on a thread, keeping every line with the perf_counter time it
    was read, so the main thread can wait for a line or for the exit without polling."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.eof = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            now = time.perf_counter()
            with self.cond:
                self.lines.append((now, raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, text: str, limit: float) -> float:
        """Returns the perf_counter time when a line containing text was read."""
        deadline = time.perf_counter() + limit
        checked = 0
        with self.cond:
            while True:
                for seen, line in self.lines[checked:]:
                    if text in line:
                        return seen
                checked = len(self.lines)
                remaining = deadline - time.perf_counter()
                if self.eof:
                    raise BenchError(f"output ended before {text!r}; last lines: "
                                     f"{[line for _, line in self.lines[-5:]]}")
                if remaining <= 0:
                    raise BenchError(f"no line containing {text!r} within {limit}s; last lines: "
                                     f"{[line for _, line in self.lines[-5:]]}")
                self.cond.wait(remaining)

    def text(self) -> str:
        with self.cond:
            return "\n".join(line for _, line in self.lines)


# ---------------------------------------------------------------------------------------------
# projects


class Project:
    """A temporary project directory with its own WRANGLE_HOME and marker."""

    live: list["Project"] = []

    def __init__(self, wrangle: str, label: str):
        self.wrangle = wrangle
        self.dir = tempfile.mkdtemp(prefix=f"wbench-{label}-")
        self.home = os.path.join(self.dir, "home")
        self.mark = uuid.uuid4().hex
        self.env = dict(os.environ)
        self.env.update({
            "WRANGLE_HOME": self.home,
            MARK_VAR: self.mark,
            "NO_COLOR": "1",
        })
        self.env.pop("CLICOLOR_FORCE", None)
        self.foreground: list[subprocess.Popen] = []
        Project.live.append(self)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def write_config(self, text: str) -> None:
        Path(self.path("wrangle.toml")).write_text(text)

    def run(self, *args: str, limit: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([self.wrangle, *args], cwd=self.dir, env=self.env,
                                capture_output=True, text=True, timeout=limit)
        if check and result.returncode != 0:
            raise BenchError(f"wrangle {' '.join(args)} exited {result.returncode}: "
                             f"{(result.stdout + result.stderr).strip()[-800:]}")
        return result

    def timed(self, *args: str) -> tuple[float, int]:
        return timed_spawn([self.wrangle, *args], self.env, self.dir)

    def up_detached(self) -> int:
        """`wrangle up -d`; returns the daemon's pid."""
        result = self.run("up", "-d", limit=120)
        return self.daemon_pid_from(result.stdout)

    @staticmethod
    def daemon_pid_from(stdout: str) -> int:
        marker = "running in the background (daemon PID "
        for line in stdout.splitlines():
            if marker in line:
                return int(line.split(marker)[1].split(")")[0])
        raise BenchError(f"no daemon PID in the output of up -d: {stdout[-400:]}")

    def ps_json(self) -> dict:
        import json
        return json.loads(self.run("ps", "--json").stdout)

    def start_foreground(self) -> tuple[subprocess.Popen, LineWatcher, float]:
        start = time.perf_counter()
        proc = subprocess.Popen([self.wrangle, "up"], cwd=self.dir, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.foreground.append(proc)
        return proc, LineWatcher(proc), start

    def log_dir(self) -> Path:
        dirs = list(Path(self.home, "projects").glob("*/logs"))
        if len(dirs) != 1:
            raise BenchError(f"expected one project log dir under {self.home}, found {dirs}")
        return dirs[0]

    def cleanup(self) -> int:
        """Stops everything of this project; returns how many processes had to be SIGKILLed
        after `wrangle down` (0 when wrangle cleaned up after itself)."""
        for proc in self.foreground:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if os.path.isdir(self.home) and marked_pids(self.mark):
            try:
                self.run("down", limit=60, check=False)
            except subprocess.TimeoutExpired:
                pass
        killed = kill_marked(self.mark)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in Project.live:
            Project.live.remove(self)
        return killed

    @classmethod
    def cleanup_all(cls) -> None:
        for project in list(cls.live):
            try:
                project.cleanup()
            except Exception:  # noqa: BLE001 - best effort on the way out
                kill_marked(project.mark)


def services_toml(count: int, command: str = '["sleep", "100000"]', extra: str = "") -> str:
    parts = []
    for index in range(count):
        parts.append(f"[services.s{index:03d}]\ncommand = {command}\n{extra}")
    return "\n".join(parts)


def wait_until(predicate, limit: float, interval: float = 0.005):
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)
