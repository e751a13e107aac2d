"""Reading a language model's reply as captions. What a model says that is not the caption is taken away: its
reasoning (closed, unclosed or cut off by the token limit), preambles and sign-offs in the caption languages, code
fences, markdown, quotes and JSON wrappers. A reply that offers several options gives several captions, never one.
A reply that is no caption (core.caption_reply_checks: a refusal, the instructions repeated, emoji only, another
language) is refused with the reason, and the writer keeps the template caption.

Pure functions; core.captions.caption_enforce then holds each caption to the rules (label, #ad, caps).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.caption_reply_checks import caption_problem
from core.lookalikes import invisible_remove

# A model reply is cut to this before any other work: a runaway reply must not cost seconds of regex.
MAX_REPLY_CHARS = 70_000
# Captions kept from one reply that offers several.
MAX_OPTIONS = 5

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# --- Reasoning -----------------------------------------------------------------------------------------------

_THINK = r"think|thinking|thought|thoughts|reasoning|reflection|seed:think"
_THINK_CLOSED_RE = re.compile(
    rf"<({_THINK})\b[^>]*>.*?</\1\s*>|\[THINK\].*?\[/THINK\]|◁think▷.*?◁/think▷"
    r"|<\|begin_of_thought\|>.*?<\|end_of_thought\|>", re.IGNORECASE | re.DOTALL,
)
_THINK_CLOSE_RE = re.compile(rf"</(?:{_THINK})\s*>|\[/THINK\]|◁/think▷|<\|end_of_thought\|>", re.IGNORECASE)
_THINK_OPEN_RE = re.compile(rf"<(?:{_THINK})\b[^>]*>|\[THINK\]|◁think▷|<\|begin_of_thought\|>", re.IGNORECASE)
# gpt-oss (harmony): the analysis channel is reasoning, the final channel the answer.
_HARMONY_FINAL_RE = re.compile(r"<\|channel\|>\s*final\s*<\|message\|>(.*?)(?:<\|(?:return|end)\|>|$)", re.DOTALL)
_HARMONY_ANALYSIS_RE = re.compile(r"<\|channel\|>\s*(?:analysis|commentary)\s*<\|message\|>.*?(<\|end\|>|$)",
                                  re.DOTALL)
# Chat-template tokens a server left in (with the role that follows a turn's start).
_SPECIAL_TOKEN_RE = re.compile(r"<\|[a-z_]{2,30}\|>(?:(?:system|user|assistant)\b[ \t]*\n?)?|</?s>")

# --- Wrappers ------------------------------------------------------------------------------------------------

_FENCE_RE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:\n?```|$)", re.DOTALL)
_PARTIAL_JSON_CAPTION_RE = re.compile(r'"caption"\s*:\s*"((?:[^"\\]|\\.)*)', re.DOTALL)
_CAPTION_KEYS = ("caption", "text", "content", "post", "tweet", "message")
_OPTION_KEYS = ("captions", "options", "alternatives", "variants", "versions")
_QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "«": "»", "「": "」", "『": "』", "‘": "’", "”": "”", "‚": "‘"}
_TRAILING_TAGS_RE = re.compile(r"(?:\s*#\w+)+\s*$")
_HASHTAGS_LABEL_RE = re.compile(r"(?im)^\W*hashtags?\s*[:：]\s*")

# --- Preambles, sign-offs and option labels, in every caption language ----------------------------------------

_ACK = (r"(?:sure(?: thing)?|okay|ok|of course|certainly|absolutely|alright|all right|great|got it|no problem|"
        r"perfect|gladly|here you go|klar|natürlich|gerne?|selbstverständlich|claro|por supuesto|vale|bien sûr|"
        r"d'accord|avec plaisir|certo|certamente|volentieri|com certeza|zeker|natuurlijk|prima|graag)")
_ACK_CJK = r"(?:はい|もちろん|承知しました|かしこまりました|了解です|好的|当然|没问题|可以)"
_HERE = (r"(?:here(?:'s|’s| is| are| you go| goes)|hier (?:ist|sind|kommt|is|zijn)|voici|voilà|aquí (?:tienes|está|"
         r"están|va|van)|te dejo|ecco|aqui (?:está|estão|vai|vão)|segue)")
_NOUN = (r"(?:captions?|posts?(?![-\w])|tweets?|texts?|versions?|options?|ideas?|drafts?|suggestions?|"
         r"bildunterschrift(?:en)?|beschriftung|bildtext|beitrag|beiträge|vorschläge?|vorschlag|légendes?|"
         r"publications?|propositions?|pies? de foto|descripción|textos?|publicación|opciones|opción|propuestas?|"
         r"didascali[ae]|testo|testi|proposte?|legendas?|opções|opção|sugest(?:ão|ões)|bijschrift(?:en)?|"
         r"tekst(?:en)?|bericht|opties?|suggesties?)")
_NOUN_CJK = r"(?:キャプション|投稿文?|文案|配文|标题|帖子|说明文字)"
_PREAMBLE_END_RE = re.compile(r"[:：]\W{0,3}$")
_ACK_ONLY_RE = re.compile(rf"[¡]?(?:{_ACK}|{_ACK_CJK})[\s!.,。！、]*", re.IGNORECASE)
_ACK_START_RE = re.compile(rf"^[¡]?(?:{_ACK}\b|{_ACK_CJK})", re.IGNORECASE)
# A first line that only names what follows: "Instagram caption", "Caption for Mira".
_NOUN_LINE_RE = re.compile(
    rf"(?:[\w'’-]+\s+){{0,3}}{_NOUN}(?:\s+(?:for|für|pour|para|per|voor)\s+[^\n]{{1,40}})?\W*", re.IGNORECASE,
)
_NOUN_RE = re.compile(rf"(?<!\w){_NOUN}(?!\w)|{_NOUN_CJK}|以下", re.IGNORECASE)
_HERE_RE = re.compile(rf"(?<!\w){_HERE}(?!\w)|以下(?:は|が|是|为)|这是|这里是", re.IGNORECASE)
_INLINE_PREAMBLE_RE = re.compile(
    rf"^(?:{_ACK}[,!.]?\s+)?(?:{_HERE}\s+)?(?:(?:a|an|the|your|my|one|ein|eine|une|un|una|uma|een)\s+)?"
    rf"(?:[\w'’-]+\s+){{0,3}}?{_NOUN}(?:\s+(?:for|für|pour|para|per|voor|in|on|about)\s+[^:：\n]{{1,60}})?"
    rf"\s*(?:\([^)\n]{{0,40}}\))?\s*[:：]\s*|^{_NOUN_CJK}\s*[:：]\s*",
    re.IGNORECASE,
)
_SIGNOFF_RE = re.compile(r"^\W*(?:" + "|".join([
    # en
    r"let me know\b", r"feel free\b", r"(?:i )?hope (?:this|that|these|it) (?:helps|works|fits|is what)",
    r"hope you like (?:it|them|this)", r"(?:would|do) you (?:like|want) (?:me to|any|another|a (?:different|shorter|"
    r"longer)|more)", r"want me to\b", r"if you(?:'d| would)? (?:like|want|prefer|need)\b",
    r"i can (?:also |easily )?(?:adjust|make|tweak|change|write|create|provide|give)\b",
    r"happy to (?:adjust|help|tweak|write)\b", r"(?:notes?|explanation|why (?:this|it) works)\s*:",
    r"(?:this|the|these) captions? (?:is|are|uses?|keeps?|highlights?|captures?|combines?|has|have|should|will|"
    r"focus|emphasi)", r"i(?:'ve| have)? (?:kept|included|added|made|used|chose|written|wrote|aimed|focused)\b",
    # de
    r"lass (?:mich|es mich) wissen", r"sag (?:mir )?bescheid",
    r"ich hoffe,? (?:das|dies|die|es) (?:passt|hilft|gefällt)",
    r"(?:falls|wenn) du (?:noch |weitere |eine )?(?:änderungen|anpassungen|möchtest|magst|willst)",
    r"möchtest du (?:eine|noch|dass)\b", r"soll ich\b", r"(?:hinweis|anmerkung)\s*:",
    r"(?:diese|die) (?:caption|bildunterschrift) (?:ist|nutzt|verbindet|betont|hat)\b",
    # es
    r"(?:dime|avísame|házmelo saber)\b", r"espero que (?:te |le |les )?(?:sirva|guste|ayude)",
    r"si (?:quieres|deseas|necesitas|prefieres)\b", r"¿?(?:quieres|te gustaría) que\b", r"nota\s*:",
    r"(?:este|el) (?:pie de foto|texto|caption) (?:es|usa|combina|destaca)\b", r"he (?:escrito|incluido|añadido)\b",
    # fr
    r"n'hésite[zs]? pas\b", r"(?:dis|dites)-moi\b", r"j'espère que (?:cela|ça|cette|ce|la)\b",
    r"si (?:tu veux|vous voulez|vous souhaitez|tu souhaites|besoin)\b", r"(?:veux-tu|voulez-vous|souhaitez-vous)\b",
    r"(?:remarque|note)\s*:", r"(?:cette|la) légende (?:est|utilise|combine|met)\b",
    r"j'ai (?:écrit|inclus|ajouté|utilisé|gardé)\b",
    # it
    r"fa(?:mmi|temi) sapere\b", r"spero che (?:ti |vi )?(?:piaccia|sia utile|vada bene)", r"se (?:vuoi|desideri|"
    r"preferisci)\b", r"vuoi che\b", r"(?:questa|la) didascalia (?:è|usa|combina|mette)\b",
    r"ho (?:scritto|incluso|aggiunto)\b",
    # pt
    r"(?:me avise|avise-me|diga-me|me diga)\b", r"espero que (?:você |te )?(?:goste|ajude|sirva)",
    r"se (?:quiser|preferir|precisar)\b", r"quer que\b", r"(?:esta|a) legenda (?:é|usa|combina|destaca)\b",
    r"(?:eu )?(?:escrevi|incluí|adicionei)\b",
    # nl
    r"laat (?:me|het me|maar) weten\b", r"ik hoop dat (?:dit|het|deze) (?:helpt|bevalt|past)",
    r"als je (?:nog |een )?(?:wilt|aanpassingen|wijzigingen)\b", r"wil je (?:dat|een|nog)\b",
    r"(?:opmerking|let op)\s*:", r"(?:dit|het) bijschrift (?:is|gebruikt|combineert)\b",
    r"ik heb (?:\w+ )?(?:toegevoegd|gebruikt|geschreven)\b",
    # ja, zh
    r"いかがでしょうか", r"ご希望", r"修正(?:が|も|し)", r"お気軽に", r"気に入って(?:いただ|もら)", r"※", r"注[:：]",
    r"他の(?:バージョン|案)", r"希望(?:这|这个|这些|你|您)", r"如果(?:你|您)(?:需要|想|希望|还)",
    r"需要(?:我|调整|修改)",
    r"注意[:：]", r"请告诉我", r"可以根据",
]) + ")", re.IGNORECASE)
_OPTION_WORDS = (r"option|version|variant|variante|alternative|alternativa|caption|idea|vorschlag|opción|opcion|"
                 r"versión|proposition|opzione|versione|proposta|opção|versão|optie|versie|suggestie")
_OPTION_LABEL_RE = re.compile(
    rf"(?:^|(?<=\s))[(\[]?(?:{_OPTION_WORDS})\s*#?\s*(?:\d{{1,2}}|[a-e]|one|two|three|four|five)\b[)\]]?"
    r"(?:\s*\([^)\n]{0,40}\))?\s*[:：.)–—-]\s*"
    r"|(?:^|(?<=\s))(?:案|选项|方案|版本|オプション|パターン|バージョン|候補)\s*[0-9０-９一二三四五]+\s*[:：.、]\s*",
    re.IGNORECASE | re.MULTILINE,
)
_BOLD_DESCRIPTOR_RE = re.compile(
    rf"(?m)^(\s*(?:\d{{1,2}}[.)]|[-*•])?\s*)(?:\*\*|__)(?!\s*(?:{_OPTION_WORDS})\b)[^*_\n]{{1,40}}?"
    r"(?:[:：](?:\*\*|__)|(?:\*\*|__)\s*[:：])[ \t]*", re.IGNORECASE,
)
_LIST_ITEM_RE = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")
_WORD_RE = re.compile(r"[^\W\d_]{2,}|[\u3400-\u9fff]")


@dataclass
class ReplyRead:
    """What a reply says: its captions (several when it offers options), hashtags it listed apart (structured
    output), what was taken out of it (for the captions' repairs), or why it is no caption."""

    captions: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    refusal: str = ""
    notes: list[str] = field(default_factory=list)


def reply_tidy(text: str) -> str:
    """The reply cut to MAX_REPLY_CHARS, NFC, with Unix line ends and no control or invisible characters."""
    text = unicodedata.normalize("NFC", (text or "")[:MAX_REPLY_CHARS]).replace("\r\n", "\n").replace("\r", "\n")
    return invisible_remove(_CONTROL_RE.sub("", text)).strip()


def reasoning_strip(text: str) -> tuple[str, bool, bool]:
    """(`text` without the model's reasoning, whether it had any, whether the reasoning was cut off unfinished).

    Closed blocks go; an orphan closing tag ends reasoning that began in the prompt (templates that open <think>
    for the model); an opening tag never closed is reasoning cut off by the token limit, to the end."""
    final = _HARMONY_FINAL_RE.search(text)
    if final:
        return _SPECIAL_TOKEN_RE.sub("", final.group(1)).strip(), True, False
    analysis = list(_HARMONY_ANALYSIS_RE.finditer(text))
    cut = any(not match.group(1) for match in analysis)
    stripped, closed = _THINK_CLOSED_RE.subn("", _HARMONY_ANALYSIS_RE.sub("", text))
    closes = list(_THINK_CLOSE_RE.finditer(stripped))
    if closes:
        stripped = stripped[closes[-1].end():]
    opened = _THINK_OPEN_RE.search(stripped)
    if opened:
        stripped, cut = stripped[: opened.start()], True
    had = bool(analysis or closed or closes or opened)
    return _SPECIAL_TOKEN_RE.sub("", stripped).strip(), had, cut


def _unquote(text: str) -> str:
    """The text without quotes around all of it (hashtags after the closing quote stay)."""
    tags = _TRAILING_TAGS_RE.search(text)
    body, tail = (text[: tags.start()], tags.group(0)) if tags else (text, "")
    body = body.strip()
    while len(body) >= 2 and _QUOTES.get(body[0]) == body[-1]:
        inner = body[1:-1]
        if body[0] in inner or body[-1] in inner:
            break
        body = inner.strip()
    return f"{body}{tail}".strip()


def caption_text_clean(text: str) -> str:
    """One caption's text without what a writer wraps around it: reasoning, a code fence, a "Caption:" label,
    quotes. (reply_read does this and more for a whole model reply.)"""
    text = reasoning_strip(reply_tidy(text))[0]
    fences = _FENCE_RE.findall(text)
    if len(fences) == 1 and text.lstrip().startswith("```"):
        text = fences[0].strip()
    return _unquote(_INLINE_PREAMBLE_RE.sub("", text, count=1).strip())


def _markdown_plain(text: str) -> str:
    text = _BOLD_DESCRIPTOR_RE.sub(r"\1", text)
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?m)^#{1,6}\s+", "", text)  # headings ("# Title"; a hashtag has no space after the #)
    return re.sub(r"(?m)^\s*(?:-{3,}|\*{3,}|_{3,})\s*$", "", text)


