"""A socket-activated HTTP server in plain Python 3 (standard library only).

wrangle binds the socket once and hands it to every instance as file descriptor 3, with the
systemd protocol: LISTEN_FDS (how many), LISTEN_FDNAMES (their names) and LISTEN_PID (the pid they
are meant for). The server:

- checks that the sockets are really meant for this process (LISTEN_PID == its own pid), as
  libsystemd's sd_listen_fds() does;
- serves HTTP on fd 3, many requests at once (a thread each);
- tells wrangle it is ready with sd_notify's READY=1 on $NOTIFY_SOCKET (readiness per instance:
  an HTTP probe on the shared address could reach any instance, this one cannot);
- on SIGTERM stops accepting and finishes the requests it has accepted, then exits: connections
  that are still waiting in the socket's queue are served by the other instances.

SIGTERM is taken with sigwait() in the main thread, never by a Python signal handler: a handler
runs between two bytecodes of the main thread, wherever it is, even while that thread holds one
of the threading module's internal locks (socketserver's main loop takes one each time it reaps
finished request threads). A handler that starts a thread there (as one calling
server.shutdown() must, since shutdown() waits for the main loop) deadlocks: the new thread
waits for that lock, the main thread waits for the new thread. The server then never exits, is
SIGKILLed after stop_timeout, and the requests it had accepted are reset.

GET / answers with the instance number and pid, so you can watch a reload replace them:

    curl http://127.0.0.1:8080/
"""

import http.server
import json
import os
import signal
import socket
import sys
import threading
import time

SD_LISTEN_FDS_START = 3


def listen_fds():
    """The sockets handed over by socket activation, by name (an empty dict without any)."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return {}
    count = int(os.environ.get("LISTEN_FDS", "0"))
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    fds = {}
    for index in range(count):
        fd = SD_LISTEN_FDS_START + index
        name = names[index] if index < len(names) else "unknown"
        fds[name] = socket.socket(fileno=fd)
    return fds


def notify(state):
    """sd_notify(3): one datagram to $NOTIFY_SOCKET, when there is one."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        # Never blocks: a manager that stopped reading must not hold this process up.
        sock.setblocking(False)
        sock.sendto(state.encode(), path)


class Handler(http.server.BaseHTTPRequestHandler):
    # One request per connection: nothing is left half-open when the instance stops.
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        delay = float(os.environ.get("RESPONSE_DELAY", "0"))
        if delay:
            time.sleep(delay)
        body = json.dumps(
            {"instance": os.environ.get("WRANGLE_INSTANCE"), "pid": os.getpid()}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Requests in flight are finished before the process exits (server_close joins them).
    daemon_threads = False
    block_on_close = True


def main():
    # Blocked before any thread starts, so every thread inherits the mask and the signals wait
    # for sigwait() below instead of interrupting whatever the main thread is doing.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    sockets = listen_fds()
    if "http" not in sockets:
        sys.exit("no socket named http was passed (LISTEN_FDNAMES=http, LISTEN_PID = my pid)")
    server = Server(("", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sockets["http"]
    # Shared by every instance: select() then a non-blocking accept, so an instance that lost
    # the race for a connection goes back to select() instead of blocking in accept().
    server.socket.setblocking(False)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    print(f"instance {os.environ.get('WRANGLE_INSTANCE')} serving (pid {os.getpid()})", flush=True)
    notify("READY=1")
    signal.sigwait(stop_signals)
    try:
        notify("STOPPING=1")
    except OSError:
        # Only informational, and the manager that set NOTIFY_SOCKET may be gone (a daemon
        # that was killed and replaced): nothing may keep the requests from being finished.
        pass
    # Stops accepting (returns once serve_forever has), then finishes the requests already
    # accepted; the socket itself stays open in wrangle, its queue served by the other instances.
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
