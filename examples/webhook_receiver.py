#!/usr/bin/env python3
"""A wxgate webhook receiver in a few lines of standard-library Python.

Run:   WXGATE_WEBHOOK_SECRET=... python3 examples/webhook_receiver.py 127.0.0.1:9100
Then:  WXGATE_WEBHOOK_URL=http://127.0.0.1:9100/ in wxgate's environment.

wxgate POSTs each (deduplicated) message or event as JSON, signed in X-Wxgate-Signature as
"sha256=" + hex(HMAC-SHA256(secret, body)). Answer {"reply": {...}} to reply, or {} for none.
"""
import hashlib, hmac, json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WXGATE_WEBHOOK_SECRET"].encode()

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Wxgate-Signature", "")):
            self.send_response(401); self.end_headers(); return
        msg = json.loads(body)
        answer = {}
        if msg["msg_type"] == "text" and msg["fields"].get("Content") == "time":
            answer = {"reply": {"type": "text", "content": "webhook says hi to " + msg["openid"]}}
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

host, port = sys.argv[1].rsplit(":", 1) if len(sys.argv) > 1 else ("127.0.0.1", "9100")
server = HTTPServer((host, int(port)), Hook)
print(f"listening on http://{host}:{server.server_port}/", flush=True)
server.serve_forever()