def _is_preamble(line: str, more_follows: bool) -> bool:
    if len(line) > 200:
        return False
    if _ACK_ONLY_RE.fullmatch(line):
        return True
    starts = bool(_ACK_START_RE.search(line))
    if _PREAMBLE_END_RE.search(line):
        return starts or bool(_NOUN_RE.search(line))
    if more_follows and _NOUN_LINE_RE.fullmatch(line):
        return True
    return more_follows and bool(_NOUN_RE.search(line)) and (starts or bool(_HERE_RE.search(line)))


def _preamble_strip(text: str, notes: list[str]) -> str:
    for _ in range(3):  # "Sure!" / "Here's a caption for Mira:" / the caption
        lines = text.strip().split("\n")
        if _is_preamble(lines[0].strip(), more_follows=len(lines) > 1):
            text = "\n".join(lines[1:]).strip()
        else:
            inline = _INLINE_PREAMBLE_RE.match(lines[0].strip())
            if inline is None or not lines[0].strip()[inline.end():].strip():
                return text
            text = "\n".join([lines[0].strip()[inline.end():], *lines[1:]]).strip()
        if "preamble removed" not in notes:
            notes.append("preamble removed")
    return text


def _signoff_strip(text: str, notes: list[str]) -> str:
    lines = text.strip().split("\n")
    while len([line for line in lines if line.strip()]) > 1 and (
        not lines[-1].strip() or _SIGNOFF_RE.search(lines[-1].strip())
        or re.fullmatch(r"\(.*\)", lines[-1].strip()) and _NOUN_RE.search(lines[-1])
    ):
        if lines.pop().strip() and "sign-off removed" not in notes:
            notes.append("sign-off removed")
    sentences = re.split(r"(?<=[.!?。！？])\s+", lines[-1].strip()) if lines else []
    for index in range(1, len(sentences)):
        if _SIGNOFF_RE.search(sentences[index]):
            lines[-1] = " ".join(sentences[:index])
            if "sign-off removed" not in notes:
                notes.append("sign-off removed")
            break
    return "\n".join(lines).strip()


