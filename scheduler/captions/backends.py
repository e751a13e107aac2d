"""Language-model backends of the caption writer: any OpenAI-compatible chat-completions server over HTTP
(OpenAI, Ollama, vLLM, llama.cpp's server, LM Studio), or a local transformers causal-LM folder.

Both only turn chat messages into reply texts; what a reply may say is decided afterwards by rules.py. They run
in the default-queue worker (drafting, rewrites), never in a web request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0
MAX_REPLY_BYTES = 1_000_000


class CaptionServiceError(Exception):
    """The caption model could not be reached or kept failing (after the retries): drafting keeps the template
    captions and the job shows this message."""


class CaptionReplyError(Exception):
    """The model answered, but not with a usable reply (malformed JSON, no message)."""


@dataclass
class OpenAIChatBackend:
    """POST {url}/chat/completions, one non-streaming request per caption. 429, 5xx and timeouts are retried with
    exponential backoff (Retry-After honoured up to 30 s); other 4xx answers are not."""

    url: str
    model: str
    api_key: str = ""
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 1.0
    max_tokens: int = 400

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else f"{url}/chat/completions"

    def complete(self, messages: list[dict], *, n: int = 1, seed: int = 0, temperature: float = 0.8) -> list[str]:
        return [self._one(messages, seed=seed + i, temperature=temperature) for i in range(n)]

    def _request(self, body: bytes) -> urllib.request.Request:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")  # noqa: S310

    def _one(self, messages: list[dict], *, seed: int, temperature: float) -> str:
        payload = {"model": self.model, "messages": messages, "temperature": temperature, "seed": seed,
                   "max_tokens": self.max_tokens, "stream": False}
        body = json.dumps(payload).encode()
        problem = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * (2**attempt)
            try:
                with urllib.request.urlopen(self._request(body), timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read(MAX_REPLY_BYTES + 1)
                return _reply_text(raw)
            except urllib.error.HTTPError as exc:
                detail = exc.read(500).decode("utf-8", "replace").strip()
                problem = f"HTTP {exc.code}" + (f": {detail[:200]}" if detail else "")
                if exc.code not in RETRY_STATUSES:
                    raise CaptionServiceError(
                        f"The caption server {self.endpoint} refused the request ({problem})."
                    ) from None
                retry_after = exc.headers.get("Retry-After", "") if exc.headers else ""
                if retry_after.strip().isdigit():
                    wait = min(float(retry_after), MAX_RETRY_AFTER_SECONDS)
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                problem = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else (
                    f"unreachable ({reason})")
            if attempt < self.retries:
                logger.info("Caption server %s: %s; retrying in %.1fs", self.endpoint, problem, wait)
                time.sleep(wait)
        tries = self.retries + 1
        raise CaptionServiceError(
            f"The caption server {self.endpoint} failed {tries} time{'s' if tries != 1 else ''} ({problem})."
        )


def _reply_text(raw: bytes) -> str:
    if len(raw) > MAX_REPLY_BYTES:
        raise CaptionReplyError(f"The caption server's reply is larger than {MAX_REPLY_BYTES:,} bytes.")
    try:
        data = json.loads(raw)
        content = data["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise CaptionReplyError("The caption server's reply is not a chat completion (malformed JSON).") from None
    if not isinstance(content, str):
        raise CaptionReplyError("The caption server's reply has no text.")
    return content


# --- local transformers causal LM ------------------------------------------------------------------

_MODELS: dict[str, tuple] = {}
_MODELS_LOCK = threading.Lock()


def causal_lm_load(path: str) -> tuple:
    """(tokenizer, model) of a local folder, loaded once per worker process (no hub: local files only)."""
    key = str(Path(path).resolve())
    with _MODELS_LOCK:
        if key not in _MODELS:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if not Path(key).is_dir():
                raise CaptionServiceError(f"The caption model folder {path} does not exist.")
            tokenizer = AutoTokenizer.from_pretrained(key, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(key, local_files_only=True).eval()
            _MODELS[key] = (tokenizer, model)
        return _MODELS[key]


@dataclass
class TransformersBackend:
    path: str
    max_new_tokens: int = 120
    device: str = ""

    @property
    def name(self) -> str:
        return f"transformers:{Path(self.path).name}"

    def _prompt(self, tokenizer, messages: list[dict]) -> str:
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        return "\n\n".join([*lines, "Assistant:"])

    def complete(self, messages: list[dict], *, n: int = 1, seed: int = 0, temperature: float = 0.8) -> list[str]:
        import torch

        try:
            tokenizer, model = causal_lm_load(self.path)
        except CaptionServiceError:
            raise
        except Exception as exc:  # a broken folder: the drafts keep their template captions
            raise CaptionServiceError(f"The caption model in {self.path} could not be loaded: {exc}") from exc
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        limit = int(getattr(model.config, "max_position_embeddings", 0) or getattr(model.config, "n_positions", 1024))
        inputs = tokenizer(self._prompt(tokenizer, messages), return_tensors="pt", truncation=True,
                           max_length=max(limit - self.max_new_tokens, 8)).to(device)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        torch.manual_seed(seed)
        with torch.inference_mode():
            output = model.generate(**inputs, do_sample=True, temperature=temperature, top_p=0.95,
                                    max_new_tokens=self.max_new_tokens, num_return_sequences=n, pad_token_id=pad)
        start = inputs["input_ids"].shape[1]
        return [tokenizer.decode(row[start:], skip_special_tokens=True).strip() for row in output]
