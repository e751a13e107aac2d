"""Replies real language models give (through Ollama, vLLM, llama.cpp or LM Studio), each with the captions it must
give or a phrase of the refusal it must raise: tests/core/test_caption_replies.py reads them directly, the caption
writer's tests send some through the loopback chat-completions server."""

from __future__ import annotations

EN = "AI-generated"
RUN = "Sunrise laps, then espresso."
RUN_2 = "Ten kilometres before breakfast, zero regrets."
INSTRUCTION = "You write X captions for Mira, an AI-generated virtual influencer (age 27)."

# (reply, language, options, the captions it gives or a phrase of the refusal it raises)
CASES = {
    # Reasoning in its variants
    "think block": (f"<think>\nMira runs at dawn; keep it short.\n</think>\n\n{RUN}", "en", {}, [RUN]),
    "orphan closing tag (template opened it)": (f"Mira runs at dawn, so keep it short.\n</think>\n{RUN}", "en", {},
                                                [RUN]),
    "think block cut off by the token limit": (
        "<think>\nOkay, the user wants a caption for Mira. Let me think about her voice", "en", {"truncated": True},
        "reasoning, cut off by the token limit"),
    "caption cut off after the reasoning": (f"<think>short</think>\n{RUN} Then a long walk along the riv", "en",
                                            {"truncated": True}, [RUN]),
    "thinking tag, other case": ("<Thinking>Plan: the pier.</Thinking>Golden hour on the pier.", "en", {},
                                 ["Golden hour on the pier."]),
    "gpt-oss channels": ("<|channel|>analysis<|message|>Need something short.<|end|><|start|>assistant<|channel|>final"
                         "<|message|>Golden hour on the pier.<|return|>", "en", {}, ["Golden hour on the pier."]),
    "THINK brackets": ("[THINK]Short and warm.[/THINK]Golden hour on the pier.", "en", {},
                       ["Golden hour on the pier."]),
    "reasoning only": ("<think>I should write about the pier.</think>", "en", {}, "reasoning, without a caption"),
    "reasoning apart, no content, at the limit": ("", "en", {"reasoned": True, "truncated": True},
                                                  "cut off by the token limit"),
    "thinking aloud without tags": ("Okay, so the user wants a caption for Mira's morning run. Let me think.", "en",
                                    {}, "talks about the caption"),
    "chat-template tokens left in": (f"<|im_start|>assistant\n{RUN}<|im_end|>", "en", {}, [RUN]),
    # Preambles and sign-offs, in every caption language
    "preamble the old pattern missed": (f"Okay, here's a caption for Mira:\n\n{RUN}", "en", {}, [RUN]),
    "preamble and quotes": (f'Sure! Here is a playful caption for Mira\'s morning run:\n"{RUN}"', "en", {}, [RUN]),
    "caption label": (f"Caption: {RUN}", "en", {}, [RUN]),
    "inline preamble": (f"Here's a caption for Mira: {RUN}", "en", {}, [RUN]),
    "heading": (f"# Instagram caption\n\n{RUN}", "en", {}, [RUN]),
    "sign-offs": (f"{RUN}\n\nI hope this helps! Let me know if you'd like a different tone.", "en", {}, [RUN]),
    "sign-off in the same line": (f"{RUN} Let me know if you want a shorter version!", "en", {}, [RUN]),
    "explanation after": (f"{RUN}\n\nThis caption keeps Mira's playful voice and short sentences.", "en", {}, [RUN]),
    "note after": (f"{RUN}\n\nNote: I left out the disclosure label as requested.", "en", {}, [RUN]),
    "de": ("Klar! Hier ist eine Bildunterschrift für Mira:\n„Morgens laufen, dann Espresso.“\n\nLass mich wissen, "
           "wenn du Änderungen möchtest!", "de", {}, ["Morgens laufen, dann Espresso."]),
    "fr": ("Voici une légende pour Mira :\n\n« Course au lever du soleil, puis un espresso. »\n\nN'hésitez pas à me "
           "dire si vous voulez une autre version !", "fr", {}, ["Course au lever du soleil, puis un espresso."]),
    "es": ("¡Claro! Aquí tienes un pie de foto para Mira:\n\nCorrer al amanecer y luego un café. Prioridades.\n\n"
           "Espero que te guste.", "es", {}, ["Correr al amanecer y luego un café. Prioridades."]),
    "it": ("Certo! Ecco una didascalia per Mira:\n\nCorsa all'alba, poi un espresso. Priorità.\n\nFammi sapere se "
           "vuoi modifiche!", "it", {}, ["Corsa all'alba, poi un espresso. Priorità."]),
    "pt": ("Claro! Aqui está uma legenda para a Mira:\n\nCorrida ao amanhecer e depois um café. Prioridades.\n\n"
           "Espero que goste!", "pt", {}, ["Corrida ao amanhecer e depois um café. Prioridades."]),
    "nl": ("Natuurlijk! Hier is een bijschrift voor Mira:\n\nRennen bij zonsopgang, daarna een espresso.\n\nLaat me "
           "weten als je iets wilt aanpassen!", "nl", {}, ["Rennen bij zonsopgang, daarna een espresso."]),
    "ja": ("はい、ミラのキャプションです：\n\n朝焼けのランニング、そしてエスプレッソ。\n\nいかがでしょうか？", "ja", {},
           ["朝焼けのランニング、そしてエスプレッソ。"]),
    "zh": ("好的，以下是为Mira写的文案：\n\n清晨跑步，然后一杯浓缩咖啡。\n\n希望你喜欢！", "zh", {},
           ["清晨跑步，然后一杯浓缩咖啡。"]),
    # JSON and markdown
    "structured output": (f'{{"caption": "{RUN}", "hashtags": ["#running"], "language": "en"}}', "en",
                          {"structured": True}, [RUN]),
    "fenced JSON": (f'```json\n{{"caption": "{RUN}"}}\n```', "en", {}, [RUN]),
    "JSON after a preamble": (f'Here is the JSON:\n{{"caption": "{RUN}", "hashtags": []}}', "en", {}, [RUN]),
    "JSON options": (f'{{"captions": ["{RUN}", "{RUN_2}"]}}', "en", {}, [RUN, RUN_2]),
    "JSON cut off": (f'{{"caption": "{RUN} Ten kilometres before breakf', "en", {"truncated": True}, [RUN]),
    "JSON without a caption": ('{"hashtags": ["#running"]}', "en", {"structured": True}, "JSON reply has no caption"),
    "markdown emphasis": ("**Sunrise laps**, then *espresso*.", "en", {}, [RUN]),
    "code fence": (f"```\n{RUN}\n```", "en", {}, [RUN]),
    # Several options: separate captions, never one
    "options in a line": (f"Option 1: {RUN} Option 2: {RUN_2}", "en", {}, [RUN, RUN_2]),
    "numbered options": (f"Here are three options:\n\n1. {RUN}\n2. {RUN_2}\n3. City asleep, legs awake.\n\nLet me "
                         "know if you'd like any changes!", "en", {}, [RUN, RUN_2, "City asleep, legs awake."]),
    "bold option labels": (f"**Option 1 (playful):** {RUN}\n\n**Option 2 (polished):** {RUN_2}", "en", {},
                           [RUN, RUN_2]),
    "German variants": ("Variante 1: Morgens laufen, dann Espresso.\nVariante 2: Zehn Kilometer vor dem Frühstück.",
                        "de", {}, ["Morgens laufen, dann Espresso.", "Zehn Kilometer vor dem Frühstück."]),
    "bullets": (f"- {RUN}\n- {RUN_2}", "en", {}, [RUN, RUN_2]),
    "two fences": (f"```\n{RUN}\n```\n\n```\n{RUN_2}\n```", "en", {}, [RUN, RUN_2]),
    "a caption with a short list stays one": ("3 things I love:\n1. Coffee\n2. Sunrise\n3. Repeat", "en", {},
                                              ["3 things I love:\n1. Coffee\n2. Sunrise\n3. Repeat"]),
    # Refusals, instructions, meta-text
    "refusal": ("I'm sorry, but I can't help with that.", "en", {}, "the model declined"),
    "refusal without apology": ("I can't create content that promotes this product.", "en", {}, "the model declined"),
    "server-reported refusal": ("", "en", {"model_refusal": "I can't assist with that request."}, "the model declined"),
    "German refusal": ("Es tut mir leid, aber ich kann dabei nicht helfen.", "de", {}, "the model declined"),
    "French refusal": ("Désolé, je ne peux pas écrire cette légende.", "fr", {}, "the model declined"),
    "Japanese refusal": ("申し訳ありませんが、そのキャプションは作成できません。", "ja", {}, "the model declined"),
    "can't in a caption is no refusal": ("I can't stop smiling after this run!", "en", {},
                                         ["I can't stop smiling after this run!"]),
    "non posso in a caption is no refusal": ("Non posso smettere di sorridere dopo questa corsa!", "it", {},
                                             ["Non posso smettere di sorridere dopo questa corsa!"]),
    "the instructions repeated": (f"{INSTRUCTION}\n{RUN}", "en", {}, "repeats the instructions"),
    "the prompt's rule echoed": ('Do not write the disclosure "AI-generated": it is added automatically.', "en", {},
                                 "repeats the instructions"),
    "placeholder": ("Sunrise laps in my new [brand name] shoes!", "en", {}, "placeholder"),
    "talk about a caption": ("This caption highlights Mira's love of running and coffee.", "en", {},
                             "talks about the caption"),
    # Emoji only, hashtags only
    "emoji only": ("🏃‍♀️☕️✨", "en", {}, "no words"),
    "hashtags only": ("#running #coffee #morning", "en", {}, "no words"),
    "emoji and words": (f"☕️✨ {RUN}", "en", {}, [f"☕️✨ {RUN}"]),
    # The wrong language
    "English for a German caption": ("Coffee, sun and a new day with my favourite people in the city.", "de", {},
                                     "written in English, not German"),
    "German for an English caption": ("Heute laufe ich mit meinen Freunden durch die Stadt und trinke danach einen "
                                      "Kaffee.", "en", {}, "written in German, not English"),
    "Latin letters for a Japanese caption": (RUN + " Priorities.", "ja", {}, "not Japanese"),
    "Japanese for a Chinese caption": ("朝焼けのランニング、そしてエスプレッソ。", "zh", {}, "Japanese, not Chinese"),
    "Chinese for an English caption": ("清晨跑步，然后一杯浓缩咖啡。", "en", {}, "written in Chinese"),
    "bilingual": ("Morgens laufen, dann Espresso.\n\n" + RUN, "de+en", {},
                  ["Morgens laufen, dann Espresso.\n\n" + RUN]),
    "a few English words in German": ("Montag, Kaffee und Sonne. Let's go!", "de", {},
                                      ["Montag, Kaffee und Sonne. Let's go!"]),
    # Labels: an obfuscated copy is the label, replaced by the real one exactly once
    "zero-width space in the label": (f"{RUN}\n\nAI\u200b-generated", "en", {}, [RUN]),
    "Cyrillic letters in the label": (f"{RUN} \u0410I-g\u0435n\u0435r\u0430t\u0435d", "en", {}, [RUN]),
    "fullwidth label": (f"{RUN} ＡＩ－ｇｅｎｅｒａｔｅｄ", "en", {}, [RUN]),
    "bidirectional controls around the label": (f"{RUN} \u202eAI-generated\u202c", "en", {}, [RUN]),
    "l for I": (f"{RUN} Al-generated", "en", {}, [RUN]),
    "label twice, one with a non-breaking hyphen": (f"AI-generated\n\n{RUN} AI\u2011generated", "en", {}, [RUN]),
    "German label with a soft hyphen": ("Morgens laufen, dann Espresso. KI\u00ad-generiert", "de", {},
                                        ["Morgens laufen, dann Espresso."]),
    "label with a spaced dash": (f"{RUN} AI – generated", "en", {}, [RUN]),
}
