"""A stand-in database: accepts TCP connections and answers PING with PONG."""
import os
import socketserver

PORT = int(os.environ.get("PORT", "47310"))


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"PONG\n" if line.strip() == b"PING" else b"ERR\n")


socketserver.TCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", PORT), Handler) as server:
    print(f"db: ready to accept connections on port {PORT}")
    server.serve_forever()
