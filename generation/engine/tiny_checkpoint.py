"""Write a diffusers folder as one single-file checkpoint in the original Stable Diffusion layout (what A1111 and
Civitai distribute), so the tests and the demo load a single file through diffusers' real `from_single_file` path.

The key names are the inverse of diffusers' own single-file conversion (diffusers.loaders.single_file_utils): its
top-level tables are read from there and inverted; the block numbering follows its conversion rules, for any
number of blocks and layers per block (the tiny models have two blocks of one layer).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
           "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
_VAE_ATTENTION = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}


def _component(folder: Path, name: str) -> tuple[dict, dict]:
    config = json.loads((folder / name / "config.json").read_text())
    weights = next(p for p in sorted((folder / name).glob("*.safetensors")))
    return config, load_file(str(weights))


def _text_model_keys(state: dict) -> dict:
    """transformers 5 saves a CLIP text model's weights without the `text_model.` prefix the original has."""
    return {k if k.startswith(("text_model.", "text_projection")) else f"text_model.{k}": v for k, v in state.items()}


def _replace_all(text: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        text = text.replace(old, new)
    return text


def _unet_key(key: str, layers: int, up_has_attention: list[bool]) -> str:
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    tables = DIFFUSERS_TO_LDM_MAPPING["unet"]
    for table in (tables["layers"], tables["addition_embed_type"]):
        if key in table:
            return table[key]
    parts = key.split(".")
    per_block = layers + 1
    if parts[0] == "down_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
        if kind == "downsamplers":
            return f"input_blocks.{1 + block * per_block + layers}.0.op.{rest.removeprefix('conv.')}"
        slot = 0 if kind == "resnets" else 1
        rest = _replace_all(rest, _RESNET) if kind == "resnets" else rest
        return f"input_blocks.{1 + block * per_block + index}.{slot}.{rest}"
    if parts[0] == "up_blocks":
        block, kind, index, rest = int(parts[1]), parts[2], int(parts[3]), ".".join(parts[4:])
        if kind == "upsamplers":
            return f"output_blocks.{block * per_block + layers}.{2 if up_has_attention[block] else 1}.{rest}"
        slot = 0 if kind == "resnets" else 1
        rest = _replace_all(rest, _RESNET) if kind == "resnets" else rest
        return f"output_blocks.{block * per_block + index}.{slot}.{rest}"
    if parts[0] == "mid_block":
        kind, index, rest = parts[1], int(parts[2]), ".".join(parts[3:])
        if kind == "resnets":
            return f"middle_block.{2 * index}.{_replace_all(rest, _RESNET)}"
        return f"middle_block.1.{rest}"
    raise ValueError(f"unexpected UNet key {key}")


def _vae_key(key: str, up_blocks: int) -> tuple[str, bool]:
    """(original key, whether it is an attention projection stored as a 1x1 convolution there)."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    if key in DIFFUSERS_TO_LDM_MAPPING["vae"]:
        return DIFFUSERS_TO_LDM_MAPPING["vae"][key], False
    side, rest = key.split(".", 1)
    parts = rest.split(".")
    if parts[0] == "mid_block" and parts[1] == "attentions":
        inner = _replace_all(".".join(parts[3:]), _VAE_ATTENTION)
        return f"{side}.mid.attn_1.{inner}", not inner.startswith("norm.")
    if parts[0] == "mid_block":
        rest = ".".join(parts[3:]).replace("conv_shortcut", "nin_shortcut")
        return f"{side}.mid.block_{int(parts[2]) + 1}.{rest}", False
    block, rest = int(parts[1]), ".".join(parts[4:]).replace("conv_shortcut", "nin_shortcut")
    if parts[0] == "down_blocks":
        if parts[2] == "downsamplers":
            return f"{side}.down.{block}.downsample.{rest}", False
        return f"{side}.down.{block}.block.{parts[3]}.{rest}", False
    original = up_blocks - 1 - block  # the original numbers decoder blocks from the bottom
    if parts[2] == "upsamplers":
        return f"{side}.up.{original}.upsample.{rest}", False
    return f"{side}.up.{original}.block.{parts[3]}.{rest}", False


def _open_clip(state: dict) -> dict:
    """A transformers CLIP text model with projection, in OpenCLIP's layout (fused q/k/v projections)."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    tables = DIFFUSERS_TO_LDM_MAPPING["openclip"]
    out: dict = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key in tables["layers"]:
            target = tables["layers"][key]
            out[target] = value.T.contiguous() if target == "text_projection" else value
            continue
        if not key.startswith("text_model.encoder.layers."):
            continue  # position ids and other buffers are rebuilt by the loader
        renamed = "transformer." + _replace_all(key, {k: v for k, v in tables["transformer"].items()
                                                      if not k.startswith("transformer.")})
        for projection in ("q_proj", "k_proj", "v_proj"):
            marker = f".{projection}."
            if marker in renamed:
                stem, kind = renamed.split(marker)
                fused.setdefault(f"{stem}.in_proj_{kind}", {})[projection] = value
                break
        else:
            out[renamed] = value
    for key, parts in fused.items():
        out[key] = torch.cat([parts["q_proj"], parts["k_proj"], parts["v_proj"]])
    return out


def write_single_file(folder: Path, out: Path) -> Path:
    """Write the diffusers pipeline in `folder` as one original-layout .safetensors file at `out`."""
    folder, out = Path(folder), Path(out)
    index = json.loads((folder / "model_index.json").read_text())
    sdxl = index["_class_name"] == "StableDiffusionXLPipeline"
    unet_config, unet = _component(folder, "unet")
    layers = unet_config["layers_per_block"]
    up_has_attention = ["CrossAttn" in kind for kind in unet_config["up_block_types"]]
    state = {f"model.diffusion_model.{_unet_key(k, layers, up_has_attention)}": v for k, v in unet.items()}
    vae_config, vae = _component(folder, "vae")
    for key, value in vae.items():
        original, conv = _vae_key(key, len(vae_config["up_block_types"]))
        state[f"first_stage_model.{original}"] = value[:, :, None, None] if conv and value.ndim == 2 else value
    _config, text = _component(folder, "text_encoder")
    prefix = "conditioner.embedders.0.transformer." if sdxl else "cond_stage_model.transformer."
    state.update({prefix + k: v for k, v in _text_model_keys(text).items()})
    if sdxl:
        _config, text_2 = _component(folder, "text_encoder_2")
        state.update({f"conditioner.embedders.1.model.{k}": v for k, v in _open_clip(_text_model_keys(text_2)).items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out))
    return out
