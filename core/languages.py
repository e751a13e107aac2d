"""Caption languages: the codes a persona may write captions in, and their names.

Each language's AI-disclosure label is a caption rule: core.captions owns the label table.
"""

from __future__ import annotations

# code -> name
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ja": "Japanese",
    "zh": "Chinese",
}
DEFAULT_LANGUAGE = "en"


def language_name(code: str) -> str:
    return LANGUAGES.get(code, code)


def language_clean(value: object) -> str | None:
    """'DE', ' de ' -> 'de'; None when it is not a supported caption language."""
    code = str(value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None