def _options_split(text: str) -> list[str]:
    labels = list(_OPTION_LABEL_RE.finditer(text))
    if len(labels) >= 2:
        ends = [match.start() for match in labels[1:]] + [len(text)]
        return [text[match.end():end] for match, end in zip(labels, ends, strict=True)]
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) >= 2 and _LIST_ITEM_RE.match(lines[0]):
        items: list[str] = []
        for line in lines:
            if _LIST_ITEM_RE.match(line):
                items.append(_LIST_ITEM_RE.sub("", line, count=1))
            else:
                items[-1] += "\n" + line
        if len(items) >= 2 and all(len(_WORD_RE.findall(item)) >= 3 for item in items):
            return items
    if len(lines) >= 2 and all(_unquote(line) != line.strip() and not _TRAILING_TAGS_RE.search(line)
                               for line in lines):
        return lines
    return [text]


def _one_caption(text: str) -> str:
    text = text.strip()
    label = _OPTION_LABEL_RE.match(text)
    if label and re.search(r"[:：]", label.group(0)):
        text = text[label.end():]
    text = _INLINE_PREAMBLE_RE.sub("", text, count=1)
    text = _HASHTAGS_LABEL_RE.sub("", text)
    return _unquote(re.sub(r"\n{3,}", "\n\n", text).strip())


