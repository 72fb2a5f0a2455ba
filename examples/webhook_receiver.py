#!/usr/bin/env python3
"""A wxgate webhook receiver in a few lines of standard-library Python.

Run:   WXGATE_WEBHOOK_SECRET=... python3 examples/webhook_receiver.py 127.0.0.1:9100
Then:  WXGATE_WEBHOOK_URL=http://127.0.0.1:9100/ in wxgate's environment.

wxgate POSTs each (deduplicated) message or event as JSON with three headers:
  X-Wxgate-Timestamp   Unix seconds when it was sent
  X-Wxgate-Delivery    the push's id (the same for every copy of one push)
  X-Wxgate-Signature   "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))
A delivery that is not signed, older than 5 minutes, or seen before is refused: a captured
delivery cannot be replayed. Answer {"reply": {...}} to reply, or {} for none.
"""
import hashlib, hmac, json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WXGATE_WEBHOOK_SECRET"].encode()
MAX_AGE = 300  # seconds
seen = {}      # delivery id -> when it was accepted, for MAX_AGE

class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        stamp = self.headers.get("X-Wxgate-Timestamp", "")
        delivery = self.headers.get("X-Wxgate-Delivery", "")
        signed = stamp.encode() + b"." + body
        expected = "sha256=" + hmac.new(SECRET, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-Wxgate-Signature", "")):
            return self.refuse(401, "bad signature")
        now = time.time()
        if not stamp.isdigit() or abs(now - int(stamp)) > MAX_AGE:
            return self.refuse(401, "stale delivery")
        for old in [d for d, at in seen.items() if now - at > MAX_AGE]:
            del seen[old]
        if delivery in seen:
            return self.refuse(409, "delivery seen before")
        seen[delivery] = now

        msg = json.loads(body)
        answer = {}
        if msg["msg_type"] == "text" and msg["fields"].get("Content") == "time":
            answer = {"reply": {"type": "text", "content": "webhook says hi to " + msg["openid"]}}
        self.answer(200, answer)

    def refuse(self, status, why):
        self.answer(status, {"error": why})

    def answer(self, status, obj):
        out = json.dumps(obj).encode()
        self.send_response(status)
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
