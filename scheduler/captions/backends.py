"""Language-model backends of the caption writer: any OpenAI-compatible chat-completions server (OpenAI, Ollama,
vLLM, llama.cpp's server, LM Studio) through the official `openai` client, or a local transformers causal-LM folder.

Both only turn chat messages into replies (ModelReply); what a reply may say is decided afterwards
(core.caption_replies, core.captions). They run in the default-queue worker (drafting, rewrites), never in a web
request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import openai

from generation.models import CaptionMode

logger = logging.getLogger(__name__)

# The statuses the openai client retries (with its exponential backoff, honouring Retry-After): a request that
# still fails with one of them failed every try.
RETRIED_STATUSES = frozenset({408, 409, 429})
# The statuses with which a server refuses a request field it does not know (response_format, the thinking switch).
UNSUPPORTED_STATUSES = frozenset({400, 422})

STRUCTURED = CaptionMode.STRUCTURED
PLAIN = CaptionMode.PLAIN

# What structured output asks for: the caption, its hashtags apart, and the language it is written in.
CAPTION_SCHEMA = {
    "type": "object",
    "properties": {
        "caption": {"type": "string", "description": "The caption only: no hashtags list, no disclosure label."},
        "hashtags": {"type": "array", "items": {"type": "string"}},
        "language": {"type": "string", "description": "ISO 639-1 code of the caption's language."},
    },
    "required": ["caption", "hashtags", "language"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "caption", "strict": True, "schema": CAPTION_SCHEMA}}
# Reasoning models asked not to think aloud: vLLM, SGLang and llama.cpp pass chat_template_kwargs to the chat
# template (Qwen3, DeepSeek, GLM switch thinking off there); Ollama reads reasoning_effort "none".
NO_THINKING = {"chat_template_kwargs": {"enable_thinking": False}, "reasoning_effort": "none"}
# What a request asks for, most first: a server that refuses a field (400/422) is asked again with less, and the
# backend remembers how much the server takes for the rest of its run.
ASKS: tuple[tuple[str, ...], ...] = ((STRUCTURED, "no_thinking"), (STRUCTURED,), ())


class CaptionServiceError(Exception):
    """The caption model could not be reached or kept failing (after the retries): drafting keeps the template
    captions and the job shows this message."""


class CaptionReplyError(Exception):
    """The model answered, but not with a chat completion (malformed JSON, no choices)."""


@dataclass(frozen=True)
class ModelReply:
    """One reply: its text, and what the server said around it."""

    text: str
    mode: str = PLAIN  # STRUCTURED when JSON output was asked for and the server answered with it
    truncated: bool = False  # it stopped at the token limit (finish_reason "length")
    reasoned: bool = False  # the server returned the model's reasoning apart (reasoning_content / reasoning)
    refusal: str = ""  # the refusal the server reported instead of a reply


def _status_detail(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = str(body.get("message") or (exc.body if isinstance(exc.body, str) else "") or "").strip()
    return f"HTTP {exc.status_code}" + (f": {detail[:200]}" if detail else "")


@dataclass
class OpenAIChatBackend:
    """POST {url}/chat/completions with the openai client, one non-streaming request per caption. The client
    retries 408, 409, 429, 5xx, timeouts and dropped connections `retries` times with exponential backoff
    (Retry-After honoured); other answers are not retried."""

    url: str
    model: str
    api_key: str = ""
    timeout: float = 30.0
    retries: int = 2
    max_tokens: int = 400
    ask: int = field(default=0, repr=False)  # index into ASKS: what this server has been found to take

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def base_url(self) -> str:
        url = self.url.rstrip("/")
        return url.removesuffix("/chat/completions")

    @property
    def mode(self) -> str:
        """How the server is asked now: STRUCTURED until it refused response_format."""
        return STRUCTURED if STRUCTURED in ASKS[self.ask] else PLAIN

    def complete(self, messages: list[dict], *, n: int = 1, seed: int = 0,
                 temperature: float = 0.8) -> list[ModelReply]:
        # An explicit key (a placeholder for local servers, which take none) keeps OPENAI_API_KEY from the
        # environment away from whatever server CAPTION_LLM_URL names.
        with openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "none", timeout=self.timeout,
                           max_retries=self.retries) as client:
            return [self._one(client, messages, seed=seed + i, temperature=temperature) for i in range(n)]

    def _one(self, client: openai.OpenAI, messages: list[dict], *, seed: int, temperature: float) -> ModelReply:
        while True:
            asked = ASKS[self.ask]
            extra = {"response_format": RESPONSE_FORMAT} if STRUCTURED in asked else {}
            try:
                completion = client.chat.completions.create(
                    model=self.model, messages=messages, temperature=temperature, seed=seed,
                    max_tokens=self.max_tokens, stream=False, **extra,
                    extra_body=NO_THINKING if "no_thinking" in asked else None,
                )
            except openai.APIStatusError as exc:
                if exc.status_code in UNSUPPORTED_STATUSES and self.ask < len(ASKS) - 1:
                    logger.info("Caption server %s refused %s (%s); asking with less", self.endpoint,
                                "+".join(asked), _status_detail(exc))
                    self.ask += 1
                    continue
                raise self._service_error(exc) from None
            except openai.APIConnectionError as exc:
                raise self._service_error(exc) from None
            except (openai.APIError, ValueError):  # a body that is not JSON
                raise CaptionReplyError(
                    "The caption server's reply is not a chat completion (malformed JSON).") from None
            return self._reply(completion)

    def _service_error(self, exc: openai.APIError) -> CaptionServiceError:
        tries = self.retries + 1
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code in RETRIED_STATUSES or exc.status_code >= 500:
                problem = _status_detail(exc)
            else:
                return CaptionServiceError(
                    f"The caption server {self.endpoint} refused the request ({_status_detail(exc)}).")
        elif isinstance(exc, openai.APITimeoutError):
            problem = "timed out"
        else:
            problem = f"unreachable ({exc.__cause__ or exc})"
        return CaptionServiceError(
            f"The caption server {self.endpoint} failed {tries} time{'s' if tries != 1 else ''} ({problem})."
        )

    def _reply(self, completion) -> ModelReply:
        choices = getattr(completion, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise CaptionReplyError("The caption server's reply is not a chat completion (malformed JSON).")
        message = choices[0].message
        text = message.content if isinstance(message.content, str) else ""
        refusal = message.refusal if isinstance(message.refusal, str) else ""
        extra = message.model_extra or {}
        # Servers that separate a reasoning model's thoughts return them here; they are never the caption.
        reasoning = extra.get("reasoning_content") or extra.get("reasoning") or ""
        # Structured only when the server kept to it: some take response_format and still answer in plain text.
        structured = self.mode == STRUCTURED and (text.lstrip().startswith("{") or bool(refusal))
        return ModelReply(
            text=text, mode=STRUCTURED if structured else PLAIN, truncated=choices[0].finish_reason == "length",
            reasoned=bool(str(reasoning).strip()), refusal=refusal,
        )


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

    def complete(self, messages: list[dict], *, n: int = 1, seed: int = 0,
                 temperature: float = 0.8) -> list[ModelReply]:
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
        return [ModelReply(text=tokenizer.decode(row[start:], skip_special_tokens=True).strip()) for row in output]
