"""Text as a reader sees it, for finding obfuscated copies of a phrase (the disclosure label): compatibility forms
folded (Unicode NFKC: fullwidth, mathematical and circled letters), accents, invisible characters (zero-width,
bidirectional controls, variation selectors) dropped, letters that look alike mapped to one (Cyrillic and Greek
look-alikes, "l", "1" and "I"), case ignored, and any run of spaces and dashes read as one space.

`skeleton` keeps, for every character it yields, the index of the character of the text it comes from, so that a
copy found in the skeleton can be cut out of the text itself.
"""

from __future__ import annotations

import re
import unicodedata

# Invisible characters a model (or a copy-paste) may slip into a word. Joiners and variation selectors stay in the
# caption (emoji sequences need them); they are only ignored when matching.
INVISIBLE_RE = re.compile("[\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_IGNORED = frozenset("\u034f\u115f\u1160\u200c\u200d\u3164\uffa0") | {chr(c) for c in range(0xFE00, 0xFE10)}

# Look-alikes of Latin letters (Unicode's confusables for the letters labels are written in), before case folding:
# uppercase Greek Nu looks like N, lowercase nu like v.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X",
    "Ѕ": "S", "І": "I", "Ј": "J", "Ү": "Y", "Ԁ": "D", "Ԍ": "G", "Ԛ": "Q", "Ԝ": "W",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b", "п": "n", "г": "r", "к": "k", "т": "t", "м": "m", "в": "b",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "ϲ": "c", "ϳ": "j",
    # Latin and symbols
    "ı": "i", "ɡ": "g", "ɑ": "a", "ǀ": "l", "|": "l", "0": "o", "1": "l", "ø": "o", "đ": "d", "ł": "l",
})
# After case folding "I" is "i": "l" and "1" join it, so that "Al-generated" reads as "AI-generated".
_FOLDED = str.maketrans({"l": "i"})


def invisible_remove(text: str) -> str:
    """`text` without zero-width spaces, bidirectional controls and the like (joiners and variation selectors,
    which emoji need, stay)."""
    return INVISIBLE_RE.sub("", text)


def _separator(char: str) -> bool:
    return char.isspace() or char in "-_" or unicodedata.category(char) == "Pd"


def skeleton(text: str) -> tuple[str, list[int]]:
    """`text` as it looks (see the module's docstring), and for each of its characters the index in `text` of the
    character it comes from."""
    out: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        if INVISIBLE_RE.match(char) or char in _IGNORED:
            continue
        for piece in unicodedata.normalize("NFKD", char):
            if unicodedata.combining(piece):
                continue
            for folded in piece.translate(_CONFUSABLES).casefold().translate(_FOLDED):
                if _separator(folded):
                    if not out or out[-1] == " ":
                        continue
                    folded = " "
                out.append(folded)
                where.append(index)
    return "".join(out), where


def phrase_skeleton(phrase: str) -> str:
    """The skeleton of a phrase to look for, without the spaces around it."""
    return skeleton(phrase)[0].strip()
