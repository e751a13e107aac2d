"""A loopback Graph-API server (http.server in a thread) for the publishing tests: speaks the Instagram API with
Instagram Login and the Threads API as their documentation describes them, errors included, and keeps their state.

OAuth: POST /oauth/access_token (a code works once), GET /access_token (long-lived exchange),
GET /refresh_access_token, GET /me. Publishing: POST /{user}/media (Instagram) or /{user}/threads (Threads) makes a
container, GET /{container} reads its status (IN_PROGRESS for `in_progress_polls` reads, then FINISHED, or what
`container_outcomes` hands out next: "ERROR", "EXPIRED"), POST /{user}/media_publish or /threads_publish publishes a
FINISHED container once (a second publish of it is refused, as the platforms do), GET /{media} reads permalink and
is_ai_generated, GET /{user}/media or /threads lists the newest, and the *_publishing_limit routes count the moving
24 hours. `fail(step, status, code, message)` makes the next call of a step answer a Graph error body;
`drop_after_publish` publishes and then answers 502 (the answer is lost), and `outage_after_publish` makes the status
reads after it fail too, so the run ends without knowing, as a worker killed before storing the answer would.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class GraphServer:
    def __init__(self, *, quota: int = 50):
        self.lock = threading.Lock()
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (user id, username)
        self.used_codes: set[str] = set()
        self.tokens: dict[str, str] = {}  # token -> user id
        self.expired: set[str] = set()
        self.containers: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.publish_times: list[float] = []
        self.quota = quota
        self.in_progress_polls = 0
        self.container_outcomes: list[str] = []
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.drop_after_publish = 0
        self.outage_after_publish = 0  # status reads answering 503 after a publish: the run cannot find out
        self.requests: list[tuple[str, str, dict]] = []
        self._next = 1000
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    params.update({k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
                parts = [p for p in url.path.split("/") if p and not (p.startswith("v") and p[1:2].isdigit())]
                with server.lock:
                    server.requests.append((method, "/".join(parts), dict(params)))
                    status, body = server.route(method, parts, params)
                self._answer(status, body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- Test controls -----------------------------------------------------------------------------------------

    def start(self) -> GraphServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def grant_code(self, code: str, *, user_id: str = "17841400000000001", username: str = "ava.virtual") -> None:
        self.codes[code] = (user_id, username)

    def token_for(self, user_id: str, token: str = "") -> str:
        token = token or f"token-{user_id}"
        self.tokens[token] = user_id
        return token

    def fail(self, step: str, *, status: int = 400, code: int = 100, message: str = "Invalid parameter",
             subcode: int | None = None, times: int = 1) -> None:
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"}
        if subcode:
            error["error_subcode"] = subcode
        self.failures.setdefault(step, []).extend([(status, {"error": error})] * times)

    def published(self) -> list[dict]:
        return list(self.media.values())

    def calls(self, method: str, suffix: str) -> list[dict]:
        return [params for m, path, params in self.requests if m == method and path.endswith(suffix)]

    # --- Protocol ----------------------------------------------------------------------------------------------

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _error(self, status: int, code: int, message: str) -> tuple[int, dict]:
        return status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}

    def _scripted(self, step: str) -> tuple[int, dict] | None:
        queue = self.failures.get(step)
        return queue.pop(0) if queue else None

    def route(self, method: str, parts: list[str], params: dict) -> tuple[int, dict]:
        if parts == ["oauth", "access_token"]:
            code = params.get("code", "")
            if code in self.used_codes or code not in self.codes:
                return self._error(400, 100, "This authorization code has been used or is invalid.")
            self.used_codes.add(code)
            user_id, _ = self.codes[code]
            return 200, {"access_token": self.token_for(user_id, f"short-{code}"), "user_id": user_id,
                         "permissions": "instagram_business_basic,instagram_business_content_publish"}
        if parts in (["access_token"], ["refresh_access_token"]):
            user_id = self.tokens.get(params.get("access_token", ""))
            if user_id is None:
                return self._error(400, 190, "Invalid OAuth access token.")
            return 200, {"access_token": self.token_for(user_id, f"long-{user_id}-{self._id()}"),
                         "token_type": "bearer", "expires_in": 5184000}
        token = params.get("access_token", "")
        if token in self.expired:
            return 400, {"error": {"message": "Error validating access token: Session has expired.",
                                   "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "x"}}
        user_id = self.tokens.get(token)
        if user_id is None:
            return self._error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if parts == ["me"]:
            username = next((name for uid, name in self.codes.values() if uid == user_id), "account")
            return 200, {"id": user_id, "user_id": user_id, "username": username}
        if len(parts) == 2 and parts[0] == user_id:
            return self._user_route(method, user_id, parts[1], params)
        if len(parts) == 1 and method == "GET":
            return self._object(parts[0], params)
        return self._error(400, 100, f"Unsupported {method} request.")

    def _user_route(self, method: str, user_id: str, edge: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and edge in ("media", "threads"):
            failure = self._scripted("create")
            if failure:
                return failure
            container = {"id": self._id(), "user": user_id, "params": params, "polls": 0, "published": False,
                         "outcome": self.container_outcomes.pop(0) if self.container_outcomes else "FINISHED"}
            self.containers[container["id"]] = container
            return 200, {"id": container["id"]}
        if method == "POST" and edge in ("media_publish", "threads_publish"):
            failure = self._scripted("publish")
            if failure:
                return failure
            container = self.containers.get(params.get("creation_id", ""))
            if container is None or container["user"] != user_id:
                return self._error(400, 100, "The media container does not exist.")
            if container["published"]:
                return self._error(400, 9, "The media has already been published.")
            if self._status(container) != "FINISHED":
                return self._error(400, 9007, "Media ID is not available: the media is not ready for publishing.")
            container["published"] = True
            media_id = self._id()
            caption = container["params"].get("caption") or container["params"].get("text", "")
            self.media[media_id] = {
                "id": media_id, "user": user_id, "caption": caption, "container": container["id"],
                "is_ai_generated": container["params"].get("is_ai_generated") == "true",
                "permalink": f"https://www.example.test/p/{media_id}/",
                "children": container["params"].get("children", ""),
                "media_type": container["params"].get("media_type", "IMAGE"),
            }
            self.publish_times.append(time.time())
            if self.outage_after_publish:
                self.fail("status", status=503, code=2, message="Service unavailable", times=self.outage_after_publish)
                self.outage_after_publish = 0
            if self.drop_after_publish:
                self.drop_after_publish -= 1
                return 502, {"error": {"message": "Bad gateway", "code": 2, "is_transient": True}}
            return 200, {"id": media_id}
        if method == "GET" and edge in ("media", "threads"):
            mine = [m for m in reversed(list(self.media.values())) if m["user"] == user_id]
            return 200, {"data": [{"id": m["id"], "caption": m["caption"], "text": m["caption"],
                                   "permalink": m["permalink"]} for m in mine]}
        if method == "GET" and edge in ("content_publishing_limit", "threads_publishing_limit"):
            failure = self._scripted("limit")
            if failure:
                return failure
            used = sum(1 for at in self.publish_times if at > time.time() - 86400)
            return 200, {"data": [{"quota_usage": used, "config": {"quota_total": self.quota,
                                                                    "quota_duration": 86400}}]}
        return self._error(400, 100, f"Unknown edge {edge}.")

    def _status(self, container: dict) -> str:
        if container["published"]:
            return "PUBLISHED"
        if container["polls"] < self.in_progress_polls:
            return "IN_PROGRESS"
        return container["outcome"]

    def _object(self, object_id: str, params: dict) -> tuple[int, dict]:
        if object_id in self.containers:
            failure = self._scripted("status")
            if failure:
                return failure
            container = self.containers[object_id]
            status = self._status(container)
            container["polls"] += 1
            return 200, {"id": object_id, "status_code": status, "status": status,
                         "error_message": "Image could not be fetched" if status == "ERROR" else ""}
        if object_id in self.media:
            media = self.media[object_id]
            return 200, {"id": object_id, "permalink": media["permalink"], "is_ai_generated": media["is_ai_generated"]}
        return self._error(400, 100, f"Object {object_id} does not exist.")
