"""A chat-completions server on loopback (http.server in a thread) for the caption writer's tests, speaking the
OpenAI protocol as the servers the writer meets do (errors included).

Each request takes the next scripted answer; the last one repeats. Answers: ("reply", text), ("reasoning",
(thoughts, text)) (a reasoning model's thoughts in `reasoning_content`, as vLLM, llama.cpp and DeepSeek return
them), ("length", text) (stopped at the token limit: finish_reason "length"), ("refusal", text) (the model's refusal
in `message.refusal`, content null), ("status", code), ("sleep", seconds) (answers too late for the client's
timeout), ("raw", bytes) (a body that is not JSON) and ("wait", (threading.Event, text)) (a stalled server: answers
`text` once the test sets the event).

`refuses`: request fields this server does not take; a request with one is answered 400 before any scripted answer,
as OpenAI answers an unknown argument and servers without structured output answer `response_format`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _completion(model: object, message: dict, finish_reason: str = "stop") -> bytes:
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", **message}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


class ChatServer:
    def __init__(self, *answers: tuple[str, object], refuses: tuple[str, ...] = ()):
        self.answers = list(answers) or [("reply", "Hello")]
        self.refuses = refuses
        self.requests: list[dict] = []
        self.headers: list = []  # each request's headers (http.client.HTTPMessage: case-insensitive)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, **body})
                server.headers.append(self.headers)
                refused = [name for name in server.refuses if name in body]
                if refused:
                    error = {"message": f"Unrecognized request argument supplied: {refused[0]}",
                             "type": "invalid_request_error", "param": refused[0], "code": None}
                    return self._send(400, json.dumps({"error": error}).encode())
                kind, value = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
                if kind == "wait":
                    event, value = value
                    event.wait(timeout=60)
                    kind = "reply"
                if kind == "sleep":
                    time.sleep(float(value))
                    kind, value = "reply", "too late"
                model = body.get("model")
                if kind == "status":
                    payload = json.dumps({"error": {"message": f"status {value}", "type": "server_error"}}).encode()
                    return self._send(int(value), payload, {"Retry-After": "0"})
                if kind == "raw":
                    return self._send(200, bytes(value))
                if kind == "reasoning":
                    thoughts, text = value
                    return self._send(200, _completion(model, {"content": text, "reasoning_content": thoughts}))
                if kind == "refusal":
                    return self._send(200, _completion(model, {"content": None, "refusal": value}))
                finish = "length" if kind == "length" else "stop"
                return self._send(200, _completion(model, {"content": value}, finish))

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