def _plain_captions(text: str, notes: list[str]) -> list[str]:
    fences = [block for block in _FENCE_RE.findall(text) if block.strip()]
    if "```" in text:
        notes.append("code fences removed")
        if len(fences) >= 2:
            return [_one_caption(_markdown_plain(block)) for block in fences]
        if fences:
            text = fences[0]
    text = _signoff_strip(_preamble_strip(_markdown_plain(text), notes), notes)
    return [_one_caption(option) for option in _options_split(text)]


def _json_payload(text: str) -> object:
    """The JSON object (or list) a reply is, bare, fenced or after a preamble; None when it is not one."""
    candidates = [text, *_FENCE_RE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start: end + 1])
    for candidate in candidates:
        candidate = candidate.strip()
        if candidate[:1] in "{[":
            try:
                data = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(data, dict | list):
                return data
    return None


def _json_captions(data: object) -> tuple[list[str], list[str]]:
    """(captions, hashtags) of a JSON reply."""
    if isinstance(data, list):
        return [caption for item in data for caption in _json_captions(item)[0]], []
    if isinstance(data, str):
        return [data], []
    if not isinstance(data, dict):
        return [], []
    fields = {str(key).lower(): value for key, value in data.items()}
    captions: list[str] = []
    for key in _OPTION_KEYS:
        if isinstance(fields.get(key), list):
            captions = [c for item in fields[key] for c in _json_captions(item)[0]]
            break
    else:
        captions = [fields[key] for key in _CAPTION_KEYS if isinstance(fields.get(key), str)][:1]
    tags = fields.get("hashtags", fields.get("tags", []))
    tags = re.split(r"[\s,]+", tags) if isinstance(tags, str) else tags if isinstance(tags, list) else []
    return captions, [str(tag) for tag in tags if str(tag).strip()]


