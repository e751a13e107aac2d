"""Template captions in the languages of the disclosure-label table (English lives in templates.py, with its
tones). The scene is the marketer's own text and is used as written."""

from __future__ import annotations

# code -> (templates, closing lines). Every template takes {scene}, {scene_lower} and {topic}.
LOCALIZED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("{scene}. {topic}", "Kleine Momente wie dieser: {scene_lower}. {topic}",
         "Heute bei mir: {scene_lower}. {topic}"),
        ("Solche Tage mag ich.", "Mehr davon bald.", "Das behalte ich."),
    ),
    "es": (
        ("{scene}. {topic}", "Pequeños momentos como este: {scene_lower}. {topic}", "Hoy toca: {scene_lower}. {topic}"),
        ("Días así me encantan.", "Pronto más.", "Me lo guardo."),
    ),
    "fr": (
        ("{scene}. {topic}", "Des petits moments comme celui-ci : {scene_lower}. {topic}",
         "Aujourd'hui : {scene_lower}. {topic}"),
        ("J'adore ces journées.", "À suivre.", "Je garde celui-là."),
    ),
    "it": (
        ("{scene}. {topic}", "Piccoli momenti come questo: {scene_lower}. {topic}", "Oggi: {scene_lower}. {topic}"),
        ("Adoro giornate così.", "Presto altro.", "Questo lo tengo."),
    ),
    "pt": (
        ("{scene}. {topic}", "Pequenos momentos como este: {scene_lower}. {topic}", "Hoje: {scene_lower}. {topic}"),
        ("Adoro dias assim.", "Mais em breve.", "Este fica guardado."),
    ),
    "nl": (
        ("{scene}. {topic}", "Kleine momenten zoals dit: {scene_lower}. {topic}", "Vandaag: {scene_lower}. {topic}"),
        ("Zulke dagen zijn de beste.", "Binnenkort meer.", "Deze bewaar ik."),
    ),
    "ja": (
        ("{scene}。{topic}", "今日のひとこま：{scene_lower}。{topic}", "こんな瞬間が好き：{scene_lower}。{topic}"),
        ("また明日。", "もっと見せるね。", "大切な一枚。"),
    ),
    "zh": (
        ("{scene}。{topic}", "今天的小日常：{scene_lower}。{topic}", "喜欢这样的时刻：{scene_lower}。{topic}"),
        ("明天见。", "更多内容即将分享。", "值得珍藏。"),
    ),
}

# What a rewrite "add a question" appends, per language.
QUESTIONS: dict[str, str] = {
    "en": "What do you think?",
    "de": "Was meint ihr?",
    "es": "¿Qué opináis?",
    "fr": "Qu'en pensez-vous ?",
    "it": "Che ne pensate?",
    "pt": "O que acham?",
    "nl": "Wat vinden jullie?",
    "ja": "みんなはどう思う？",
    "zh": "你们觉得呢？",
}
PLAYFUL_OPENERS: dict[str, str] = {
    "en": "Plot twist:", "de": "Überraschung:", "es": "Sorpresa:", "fr": "Surprise :", "it": "Sorpresa:",
    "pt": "Surpresa:", "nl": "Verrassing:", "ja": "まさかの", "zh": "惊喜：",
}

def localized_templates(code: str) -> tuple[str, ...]:
    return LOCALIZED[code][0]


def localized_topic_lines(code: str) -> tuple[str, ...]:
    return LOCALIZED[code][1]
