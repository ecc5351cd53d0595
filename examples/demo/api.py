"""An HTTP API with a health endpoint that only answers 200 once the service has warmed up."""
import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
DB_PORT = int(os.environ.get("DB_PORT", "47310"))
STARTED = time.monotonic()
WARM_UP = 0.8


def db_ping():
    with socket.create_connection(("127.0.0.1", DB_PORT), timeout=1) as conn:
        conn.sendall(b"PING\n")
        return conn.recv(16).strip() == b"PONG"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            warm = time.monotonic() - STARTED > WARM_UP
            healthy = warm and db_ping()
            self.reply(200 if healthy else 503, {"ok": healthy})
        elif self.path == "/api/items":
            self.reply(200, {"items": ["apples", "pears", "plums"]})
        else:
            self.reply(404, {"error": "not found"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"api: {self.command} {self.path} -> {args[1]}")


def stop(signum, frame):
    print("api: shutting down gracefully")
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"api: listening on http://127.0.0.1:{PORT} (warming up)")
server.serve_forever()