def _last_sentence_end(text: str) -> str:
    ends = list(re.finditer(r"[.!?。！？…]+[\"'”’»」』)]*(?=\s|$)", text))
    return text[: ends[-1].end()] if ends else ""


def reply_read(
    text: str,
    *,
    languages: Sequence[str] = ("en",),
    instructions: Sequence[str] = (),
    structured: bool = False,
    truncated: bool = False,
    reasoned: bool = False,
    model_refusal: str = "",
) -> ReplyRead:
    """The captions a model's reply holds, or the reason it holds none.

    `languages`: the caption's languages ("de", "en" for a bilingual caption); `instructions`: the prompt's lines
    (a reply that repeats one is refused); `structured`: JSON output was asked for; `truncated`: the reply hit the
    token limit; `reasoned`: the server returned reasoning apart from the reply; `model_refusal`: the refusal the
    server reported instead of a reply."""
    if model_refusal.strip():
        return ReplyRead(refusal=f'the model declined ("{model_refusal.strip()[:120]}")')
    read = ReplyRead()
    text, had_reasoning, cut_off = reasoning_strip(reply_tidy(text))
    if had_reasoning:
        read.notes.append("reasoning removed")
    if not text.strip(" .…\n"):
        if cut_off or ((had_reasoning or reasoned) and truncated):
            read.refusal = "the reply is the model's reasoning, cut off by the token limit before any caption"
        elif had_reasoning or reasoned:
            read.refusal = "the reply is the model's reasoning, without a caption"
        else:
            read.refusal = "the reply has no caption text"
        return read

    data = _json_payload(text)
    partial = None if data is not None else _PARTIAL_JSON_CAPTION_RE.search(text)
    if data is not None:
        captions, read.hashtags = _json_captions(data)
        if not structured:
            read.notes.append("JSON wrapper removed")
        if not captions:
            read.refusal = "the JSON reply has no caption"
            return read
        text_captions = [c for caption in captions for c in _plain_captions(reply_tidy(caption), read.notes)]
        truncated = False  # the JSON is whole
    elif partial and re.sub(r"^```\w*\s*", "", text).startswith("{"):
        try:
            caption = json.loads(f'"{partial.group(1).rstrip(chr(92))}"')
        except ValueError:
            caption = partial.group(1).replace("\\n", "\n").replace('\\"', '"')
        text_captions, truncated = _plain_captions(caption, read.notes), True
        read.notes.append("JSON wrapper removed")
    else:
        text_captions = _plain_captions(text, read.notes)

    text_captions = [caption for caption in text_captions if caption.strip()]
    if truncated and text_captions:
        whole = _last_sentence_end(text_captions[-1])
        if whole and whole != text_captions[-1]:
            read.notes.append("cut at its last full sentence (the reply hit the token limit)")
        text_captions[-1:] = [whole] if whole else []
        if not text_captions:
            read.refusal = "the reply was cut off by the token limit before the caption ended"
            return read
    if len(text_captions) > 1:
        read.notes.append(f"{len(text_captions)} options kept as separate captions")

    problems = []
    for caption in dict.fromkeys(text_captions):
        problem = caption_problem(caption, languages=languages, instructions=instructions)
        if problem:
            problems.append(problem)
        elif len(read.captions) < MAX_OPTIONS:
            read.captions.append(caption)
    if not read.captions:
        read.refusal = problems[0] if problems else "the reply has no caption text"
    return read
