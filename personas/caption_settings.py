"""Writes and rules for what the caption writer must respect: a persona's caption fields (banned words,
must-include phrases, liked example captions, caption languages and how they post, links) and a workspace's
brand list and disclosure label per language."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from core.access import ADMIN_ROLES
from core.errors import ValidationFailed
from core.languages import DEFAULT_LANGUAGE, LANGUAGES, language_clean
from personas.models import CaptionLanguageMode, Workspace
from personas.selectors import role_require

CAPTION_FIELDS = frozenset({"banned_words", "must_include", "caption_examples", "caption_languages",
                            "caption_language_mode", "caption_urls_allowed"})
MAX_CAPTION_EXAMPLES = 20
MAX_CAPTION_EXAMPLE_CHARS = 2200
MAX_ENTRY_CHARS = 100
MAX_BRANDS = 200


def str_list(value: Any, field_name: str, errors: dict[str, list[str]]) -> list[str] | None:
    """A list of stripped, distinct, non-empty strings; None (and an error) when it is not a list of strings."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[field_name] = ["Must be a list of strings."]
        return None
    out: list[str] = []
    for item in (v.strip() for v in value):
        if item and item not in out:
            out.append(item)
    return out


def caption_field_clean(name: str, value: Any, errors: dict[str, list[str]]) -> Any:
    """One persona caption field, normalised; a problem goes into `errors[name]`."""
    if name == "caption_urls_allowed":
        if not isinstance(value, bool):
            errors[name] = ["Must be true or false."]
        return value
    if name == "caption_language_mode":
        value = str(value or "").strip().lower()
        if value not in CaptionLanguageMode.values:
            errors[name] = [f"Caption language mode must be one of: {', '.join(CaptionLanguageMode.values)}."]
        return value
    value = str_list(value, name, errors)
    if value is None:
        return None
    if name == "caption_languages":
        bad = [code for code in value if language_clean(code) is None]
        if bad:
            errors[name] = [f"Unknown caption languages: {', '.join(bad)}; use {', '.join(LANGUAGES)}."]
        return list(dict.fromkeys(filter(None, map(language_clean, value)))) or [DEFAULT_LANGUAGE]
    if name == "caption_examples":
        if len(value) > MAX_CAPTION_EXAMPLES:
            errors[name] = [f"At most {MAX_CAPTION_EXAMPLES} example captions."]
        elif any(len(example) > MAX_CAPTION_EXAMPLE_CHARS for example in value):
            errors[name] = [f"Each example caption is at most {MAX_CAPTION_EXAMPLE_CHARS} characters."]
    elif any(len(item) > MAX_ENTRY_CHARS for item in value):  # banned_words, must_include
        errors[name] = [f"Each entry is at most {MAX_ENTRY_CHARS} characters."]
    return value


def _labels_clean(disclosure_labels: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    labels: dict[str, str] = {}
    if not isinstance(disclosure_labels, dict):
        errors["disclosure_labels"] = ['A table of language code to label, e.g. {"de": "KI-generiert"}.']
        return labels
    for raw_code, raw_label in disclosure_labels.items():
        code, label = language_clean(raw_code), str(raw_label or "").strip()
        if code is None:
            errors["disclosure_labels"] = [f"Unknown language '{raw_code}'; use {', '.join(LANGUAGES)}."]
        elif len(label) > MAX_ENTRY_CHARS:
            errors["disclosure_labels"] = [f"The {code} label is longer than {MAX_ENTRY_CHARS} characters."]
        elif label:
            labels[code] = label
    return labels


def workspace_caption_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """brand_names and disclosure_labels (those given), normalised; ValidationFailed with per-field errors."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if fields.get("brand_names") is not None:
        brands = str_list(fields["brand_names"], "brand_names", errors)
        if brands is not None and (len(brands) > MAX_BRANDS or any(len(b) > MAX_ENTRY_CHARS for b in brands)):
            errors["brand_names"] = [f"At most {MAX_BRANDS} brands of at most {MAX_ENTRY_CHARS} characters each."]
        clean["brand_names"] = brands
    if fields.get("disclosure_labels") is not None:
        clean["disclosure_labels"] = _labels_clean(fields["disclosure_labels"], errors)
    if errors:
        raise ValidationFailed("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), extra={"fields": errors})
    return clean


@transaction.atomic
def workspace_caption_settings_update(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    brand_names: list[str] | None = None,
    disclosure_labels: dict[str, str] | None = None,
) -> Workspace:
    """An admin sets the brands that make a caption a paid partnership, and the disclosure label per language
    (blank: the built-in label)."""
    role_require(user=actor, workspace_id=workspace.pk, roles=ADMIN_ROLES)
    clean = workspace_caption_fields_clean({"brand_names": brand_names, "disclosure_labels": disclosure_labels})
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    for name, value in clean.items():
        setattr(locked, name, value)
    if clean:
        locked.save(update_fields=list(clean))
    return locked
