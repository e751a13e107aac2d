"""A chat-completions server on loopback (http.server in a thread) for the caption writer's tests.

Each request takes the next scripted answer; the last one repeats. Answers: ("reply", text), ("status", code),
("sleep", seconds) (answers too late for the client's timeout), ("raw", bytes) (a body that is not JSON) and
("wait", (threading.Event, text)) (a stalled server: answers `text` once the test sets the event).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    def __init__(self, *answers: tuple[str, object]):
        self.answers = list(answers) or [("reply", "Hello")]
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, **body})
                server.headers.append(dict(self.headers))
                kind, value = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                if kind == "wait":
                    event, value = value
                    event.wait(timeout=60)
                    kind = "reply"
                if kind == "sleep":
                    time.sleep(float(value))
                    kind, value = "reply", "too late"
                if kind == "status":
                    payload = json.dumps({"error": {"message": f"status {value}"}}).encode()
                    self.send_response(int(value))
                    self.send_header("Retry-After", "0")
                elif kind == "raw":
                    payload = bytes(value)
                    self.send_response(200)
                else:
                    payload = json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": value}}],
                    }).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
