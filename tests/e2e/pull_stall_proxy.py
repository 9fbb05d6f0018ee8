#!/usr/bin/python3
"""A registry proxy for tests/e2e/pull_test.sh that stalls one blob download, once.

Forwards GET and HEAD to the registry on 127.0.0.1:UPSTREAM and appends "METHOD PATH STATUS" for
each request to LOG. The first GET of /v2/<name>/blobs/STALL_DIGEST sends the headers and half of
the body, appends "STALLED <digest>" to LOG and then holds the connection, sending nothing more,
until the client goes away: the window in which the test kills kapseld mid-pull, with no timing
guess. Later GETs of the blob are forwarded whole.

usage: pull_stall_proxy.py PORT_FILE UPSTREAM STALL_DIGEST LOG
Binds 127.0.0.1 on a free port and writes the port to PORT_FILE once it listens.
"""

import http.client
import http.server
import os
import select
import sys
import threading

port_file, upstream, stall_digest, log_file = sys.argv[1:5]
stalled = threading.Event()
log_lock = threading.Lock()


def log(line):
    with log_lock, open(log_file, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self, method):
        conn = http.client.HTTPConnection("127.0.0.1", int(upstream), timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(method, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read() if method == "GET" else b""
        log(f"{method} {self.path} {resp.status}")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if method == "HEAD" else str(len(body))
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        conn.close()
        stall = (method == "GET" and resp.status == 200 and
                 self.path.endswith("/blobs/" + stall_digest) and not stalled.is_set())
        if not stall:
            self.wfile.write(body)
            return
        stalled.set()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        log(f"STALLED {stall_digest}")
        # Until the peer closes (kapseld killed): readable with EOF, or an error.
        while True:
            ready, _, _ = select.select([self.connection], [], [], 3600)
            if not ready:
                continue
            try:
                if not self.connection.recv(4096):
                    break
            except OSError:
                break
        self.close_connection = True

    def do_GET(self):
        self.forward("GET")

    def do_HEAD(self):
        self.forward("HEAD")

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
