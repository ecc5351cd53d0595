// A socket-activated HTTP server in plain Node.js (no package needed).
//
// wrangle binds the socket once and hands it to every instance as file descriptor 3, with the
// systemd protocol: LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID (the pid the sockets are meant for).
// Node listens on an inherited descriptor with `listen({ fd: 3 })`. Node cannot send sd_notify's
// datagram without a native module, so readiness is a line on stdout that wrangle's `log` probe
// waits for (per instance: an HTTP probe on the shared address could reach any instance).
//
//   curl http://127.0.0.1:47330/

"use strict";

const http = require("http");

const SD_LISTEN_FDS_START = 3;

function listenFds() {
  if (process.env.LISTEN_PID !== String(process.pid)) {
    return {};
  }
  const count = Number(process.env.LISTEN_FDS || "0");
  const names = (process.env.LISTEN_FDNAMES || "").split(":");
  const fds = {};
  for (let index = 0; index < count; index++) {
    fds[names[index] || "unknown"] = SD_LISTEN_FDS_START + index;
  }
  return fds;
}

const fds = listenFds();
if (fds.http === undefined) {
  console.error("no socket named http was passed (LISTEN_FDNAMES=http, LISTEN_PID = my pid)");
  process.exit(1);
}

const instance = process.env.WRANGLE_INSTANCE;
const server = http.createServer((request, response) => {
  const body = JSON.stringify({ instance, pid: process.pid });
  response.writeHead(200, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  response.end(body);
});

server.listen({ fd: fds.http }, () => {
  console.log(`ready: instance ${instance} serving (pid ${process.pid})`);
});

// On SIGTERM: stop accepting, finish what was accepted, exit. Connections still waiting in the
// socket's queue are served by the other instances.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
