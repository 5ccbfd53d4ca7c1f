#!/usr/bin/env python3
"""A POS speaking the reference protocol (../shared/pos-api.md), for the field test.

Serves `POST /api/menu` and `POST /api/images` for every store folder under
ROOT (ROOT/<storeId>/menu.json, images.json, img/), checking the
X-POS-API-KEY header against the file KEY. Image URLs are rewritten to
`<storeId>/<url>`, relative to the base URL, and served by `GET`.
If ROOT/DELAY holds a number, every menu request waits that many seconds
first (a POS that is slow right now). Binds 127.0.0.1 on PORT, or on a free
port, and writes the port to PORT_FILE once it listens.

usage: mock_pos.py ROOT KEY_FILE PORT_FILE [PORT]
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, KEY_FILE, PORT_FILE = sys.argv[1:4]
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class Pos(BaseHTTPRequestHandler):
    def send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        with open(KEY_FILE, encoding="utf-8") as handle:
            key = handle.read().strip()
        if self.headers.get("X-POS-API-KEY") != key:
            return self.send(401, b'{"error":"bad key"}')
        store = str(request.get("storeId", ""))
        folder = os.path.join(ROOT, store)
        if "/" in store or not store or not os.path.isdir(folder):
            return self.send(404, b'{"error":"unknown store"}')
        if self.path == "/api/menu":
            delay_file = os.path.join(ROOT, "DELAY")
            if os.path.exists(delay_file):
                with open(delay_file, encoding="utf-8") as handle:
                    time.sleep(float(handle.read().strip() or "0"))
            body = read_json(os.path.join(folder, "menu.json"))
        elif self.path == "/api/images":
            body = read_json(os.path.join(folder, "images.json"))
            for image in body.get("images", []):
                image["url"] = f"{store}/{image['url']}"
        else:
            return self.send(404, b'{"error":"no such call"}')
        self.send(200, json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def do_GET(self):
        parts = self.path.lstrip("/").split("/")
        if len(parts) != 3 or parts[1] != "img" or ".." in parts:
            return self.send(404, b"")
        path = os.path.join(ROOT, *parts)
        if not os.path.isfile(path):
            return self.send(404, b"")
        with open(path, "rb") as handle:
            self.send(200, handle.read(), "application/octet-stream")

    def log_message(self, format, *args):
        sys.stderr.write("mock-pos: " + (format % args) + "\n")


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Pos)
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as handle:
    handle.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
