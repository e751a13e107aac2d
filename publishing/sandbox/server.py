"""A Graph-API server (http.server in a thread) that speaks the Instagram API with Instagram Login and the Threads
API as their documentation describes them, errors included, keeps their state and shows what it received.

OAuth: GET /{instagram|threads}/oauth/authorize is the consent page (Allow sends the browser to redirect_uri with
`code` and `state`, Deny with error=access_denied), POST /oauth/access_token (a code works once; a code given on the
consent page also checks the PKCE verifier and the redirect_uri), GET /access_token (long-lived exchange),
GET /refresh_access_token, GET /me. Publishing: POST /{user}/media (Instagram) or /{user}/threads (Threads) makes a
container (with `fetch_media`, its image_url is fetched as the platforms do: a failed fetch makes the container
ERROR), GET /{container} reads its status (IN_PROGRESS for `in_progress_polls` reads, then FINISHED, or what
`container_outcomes` hands out next: "ERROR", "EXPIRED"), POST /{user}/media_publish or /threads_publish publishes a
FINISHED container once (a second publish of it is refused, as the platforms do), GET /{media} reads permalink and
is_ai_generated, GET /{user}/media or /threads lists the newest, and the *_publishing_limit routes count the moving
24 hours. Pages: GET / lists what each platform received, GET /p/{media} is a published post's permalink.

Test controls: `fail(step, status, code, message)` makes the next call of a step answer a Graph error body;
`drop_after_publish` publishes and then answers 502 (the answer is lost), and `outage_after_publish` makes the status
reads after it fail too, so the run ends without knowing, as a worker killed before storing the answer would.
With `state_dir`, what it holds (tokens, containers, media, fetched images) survives a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import requests

from publishing.sandbox import pages

PLATFORMS = ("instagram", "threads")
SANDBOX_USERS = {"instagram": "17841400000000777", "threads": "27841400000000777"}
SANDBOX_USERNAME = "sandbox_user"
MAX_IMAGE_BYTES = 8 * 1024 * 1024  # Instagram's limit for a JPEG
FETCH_TIMEOUT = 10.0
_PERSISTED = ("codes", "code_checks", "used_codes", "tokens", "expired", "containers", "media", "publish_times",
              "_next")


class GraphServer:
    def __init__(self, *, quota: int = 50, host: str = "127.0.0.1", port: int = 0, public_host: str = "",
                 fetch_media: bool = False, state_dir: Path | None = None):
        self.lock = threading.Lock()
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (user id, username)
        self.code_checks: dict[str, dict] = {}  # code -> the consent's code_challenge and redirect_uri
        self.used_codes: set[str] = set()
        self.tokens: dict[str, str] = {}  # token -> user id
        self.expired: set[str] = set()
        self.containers: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.images: dict[str, bytes] = {}  # fetched image bytes by container id
        self.publish_times: list[float] = []
        self.quota = quota
        self.fetch_media = fetch_media
        self.in_progress_polls = 0
        self.container_outcomes: list[str] = []
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.drop_after_publish = 0
        self.outage_after_publish = 0  # status reads answering 503 after a publish: the run cannot find out
        self.requests: list[tuple[str, str, dict]] = []
        self._next = 1000
        self.state_dir = Path(state_dir) if state_dir else None
        if self.state_dir:
            self._load()
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.url = f"http://{public_host or host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="publishing-sandbox")

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

    def received(self, platform: str) -> list[dict]:
        """The posts `platform` was sent (top-level containers, newest first) with their images and outcome."""
        rows = []
        for container in reversed(list(self.containers.values())):
            if container.get("platform", "instagram") != platform or container["params"].get("is_carousel_item"):
                continue
            params = container["params"]
            children = [self.containers[c] for c in params.get("children", "").split(",") if c in self.containers]
            media = next((m for m in self.media.values() if m["container"] == container["id"]), None)
            rows.append({
                "container": container["id"], "caption": params.get("caption") or params.get("text", ""),
                "is_ai_generated": params.get("is_ai_generated") == "true",
                "ai_field_sent": "is_ai_generated" in params, "media_type": params.get("media_type", "IMAGE"),
                "images": [{**c["image"], "container": c["id"]}
                           for c in (children or [container]) if c.get("image")],
                "status": self._status(container), "error": container.get("error", ""),
                "media_id": media["id"] if media else "", "permalink": media["permalink"] if media else "",
                "username": next((name for uid, name in self.codes.values() if uid == container["user"]),
                                 container["user"]),
            })
        return rows

    # --- Protocol ----------------------------------------------------------------------------------------------

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    def _error(self, status: int, code: int, message: str) -> tuple[int, dict]:
        return status, {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}

    def _scripted(self, step: str) -> tuple[int, dict] | None:
        queue = self.failures.get(step)
        return queue.pop(0) if queue else None

    def consent_grant(self, *, platform: str, params: dict) -> str:
        """The consent page's Allow: a one-time code for the sandbox user, bound to the PKCE challenge."""
        code = secrets.token_urlsafe(24)
        self.grant_code(code, user_id=SANDBOX_USERS[platform], username=SANDBOX_USERNAME)
        self.code_checks[code] = {"code_challenge": params.get("code_challenge", ""),
                                  "redirect_uri": params.get("redirect_uri", "")}
        return code

    def _code_check(self, code: str, params: dict) -> tuple[int, dict] | None:
        check = self.code_checks.get(code)
        if check is None:
            return None
        if check["redirect_uri"] != params.get("redirect_uri", ""):
            return self._error(400, 100, "Error validating verification code. Please make sure your redirect_uri "
                                         "is identical to the one you used in the OAuth dialog request")
        verifier = params.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if check["code_challenge"] and digest != check["code_challenge"]:
            return self._error(400, 100, "Invalid code_verifier: it does not match the code_challenge.")
        return None

    def route(self, method: str, parts: list[str], params: dict) -> tuple[int, dict]:
        if parts == ["oauth", "access_token"]:
            code = params.get("code", "")
            if code in self.used_codes or code not in self.codes:
                return self._error(400, 100, "This authorization code has been used or is invalid.")
            refused = self._code_check(code, params)
            if refused:
                return refused
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
                         "platform": "instagram" if edge == "media" else "threads",
                         "outcome": self.container_outcomes.pop(0) if self.container_outcomes else "FINISHED"}
            if params.get("image_url"):
                container["image"] = self._image_fetch(container["id"], params)
                if container["image"]["error"]:
                    container["outcome"] = "ERROR"
                    container["error"] = f"The media could not be fetched from the URI: {container['image']['error']}"
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
                "permalink": f"{self.url}/p/{media_id}",
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

    def _image_fetch(self, container_id: str, params: dict) -> dict:
        """What the platform got from image_url: it fetches the URL itself (so a URL it cannot reach, or a signed
        route that refuses, fails here as it would there). Without `fetch_media` the URL is only recorded."""
        image = {"url": params["image_url"], "alt_text": params.get("alt_text", ""), "content_type": "",
                 "size": 0, "error": "", "fetched": False}
        if not self.fetch_media:
            return image
        try:
            with requests.get(params["image_url"], timeout=FETCH_TIMEOUT, stream=True,
                              headers={"User-Agent": "publishing-sandbox"}) as response:
                if response.status_code >= 400:
                    image["error"] = f"HTTP {response.status_code} from {params['image_url'].split('?')[0]}"
                    return image
                data = response.raw.read(MAX_IMAGE_BYTES + 1, decode_content=True)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        except (requests.RequestException, OSError) as exc:
            image["error"] = f"{type(exc).__name__}: could not fetch {params['image_url'].split('?')[0]}"
            return image
        if len(data) > MAX_IMAGE_BYTES:
            image["error"] = f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB"
        elif not content_type.startswith("image/"):
            image["error"] = f"the URL answered {content_type}, not an image"
        else:
            image.update(content_type=content_type, size=len(data), fetched=True)
            self.images[container_id] = data
            if self.state_dir:
                (self.state_dir / "images").mkdir(parents=True, exist_ok=True)
                (self.state_dir / "images" / container_id).write_bytes(data)
        return image

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
            detail = container.get("error") or "Image could not be fetched"
            return 200, {"id": object_id, "status_code": status,
                         "status": f"Error: {detail}" if status == "ERROR" else status,
                         "error_message": detail if status == "ERROR" else ""}
        if object_id in self.media:
            media = self.media[object_id]
            return 200, {"id": object_id, "permalink": media["permalink"], "is_ai_generated": media["is_ai_generated"]}
        return self._error(400, 100, f"Object {object_id} does not exist.")

    # --- Persistence -------------------------------------------------------------------------------------------

    def save(self) -> None:
        if not self.state_dir:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {name: getattr(self, name) for name in _PERSISTED}
        state["used_codes"], state["expired"] = sorted(self.used_codes), sorted(self.expired)
        partial = self.state_dir / "state.json.tmp"
        partial.write_text(json.dumps(state))
        partial.replace(self.state_dir / "state.json")  # whole or not at all: a crash mid-write loses one request

    def _load(self) -> None:
        path = self.state_dir / "state.json"
        if not path.exists():
            return
        state = json.loads(path.read_text())
        for name in _PERSISTED:
            if name in state:
                setattr(self, name, state[name])
        self.codes = {code: tuple(owner) for code, owner in self.codes.items()}
        self.used_codes, self.expired = set(self.used_codes), set(self.expired)
        images = self.state_dir / "images"
        if images.is_dir():
            self.images = {path.name: path.read_bytes() for path in images.iterdir() if path.is_file()}


