"""A tiny Stable-Diffusion-architecture pipeline for development and tests, plus the real CLIP tokenizer.

The UNet and text encoder have random (seeded) weights, so base images are coloured noise; the VAE is hand-set
to a near-linear down/up-sampler so colours survive, and the scheduler predicts v. A persona LoRA trained for a few
dozen steps therefore visibly moves images towards its references, and every code path (tokenizer, text encoder,
UNet, VAE, schedulers, LoRA loading and training) is exactly the one a real SD checkpoint goes through.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import torch
from django.conf import settings

CLIP_BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
CLIP_BPE_NAME = "bpe_simple_vocab_16e6.txt.gz"
TINY_MODEL_DIRNAME = "tiny-sd"
TINY_SDXL_MODEL_DIRNAME = "tiny-sdxl"
TINY_SEED = 20240601
# Bump when build_tiny_pipeline changes: caches built by an older version are rebuilt.
TINY_MODEL_VERSION = 3
TINY_MARKER = "persona_studio_tiny.json"
TINY_SDXL_TEXT_2_WIDTH = 48  # the tiny SD text encoder (SDXL's first) is 32 wide
# SD 1.x noise schedule: what real checkpoints ship in scheduler_config.json.
SD_SCHEDULER_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
}


class ClipVocabMissing(RuntimeError):
    pass


def _setting(name: str) -> str:
    return str(getattr(settings, name, "") or os.environ.get(name, "") or "")


def _vendor_dirs() -> list[Path]:
    dirs = [Path(settings.VAR_DIR) / "vendor", Path(settings.BASE_DIR) / "var" / "vendor"]
    return list(dict.fromkeys(dirs))


def _extract_from_wheel(wheel: Path, dest_dir: Path) -> Path:
    dest = dest_dir / CLIP_BPE_NAME
    if dest.exists():
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(CLIP_BPE_MEMBER)
    # Write then rename so a concurrent reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=dest_dir, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, dest)
    return dest


def clip_vocab_path() -> Path:
    """Locate OpenAI CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz).

    Order: GENERATION_CLIP_VOCAB (a .txt.gz or an open-clip-torch wheel), then var/vendor/*.txt.gz, then
    var/vendor/open_clip_torch-*.whl (extracted into the model cache).
    """
    cache_dir = Path(settings.GENERATION_MODEL_CACHE) / "clip-bpe"
    explicit = _setting("GENERATION_CLIP_VOCAB")
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    for vendor in _vendor_dirs():
        if vendor.is_dir():
            candidates += sorted(vendor.glob("*.txt.gz"))
            candidates += sorted(vendor.glob("open_clip_torch-*.whl"))
    for candidate in candidates:
        if not candidate.is_file():
            continue
        if candidate.suffix == ".whl":
            try:
                return _extract_from_wheel(candidate, cache_dir)
            except (KeyError, zipfile.BadZipFile):
                continue
        return candidate
    raise ClipVocabMissing(
        "CLIP BPE vocabulary not found: set GENERATION_CLIP_VOCAB or put open_clip_torch-*.whl "
        f"(pip download --no-deps open-clip-torch==3.3.0) into one of {[str(d) for d in _vendor_dirs()]}."
    )


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP / GPT-2 reversible byte-to-unicode table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def write_clip_tokenizer_files(bpe_path: Path, out_dir: Path) -> None:
    """vocab.json + merges.txt built from the BPE file exactly as OpenAI CLIP's SimpleTokenizer does."""
    with gzip.open(bpe_path) as fh:
        lines = fh.read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(p) for p in pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(p) for p in pairs) + "\n")


@lru_cache(maxsize=4)
def build_clip_tokenizer(bpe_path: Path | None = None):
    from transformers import CLIPTokenizer

    bpe_path = bpe_path or clip_vocab_path()
    with tempfile.TemporaryDirectory() as tmp:
        write_clip_tokenizer_files(bpe_path, Path(tmp))
        return CLIPTokenizer(
            vocab=json.loads((Path(tmp) / "vocab.json").read_text()),
            merges=[tuple(m.split()) for m in (Path(tmp) / "merges.txt").read_text().split("\n")[1:-1]],
            model_max_length=77,
        )


@torch.no_grad()
def _make_vae_colour_preserving(vae) -> None:
    """Hand-set the tiny VAE to a near-linear 2x down/up-sampler: latent channels 0-2 = RGB in [-1, 1].

    A randomly initialised VAE is colour-blind (its GroupNorms remove per-channel means), so nothing learned in
    latent space would show in pixels. Resnets and attention become identities (zeroed residual branches);
    each signal x sits in a norm group next to -x and large constants K, -K, so GroupNorm only rescales it by a
    nearly constant factor, and SiLU(a) - SiLU(-a) = a undoes the activation.
    """
    k = 4.0

    def identity_residuals(block_owner) -> None:
        for module in block_owner.modules():
            name = type(module).__name__
            if name == "ResnetBlock2D":
                module.conv2.weight.zero_()
                module.conv2.bias.zero_()
                if module.conv_shortcut is not None:
                    w = module.conv_shortcut.weight
                    w.zero_()
                    n = min(w.shape[0], w.shape[1])
                    w[:n, :n, 0, 0] = torch.eye(n)
                    module.conv_shortcut.bias.zero_()
            elif name == "Attention":
                module.to_out[0].weight.zero_()
                module.to_out[0].bias.zero_()
            elif name == "Downsample2D":
                w = module.conv.weight
                w.zero_()
                for c in range(w.shape[0]):
                    w[c, c, 0:2, 0:2] = 0.25  # 2x2 average pool (the layer pads right/bottom)
                module.conv.bias.zero_()
            elif name == "Upsample2D":
                w = module.conv.weight
                w.zero_()
                for c in range(w.shape[0]):
                    w[c, c, 1, 1] = 1.0  # keep the nearest-neighbour upsample as is
                module.conv.bias.zero_()

    def signal_in(conv, signals: int, group: int) -> None:
        # Channel group g carries input channel g as [x, -x, K, -K, ...]; unused groups carry constants only.
        conv.weight.zero_()
        conv.bias.zero_()
        for g in range(conv.out_channels // group):
            base = g * group
            if g < signals:
                conv.weight[base, g, 1, 1] = 1.0
                conv.weight[base + 1, g, 1, 1] = -1.0
            for j in range(2, group, 2):
                conv.bias[base + j] = k
                conv.bias[base + j + 1] = -k

    def signal_out(conv, signals: int, group: int, *, extra_bias: dict[int, float] | None = None) -> None:
        std = ((2 * 0.25 + (group - 2) * k * k) / group) ** 0.5  # group std for a typical |x| ~ 0.5
        conv.weight.zero_()
        conv.bias.zero_()
        for c in range(signals):
            conv.weight[c, c * group, 1, 1] = std
            conv.weight[c, c * group + 1, 1, 1] = -std
        for c, value in (extra_bias or {}).items():
            conv.bias[c] = value

    enc, dec = vae.encoder, vae.decoder
    enc_group = enc.conv_norm_out.num_channels // enc.conv_norm_out.num_groups
    dec_group = dec.conv_norm_out.num_channels // dec.conv_norm_out.num_groups
    identity_residuals(enc)
    identity_residuals(dec)
    signal_in(enc.conv_in, 3, enc_group)
    # Mean = RGB (channel 3 stays 0); log-variance very negative, so sampling is effectively deterministic.
    signal_out(enc.conv_out, 3, enc_group, extra_bias={4 + i: -30.0 for i in range(4)})
    signal_in(dec.conv_in, 4, dec_group)
    signal_out(dec.conv_out, 3, dec_group)
    for conv in (vae.quant_conv, vae.post_quant_conv):
        if conv is not None:
            conv.weight.zero_()
            conv.weight[:, :, 0, 0] = torch.eye(conv.out_channels)
            conv.bias.zero_()


TINY_UNET_LAYOUT = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    # 4 channels per norm group (not 1): with one channel per group the final GroupNorm removes every channel's
    # mean, and no colour shift a LoRA learns could reach the output.
    "norm_num_groups": 8,
}


def build_tiny_pipeline():
    """Deterministic tiny SD pipeline (random weights from a fixed seed)."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = build_clip_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        unet = UNet2DConditionModel(**TINY_UNET_LAYOUT, cross_attention_dim=32, attention_head_dim=8)
        vae = AutoencoderKL(
            block_out_channels=(32, 64),
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            sample_size=64,
            norm_num_groups=8,
            scaling_factor=1.0,
        )
        _make_vae_colour_preserving(vae)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=49406,
                eos_token_id=49407,
                pad_token_id=49407,
                hidden_size=32,
                intermediate_size=37,
                layer_norm_eps=1e-5,
                num_attention_heads=4,
                num_hidden_layers=2,
                vocab_size=49408,
                max_position_embeddings=77,
            )
        )
    # v-prediction (as SD 2.x): even a barely trained LoRA moves v towards -sigma * x0 of the persona, so
    # fine-tuning this random UNet for a few dozen steps visibly steers its images (epsilon would need a real
    # pre-trained denoiser first).
    scheduler = DPMSolverMultistepScheduler(**{**SD_SCHEDULER_CONFIG, "prediction_type": "v_prediction"})
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_sdxl_pipeline():
    """A tiny SDXL-architecture pipeline (two text encoders, pooled text + size conditioning) with random weights
    from a fixed seed: exercises the engine's and training's SDXL code paths on CPU in seconds. Its VAE is the
    tiny SD one (colour preserving), so a persona LoRA shows as a colour shift here too."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    sd = build_tiny_pipeline()
    # The second encoder is wider than the first (as real SDXL's 1280 vs 768): diffusers' single-file loader tells
    # the two apart by width, so equal widths would load the first encoder's weights into the second.
    text_config = {**sd.text_encoder.config.to_dict(), "hidden_size": TINY_SDXL_TEXT_2_WIDTH, "projection_dim": 32}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED + 1)
        unet = UNet2DConditionModel(
            **TINY_UNET_LAYOUT,
            attention_head_dim=(4, 8),
            use_linear_projection=True,
            transformer_layers_per_block=(1, 2),
            # The two encoders' hidden states, concatenated.
            cross_attention_dim=sd.text_encoder.config.hidden_size + TINY_SDXL_TEXT_2_WIDTH,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            # Six size/crop ids + the pooled (projected) text embedding of the second encoder.
            projection_class_embeddings_input_dim=6 * 8 + text_config["projection_dim"],
        )
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_config))
    return StableDiffusionXLPipeline(
        vae=sd.vae,
        text_encoder=sd.text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=sd.tokenizer,
        tokenizer_2=build_clip_tokenizer(),
        unet=unet,
        scheduler=sd.scheduler,
    )


def _is_current(folder: Path) -> bool:
    try:
        marker = json.loads((folder / TINY_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("version") == TINY_MODEL_VERSION and (folder / "model_index.json").exists()


def ensure_tiny_model(cache_dir: Path | None = None, *, sdxl: bool = False) -> Path:
    """Build and save the tiny model (SD, or SDXL with `sdxl`) once; return its diffusers folder. Safe against
    concurrent builders: each builds under a temp dir and renames it into place; the loser discards its (identical)
    copy."""
    cache_dir = Path(cache_dir or settings.GENERATION_MODEL_CACHE)
    target = cache_dir / (TINY_SDXL_MODEL_DIRNAME if sdxl else TINY_MODEL_DIRNAME)
    if _is_current(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-sd-", dir=cache_dir))
    try:
        (build_tiny_sdxl_pipeline() if sdxl else build_tiny_pipeline()).save_pretrained(tmp, safe_serialization=True)
        (tmp / TINY_MARKER).write_text(json.dumps({"version": TINY_MODEL_VERSION, "seed": TINY_SEED}))
        if target.exists() and not _is_current(target):
            stale = Path(tempfile.mkdtemp(prefix=".tiny-sd-stale-", dir=cache_dir))
            with contextlib.suppress(OSError):  # someone else moved it already
                os.rename(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_current(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
