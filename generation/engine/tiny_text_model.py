"""A tiny GPT-2 causal LM with random (seeded) weights and a byte-level BPE tokenizer trained here on a few
sentences, saved as a normal transformers folder with a chat template: what CAPTION_WRITER=transformers loads,
for development and tests. Nothing comes from a model hub. Its replies are gibberish, which is the point: the
caption rules must turn whatever it writes into a caption that keeps them.
"""

from __future__ import annotations

from pathlib import Path

TINY_TEXT_SEED = 20240601
CORPUS = [
    "Golden hour on the rooftop, coffee in hand.",
    "Morning run by the harbour, then brunch with friends.",
    "Kaffee am Morgen, Sonne am Nachmittag. Schöne Momente.",
    "Nueva semana, nuevas ideas. ¿Qué opináis?",
    "AI-generated virtual influencer. KI-generiert. Generado con IA. AI生成.",
    "#ootd #travel #coffee #fitness what do you think? ✨",
]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tiny_causal_lm(folder: str | Path) -> Path:
    """Write the tiny model and its tokenizer to `folder` (created) and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                        pad_token="<|endoftext|>", model_max_length=256)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)

    torch.manual_seed(TINY_TEXT_SEED)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
