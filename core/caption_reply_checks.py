"""What makes the text read from a model's reply no caption, whatever the rules would repair: the model declined
("I can't help with that", in every caption language), it repeats the instructions or leaks chat-template tokens,
it has a placeholder to fill in, it talks about a caption instead of being one (or thinks aloud without reasoning
tags), it has no words (emoji, symbols or hashtags only), or it is written in another language than the caption's.

Pure functions; core.caption_replies asks caption_problem of every caption it reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.languages import language_name, language_word_counts

_REFUSAL_RE = re.compile("|".join([
    # en
    r"\bi(?:'m| am)? sorry,? (?:but )?i\b", r"\bsorry,? but i\b", r"\bi apologi[sz]e\b",
    r"\bi\s*(?:can(?:not|'t|’t| not)|won'?t|will not|am unable|'m unable|am not able|'m not able|must decline)"
    r"\b.{0,40}?\b(?:help(?!\s+but)|assist|comply|create|generate|provide|fulfil+|produce|do that|with (?:that|this))",
    r"\bunable to (?:help|assist|comply|create|generate|provide|fulfil+)",
    r"\bas an ai (?:language model|assistant|model)\b",
    # de
    r"\bes tut mir leid,? aber (?:ich|das)\b",
    r"\bich kann\b.{0,40}?\b(?:nicht|keine[nmr]?)\b.{0,40}?\b(?:helfen|erstellen|schreiben|verfassen|nachkommen)",
    # es
    r"\blo siento,? (?:pero )?no\b", r"\bno puedo\b.{0,40}?\b(?:ayudar|crear|escribir|generar|cumplir)",
    # fr
    r"\bdésolée?,? (?:mais )?je ne\b",
    r"\bje ne (?:peux|suis pas en mesure de|vais pas)\b.{0,40}?\b(?:aider|créer|écrire|rédiger|générer|répondre)",
    # it
    r"\bmi dispiace,? ma non\b", r"\bnon posso\b.{0,40}?\b(?:aiutar\w*|creare|scrivere|generare|soddisfare)",
    # pt
    r"\bdesculpe,? mas (?:eu )?não\b", r"\bsinto muito,? mas\b",
    r"\bnão posso\b.{0,40}?\b(?:ajudar|criar|escrever|gerar|atender)",
    # nl
    r"\bhet spijt me,? maar\b", r"\bik kan\b.{0,40}?\b(?:niet|geen)\b.{0,40}?\b(?:helpen|maken|schrijven|genereren)",
    # ja, zh
    r"申し訳(?:ありません|ございません)", r"(?:お手伝い|作成|対応|お応え)(?:でき|いたしかね)ません",
    r"(?:抱歉|对不起|很遗憾)[，,]?\s*我?(?:不能|无法)", r"我(?:不能|无法)(?:帮助|协助|提供|创作|撰写|写)",
]), re.IGNORECASE)
_INSTRUCTION_RE = re.compile(
    r"<\|(?:im_start|im_end|system|user|assistant|start_header_id|end_header_id|eot_id)\|>|\[/?INST\]|<</?SYS>>"
    r"|(?m:^\s*(?:system|user|assistant|human)\s*:)|#{2,}\s*(?:instruction|response|system|input)\b"
    r"|\byou are an? (?:ai|helpful) (?:assistant|model|language)|\bsystem prompt\b"
    r"|\b(?:reply|respond) with the caption only\b|\bdo not (?:write|include) the disclosure\b",
    re.IGNORECASE,
)
_PLACEHOLDER_RE = re.compile(
    r"\[(?:insert|your|add|caption|link|brand|name|product|location|emoji|hashtags?|persona)\b[^\]\n]{0,40}\]"
    r"|\{(?:caption|name|brand|product|link)\}|<(?:caption|insert|your)\b[^>\n]{0,30}>", re.IGNORECASE,
)
_META_RE = re.compile(
    r"^\W*(?:(?:okay|ok|alright|hmm+|so|well)[,.!]?\s+)*(?:the user (?:wants|asked|is asking|needs)"
    r"|i need to (?:write|create|come up)|i should (?:write|make|keep)|let me (?:think|start|write|craft|come up|draft|"
    r"brainstorm)|let's (?:think|see|start by)|first,? i(?:'ll| will| need)|we need to (?:write|create)"
    r"|(?:this|the|these) captions? (?:is|are|uses?|highlights?|captures?|combines?|focus))", re.IGNORECASE,
)
_KANA_RE = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")
_CJK = frozenset({"ja", "zh"})



def _language_mismatch(text: str, languages: Sequence[str]) -> str:
    """The name of the language `text` seems written in when it is none of `languages`, else ""."""
    expected = set(languages)
    text = re.sub(r"[#@]\w+|https?://\S+", " ", text)
    kana, han, hangul = len(_KANA_RE.findall(text)), len(_HAN_RE.findall(text)), len(_HANGUL_RE.findall(text))
    cjk, latin_words = kana + han, len(_LATIN_WORD_RE.findall(text))
    if hangul >= 2 and hangul > cjk:
        return "Korean"
    counts = language_word_counts(text)
    other, score = max(((code, n) for code, n in counts.items() if code not in expected), key=lambda cn: cn[1],
                       default=("", 0))
    if expected <= _CJK:
        if expected == {"zh"} and kana >= 2:
            return language_name("ja")
        if cjk == 0 and latin_words >= 3:
            return language_name(other) if score else "Latin letters"
        return ""
    if not expected & _CJK and cjk >= 4 and cjk > latin_words:
        return language_name("ja" if kana else "zh")
    mine = max((counts.get(code, 0) for code in expected), default=0)
    return language_name(other) if score >= 3 and score >= 2 * mine + 2 else ""


def caption_problem(caption: str, *, languages: Sequence[str] = ("en",), instructions: Sequence[str] = ()) -> str:
    """Why a caption read from a model reply is no caption ("" when it is one)."""
    head = caption[:400]
    refusal = _REFUSAL_RE.search(head)
    if refusal:
        return f'the model declined ("{head.splitlines()[0][:120].strip()}")'
    lowered = caption.lower()
    if _INSTRUCTION_RE.search(caption) or any(line.lower() in lowered for line in instructions if len(line) >= 24):
        return "it repeats the instructions instead of writing a caption"
    if _PLACEHOLDER_RE.search(caption):
        return f'it has a placeholder to fill in ("{_PLACEHOLDER_RE.search(caption).group(0)}")'
    if _META_RE.search(head):
        return "it talks about the caption instead of being one"
    if not re.search(r"[^\W\d_]", re.sub(r"[#@]\w+", "", caption)):
        return "it has no words, only emoji, symbols or hashtags"
    wrong = _language_mismatch(caption, languages)
    if wrong:
        return f"it is written in {wrong}, not {' and '.join(language_name(code) for code in languages)}"
    return ""
