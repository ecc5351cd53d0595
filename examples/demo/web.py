"""A "frontend": serves a page that lists the API's items. Useless without the API."""
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
API_URL = os.environ["API_URL"]

# Fail fast, like a real frontend whose build step needs the API: this is why it depends on it.
with urllib.request.urlopen(f"{API_URL}/api/items", timeout=2) as response:
    print(f"web: API answered {response.status}, rendering with live data")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with urllib.request.urlopen(f"{API_URL}/api/items", timeout=2) as response:
            items = json.load(response)["items"]
        page = "<h1>Items</h1><ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
        data = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print(f"web: {self.command} {self.path} -> {args[1]}")


print(f"web: open http://127.0.0.1:{PORT}/")
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
