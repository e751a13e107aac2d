"""Caption languages and their AI-disclosure labels.

The built-in label table is the default a workspace starts from; a workspace may override any entry
(personas.Workspace.disclosure_labels). English keeps the persona's own label (Persona.disclosure_label), so
existing personas and posts are unchanged.
"""

from __future__ import annotations

import re
import unicodedata

# code -> (name, default disclosure label)
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "AI-generated"),
    "de": ("German", "KI-generiert"),
    "es": ("Spanish", "Generado con IA"),
    "fr": ("French", "Généré par IA"),
    "it": ("Italian", "Generato con IA"),
    "pt": ("Portuguese", "Gerado por IA"),
    "nl": ("Dutch", "AI-gegenereerd"),
    "ja": ("Japanese", "AI生成"),
    "zh": ("Chinese", "AI生成"),
}
DEFAULT_LANGUAGE = "en"
DEFAULT_LABELS: dict[str, str] = {code: label for code, (_name, label) in LANGUAGES.items()}


def language_name(code: str) -> str:
    return LANGUAGES.get(code, (code, ""))[0]


def language_clean(value: object) -> str | None:
    """'DE', ' de ' -> 'de'; None when it is not a supported caption language."""
    code = str(value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def label_table(overrides: dict[str, str] | None) -> dict[str, str]:
    """The built-in labels with a workspace's own entries over them (blank entries ignored)."""
    table = dict(DEFAULT_LABELS)
    for code, label in (overrides or {}).items():
        if code in LANGUAGES and str(label or "").strip():
            table[code] = str(label).strip()
    return table


# Latin letters and digits: a label that starts or ends with one must not match inside a longer word. (CJK
# labels stand between other CJK characters, so they have no word boundary to check.)
_LATIN = "0-9A-Za-z\u00c0-\u024f"


def _label_pattern(label: str) -> str:
    pattern = re.escape(unicodedata.normalize("NFC", label))
    if re.match(f"[{_LATIN}]", label[:1]):
        pattern = f"(?<![{_LATIN}])" + pattern
    if re.match(f"[{_LATIN}]", label[-1:]):
        pattern += f"(?![{_LATIN}])"
    return pattern


def label_count(text: str, label: str) -> int:
    """How often `label` occurs in `text`, ignoring case."""
    if not label:
        return 0
    return len(re.findall(_label_pattern(label), unicodedata.normalize("NFC", text), flags=re.IGNORECASE))


def label_remove(text: str, label: str) -> str:
    """`text` without any occurrence of `label` (ignoring case), whitespace left tidy."""
    if not label:
        return text
    text = re.sub(_label_pattern(label), "", unicodedata.normalize("NFC", text), flags=re.IGNORECASE)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(" \t\n-–—|·•")