def _handler(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _html(self, status: int, body: str) -> None:
            self._send(status, body.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", {"Location": location})

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                params.update({k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
            parts = [p for p in url.path.split("/") if p and not (p.startswith("v") and p[1:2].isdigit())]
            if self._page(method, parts, params):
                return
            with server.lock:
                server.requests.append((method, "/".join(parts), dict(params)))
                status, body = server.route(method, parts, params)
                server.save()
            self._send(status, json.dumps(body).encode(), "application/json")

        def _page(self, method: str, parts: list[str], params: dict) -> bool:
            """The pages a person sees: consent, what was received, a permalink, an image. False: an API call."""
            if len(parts) == 3 and parts[0] in PLATFORMS and parts[1:] == ["oauth", "authorize"]:
                self._consent(method, parts[0], params)
            elif method == "GET" and not parts:
                with server.lock:
                    received = {platform: server.received(platform) for platform in PLATFORMS}
                self._html(200, pages.index_page(received=received, url=server.url))
            elif method == "GET" and len(parts) == 2 and parts[0] == "p":
                with server.lock:
                    media = server.media.get(parts[1])
                    row = next((r for platform in PLATFORMS for r in server.received(platform)
                                if media and r["container"] == media["container"]), None)
                if row is None:
                    self._html(404, pages.error_page(title="Not found", message="No such post on the sandbox."))
                else:
                    self._html(200, pages.post_page(row=row, url=server.url))
            elif method == "GET" and len(parts) == 2 and parts[0] == "images":
                image = server.images.get(parts[1])
                container = server.containers.get(parts[1], {})
                if image is None:
                    self._html(404, pages.error_page(title="Not found", message="No image was fetched for this."))
                else:
                    self._send(200, image, container.get("image", {}).get("content_type") or "image/jpeg")
            else:
                return False
            return True

        def _consent(self, method: str, platform: str, params: dict) -> None:
            missing = [name for name in ("client_id", "redirect_uri", "state") if not params.get(name)]
            if params.get("response_type", "code") != "code":
                missing.append("response_type=code")
            if missing:
                self._html(400, pages.error_page(title="Invalid request",
                                                 message=f"The authorize request lacks {', '.join(missing)}."))
                return
            if method == "GET":
                self._html(200, pages.consent_page(platform=platform, username=SANDBOX_USERNAME, params=params))
                return
            separator = "&" if "?" in params["redirect_uri"] else "?"
            if params.get("decision") == "allow":
                with server.lock:
                    code = server.consent_grant(platform=platform, params=params)
                    server.save()
                answer = {"code": code, "state": params["state"]}
            else:
                answer = {"error": "access_denied", "error_reason": "user_denied",
                          "error_description": "The user denied your request", "state": params["state"]}
            self._redirect(f"{params['redirect_uri']}{separator}{urlencode(answer)}")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler
