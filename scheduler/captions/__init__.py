"""Captions in the persona's voice: the template writer (default, no model), an OpenAI-compatible server or a
local transformers model (backends.py), the prompt (prompts.py); a model's reply is read by core.caption_replies
and every caption held to core.captions' rules. writer.captions_write is the entry point; it runs on the
default-queue worker, never in a request."""

from scheduler.captions.templates import CaptionDraft, caption_draft, tone_for_voice, topic_for_scene

__all__ = ["CaptionDraft", "caption_draft", "tone_for_voice", "topic_for_scene"]
