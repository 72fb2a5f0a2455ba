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

Slow work answers later: for a text starting with "slow" it answers {} at once (wxgate's rules
reply meanwhile) and sends its answer afterwards as a customer-service message through wxgate's
admin API, POST /admin/messages/custom, when WXGATE_ADMIN_TOKEN (wxgate's) is set and
ADMIN_URL says where wxgate is (default http://127.0.0.1:8000).
"""
import hashlib, hmac, json, os, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WXGATE_WEBHOOK_SECRET"].encode()
ADMIN_TOKEN = os.environ.get("WXGATE_ADMIN_TOKEN", "")
ADMIN_URL = os.environ.get("ADMIN_URL", "http://127.0.0.1:8000").rstrip("/")
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
        elif msg["msg_type"] == "text" and msg["fields"].get("Content", "").startswith("slow") and ADMIN_TOKEN:
            threading.Thread(target=answer_later, args=(msg["openid"], msg["fields"]["Content"])).start()
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

def answer_later(openid, text):
    time.sleep(1)  # the slow work
    message = {"openid": openid, "message": {"type": "text", "content": "slow answer to " + text}}
    request = urllib.request.Request(
        ADMIN_URL + "/admin/messages/custom", data=json.dumps(message).encode(),
        headers={"Authorization": "Bearer " + ADMIN_TOKEN, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            print("sent later:", r.read().decode(), flush=True)
    except urllib.error.HTTPError as e:  # 422: WeChat refused (e.g. 45015); 504: may have been sent
        print("not sent:", e.code, e.read().decode(), flush=True)

host, port = sys.argv[1].rsplit(":", 1) if len(sys.argv) > 1 else ("127.0.0.1", "9100")
server = HTTPServer((host, int(port)), Hook)
print(f"listening on http://{host}:{server.server_port}/", flush=True)
server.serve_forever()
