"""Caption languages: the codes a persona may write captions in, their names, and the common words that hint
which one a text is written in (core.caption_reply_checks refuses a model caption in the wrong language).

Each language's AI-disclosure label is a caption rule: core.captions owns the label table.
"""

from __future__ import annotations

import re

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


# Common words of each Latin-script caption language; a word in two lists tells nothing and is dropped below.
_COMMON_WORDS = {
    "en": "the and with this that my you your for today just what it's i'm our are was have has be from all can't "
          "love new time about here there they these those when who why how more some out up day week morning night "
          "off back get got feel every one is we will of to on at it",
    "de": "und der die das ist nicht mit ich ein eine einen auf für heute mein meine wir zu den dem noch auch sich "
          "ihr euch mal schon jetzt wie was hier bei nach aber oder sind habe neue neuen diese dieser mehr immer "
          "endlich wochenende tag ganz sehr viel uns unser unsere beim im vom zum zur gibt kann es",
    "es": "el los las y para hoy muy pero del esta este está nuestro nuestra nueva nuevo también más con una un que "
          "mi mis es en por lo al como todo día semana fin mañana noche hay ser estoy tu su gracias ya aquí cada "
          "hasta desde sin sobre porque",
    "fr": "le les et est une des du avec pour sur pas je nous mon ma mes aujourd'hui c'est très dans au ce cette qui "
          "que ne plus tout vous on sont fait j'ai aux ces notre nos votre vos moi toi bien encore enfin ici chez "
          "semaine matin soir nouveau nouvelle journée où",
    "it": "il gli di che è per con sono una della oggi mio mia non anche nel alla questo questa nella dei delle "
          "degli del le lo un ma più sempre ancora tutto tutti ogni giorno settimana mattina sera nuovo nuova ecco "
          "qui al ci siamo nostro nostra molto grazie finalmente voglia",
    "pt": "o os as e com não uma um para hoje meu minha é do da dos das em nós mais você muito também no na nos nas "
          "ao esta este isso isto seu sua ainda sempre dia semana manhã noite novo nova obrigado obrigada aqui pelo "
          "pela já só vamos estou cada meus minhas",
    "nl": "de het een en van is met op voor niet ik mijn vandaag wij we zijn ook dit deze naar maar nog al wat er "
          "bij te om uit hoe nu heel veel onze ons jullie weer lekker nieuwe dag week weekend ochtend avond "
          "eindelijk gewoon echt even toch",
}
_WORD_LISTS = {code: set(words.split()) for code, words in _COMMON_WORDS.items()}
WORD_LANGUAGE: dict[str, str] = {
    word: code
    for code, words in _WORD_LISTS.items()
    for word in words
    if sum(word in other for other in _WORD_LISTS.values()) == 1
}


def language_word_counts(text: str) -> dict[str, int]:
    """How many words of `text` are common words of each Latin-script caption language (words that two of them
    share are not counted): a rough sign of the language a text is written in."""
    counts = dict.fromkeys(_WORD_LISTS, 0)
    for word in re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", text.lower()):
        code = WORD_LANGUAGE.get(word.replace("’", "'"))
        if code:
            counts[code] += 1
    return counts
