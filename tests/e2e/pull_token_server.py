#!/usr/bin/python3
"""A registry token service for tests/e2e/pull_test.sh (docker's token auth, docs/spec/auth/token.md).

Issues RS256 JWTs that docker-registry's `auth: token:` accepts: signed with KEY, the certificate
CERT (the registry's rootcertbundle) in the x5c header. Basic credentials USER:PASSWORD get every
action asked for; anonymous clients get only pull of repositories under public/; wrong credentials
get a 401. Each request is appended to LOG as one JSON line.

usage: pull_token_server.py PORT_FILE KEY CERT ISSUER USER:PASSWORD LOG
Binds 127.0.0.1 on a free port and writes the port to PORT_FILE once it listens.
"""

import base64
import http.server
import json
import os
import sys
import time
import urllib.parse
import uuid

import jwt  # Debian: python3-jwt
from cryptography import x509  # Debian: python3-cryptography
from cryptography.hazmat.primitives import serialization

port_file, key_file, cert_file, issuer, login, log_file = sys.argv[1:7]
with open(key_file, "rb") as f:
    KEY = f.read()
with open(cert_file, "rb") as f:
    CERT = x509.load_pem_x509_certificate(f.read())
X5C = [base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()]


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        user = ""
        outcome = "anonymous"
        if auth.startswith("Basic "):
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if f"{name}:{password}" != login:
                outcome = "refused"
            else:
                user = name
                outcome = "user"
        with open(log_file, "a") as log:
            log.write(json.dumps({"path": url.path, "scope": query.get("scope", []),
                                  "service": query.get("service", [""])[0],
                                  "auth": outcome}) + "\n")
        if url.path != "/token":
            self.reply(404, {"details": "not found"})
            return
        if outcome == "refused":
            self.reply(401, {"details": "incorrect username or password"})
            return
        access = []
        for scope in " ".join(query.get("scope", [])).split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = [a for a in actions.split(",")
                       if user or (a == "pull" and name.startswith("public/"))]
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": issuer, "sub": user, "aud": query.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        token = jwt.encode(claims, KEY, algorithm="RS256", headers={"x5c": X5C})
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

    def log_message(self, fmt, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
