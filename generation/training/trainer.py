"""DreamBooth-LoRA training on the engine's base model (diffusers train_dreambooth_lora / kohya defaults).

Only the UNet gets LoRA layers (to_q/to_k/to_v/to_out.0); latents and text embeddings are encoded once before
the loop, so each step runs only the UNet. Training happens on a copy of the UNet: the shared inference
pipeline is never touched, so base-model generation is unchanged afterwards.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image, ImageOps

from generation.engine.families import family_of_pipeline
from generation.engine.specs import (
    CLASS_IMAGE_GUIDANCE,
    CLASS_IMAGE_SCHEDULER,
    CLASS_IMAGE_STEPS,
    CLASS_PROMPT,
    EngineCancelled,
    EngineError,
    GenerationRequest,
    TrainingConfig,
)

logger = logging.getLogger(__name__)

# How far the compiled UNet's first-step gradients may drift from eager ones (relative L2) before compiling is
# dropped for the run: bf16 rounding stays well below; a miscompiled backward lands far above (or at NaN).
COMPILED_GRAD_TOLERANCE = 0.1

TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
TRAIN_ADAPTER = "persona_training"


@dataclass
class TrainedLora:
    unet: torch.nn.Module
    lora_config: object  # peft.LoraConfig
    loss_curve: list[float]
    hyperparameters: dict


def preprocess_image(image: Image.Image, resolution: int) -> torch.Tensor:
    """Centre-crop to a square, resize, and map to [-1, 1] CHW."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    image = ImageOps.fit(image, (resolution, resolution), method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)


def _encode_latents(pipe, pixels: torch.Tensor, *, device, dtype, seed: int) -> torch.Tensor:
    vae = pipe.vae
    generator = torch.Generator("cpu").manual_seed(seed)
    latents = []
    with torch.no_grad():
        for i in range(pixels.shape[0]):
            dist = vae.encode(pixels[i : i + 1].to(device=device, dtype=vae.dtype)).latent_dist
            noise = torch.randn(dist.mean.shape, generator=generator).to(device=device, dtype=dist.mean.dtype)
            latents.append(dist.mean + dist.std * noise)
    latents = torch.cat(latents) * vae.config.scaling_factor
    return latents.to(dtype=torch.float32)


def _encode_prompts(pipe, captions: list[str], *, device, resolution: int, is_sdxl: bool):
    """Per-image encoder_hidden_states (+ SDXL added conditions)."""
    with torch.no_grad():
        if is_sdxl:
            embeds, _, pooled, _ = pipe.encode_prompt(
                prompt=captions, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
            )
            # (original size, crop top-left, target size): images are centre-cropped squares at `resolution`.
            time_ids = torch.tensor([[resolution, resolution, 0, 0, resolution, resolution]], device=device)
            added = {"text_embeds": pooled, "time_ids": time_ids.repeat(len(captions), 1).to(pooled.dtype)}
            return embeds, added
        embeds, _ = pipe.encode_prompt(captions, device, 1, False)
        return embeds, None


def generate_class_images(engine, *, seeds: list[int], resolution: int, steps: int = CLASS_IMAGE_STEPS
                          ) -> list[Image.Image]:
    """Prior-preservation class images of the base model alone (no persona adapter), one per seed, in one pipeline
    call (callers keep len(seeds) within engine.max_batch)."""
    side = resolution - resolution % 8
    request = GenerationRequest(
        prompt=CLASS_PROMPT, negative_prompt="", seeds=list(seeds), steps=steps, guidance=CLASS_IMAGE_GUIDANCE,
        scheduler=CLASS_IMAGE_SCHEDULER, width=side, height=side,
    )
    return engine.generate_batch([request])[0]


def train_unet_lora(
    pipe,
    *,
    images: list[Image.Image],
    captions: list[str],
    config: TrainingConfig,
    device: torch.device,
    dtype: torch.dtype,
    on_step: Callable[[int, int, float], bool] | None = None,
    class_images: list[Image.Image] | None = None,
    compile_unet: bool = False,
    sync_every: int = 1,
) -> TrainedLora:
    """Train a LoRA on a copy of pipe.unet; returns the trained copy (pipe itself is left unchanged).

    compile_unet: torch.compile the copy's forward/backward (the engine turns it on for CUDA only; the first steps
    then include compilation time).
    sync_every: read losses (and the divergence check) back to the host once per this many steps, so a GPU can
    queue the next steps meanwhile; on_step is then called for each step of a chunk together, and a cancel or a
    divergence is noticed at the chunk's end. The loss curve is the same for any value."""
    from diffusers import DDPMScheduler
    from peft import LoraConfig

    if not images:
        raise EngineError("Training needs at least one reference image.")
    if len(captions) == 1 and len(images) > 1:
        captions = captions * len(images)
    if len(captions) != len(images):
        raise EngineError("Give one caption per image (or a single caption for all).")
    if config.rank < 1 or config.steps < 1 or config.batch_size < 1 or sync_every < 1:
        raise EngineError("rank, steps, batch_size and sync_every must be at least 1.")
    if config.prior_preservation and not class_images:
        raise EngineError("Prior preservation needs class images.")
    is_sdxl = family_of_pipeline(pipe).is_sdxl
    resolution = config.resolution - config.resolution % pipe.vae_scale_factor
    alpha = config.effective_alpha

    # Everything except the UNet is encoded once, up front.
    pixels = torch.stack([preprocess_image(im, resolution) for im in images])
    latents = _encode_latents(pipe, pixels, device=device, dtype=dtype, seed=config.seed)
    embeds, added = _encode_prompts(pipe, list(captions), device=device, resolution=resolution, is_sdxl=is_sdxl)
    if config.prior_preservation:
        class_pixels = torch.stack([preprocess_image(im, resolution) for im in class_images])
        class_latents = _encode_latents(pipe, class_pixels, device=device, dtype=dtype, seed=config.seed + 1)
        class_embeds, class_added = _encode_prompts(
            pipe, [CLASS_PROMPT] * len(class_images), device=device, resolution=resolution, is_sdxl=is_sdxl
        )

    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    prediction_type = noise_scheduler.config.prediction_type
    num_train_timesteps = noise_scheduler.config.num_train_timesteps

    lora_config = LoraConfig(
        r=config.rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(TARGET_MODULES)
    )
    autocast_enabled = device.type == "cuda" and dtype != torch.float32
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        unet = copy.deepcopy(pipe.unet)
        # A compiled inference UNet's compiled forward would still call the original module: drop it in the copy.
        if getattr(unet, "_compiled_call_impl", None) is not None:
            unet._compiled_call_impl = None
        # A copy of the shared UNet may carry persona adapters loaded for inference; train on clean weights.
        if getattr(unet, "peft_config", None):
            unet.delete_adapters(list(unet.peft_config))
        unet.requires_grad_(False)
        unet.add_adapter(lora_config, adapter_name=TRAIN_ADAPTER)
        unet.set_adapter(TRAIN_ADAPTER)
        unet.enable_adapters()  # the shared UNet may have had its adapters disabled for base generation
        params = [p for name, p in unet.named_parameters() if f".{TRAIN_ADAPTER}." in name]
        for p in params:
            p.requires_grad_(True)
        for p in params:
            p.data = p.data.float()  # LoRA weights train in fp32 even when the base runs in half precision
        unet.train()
        compiled = compile_unet
        if compiled:
            unet.compile()  # unet(...) runs the compiled graph; unet.forward(...) stays eager

        def backward(forward: Callable, *, noisy, timesteps, cond, cond_added, target) -> torch.Tensor:
            """One step's loss through `forward` (the compiled module or its eager forward), gradients accumulated."""
            with torch.autocast(device_type=device.type, dtype=dtype, enabled=autocast_enabled):
                pred = forward(noisy.to(dtype=unet.dtype), timesteps, cond.to(unet.dtype),
                               added_cond_kwargs=cond_added, return_dict=False)[0]
            pred = pred.float()
            if config.prior_preservation:
                pred, pred_prior = pred.chunk(2)
                target, target_prior = target.chunk(2)
                loss = F.mse_loss(pred, target) + config.prior_loss_weight * F.mse_loss(pred_prior, target_prior)
            else:
                loss = F.mse_loss(pred, target)
            loss.backward()
            return loss.detach()

        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, betas=(0.9, 0.999), weight_decay=1e-2,
                                      eps=1e-8)
        gen = torch.Generator("cpu").manual_seed(config.seed)
        n = latents.shape[0]
        order: list[int] = []
        loss_curve: list[float] = []
        pending: list[torch.Tensor] = []  # this chunk's losses, still on the device
        diverged = torch.zeros((), dtype=torch.bool, device=device)
        for step in range(1, config.steps + 1):
            batch = []
            while len(batch) < config.batch_size:
                if not order:
                    order = torch.randperm(n, generator=gen).tolist()
                batch.append(order.pop(0))
            idx = torch.tensor(batch, device=latents.device)
            x0 = latents[idx]
            cond = embeds[idx.to(embeds.device)]
            cond_added = {k: v[idx.to(v.device)] for k, v in added.items()} if added else None
            if config.prior_preservation:
                cidx = torch.randint(0, class_latents.shape[0], (len(batch),), generator=gen).to(latents.device)
                x0 = torch.cat([x0, class_latents[cidx]])
                cond = torch.cat([cond, class_embeds[cidx.to(class_embeds.device)]])
                if cond_added:
                    cond_added = {k: torch.cat([v, class_added[k][cidx.to(v.device)]]) for k, v in cond_added.items()}
            # Noise and timesteps come from a seeded CPU generator: the same run on any device.
            noise = torch.randn(x0.shape, generator=gen).to(x0.device)
            timesteps = torch.randint(0, num_train_timesteps, (x0.shape[0],), generator=gen).to(x0.device)
            noisy = noise_scheduler.add_noise(x0, noise, timesteps)
            if prediction_type == "epsilon":
                target = noise
            elif prediction_type == "v_prediction":
                target = noise_scheduler.get_velocity(x0, noise, timesteps)
            else:
                raise EngineError(f"Unsupported prediction type {prediction_type!r}.")
            step_backward = functools.partial(backward, noisy=noisy, timesteps=timesteps, cond=cond,
                                              cond_added=cond_added, target=target)
            if compiled and step == 1:
                compiled, loss = _first_compiled_step_checked(unet, params, step_backward)
            else:
                loss = step_backward(unet)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            diverged |= ~(torch.isfinite(loss) & torch.isfinite(grad_norm))  # on the device: no sync here
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            pending.append(loss)
            if step % sync_every and step < config.steps:
                continue
            values = torch.stack(pending).float().tolist()  # the chunk's one host sync
            first = step - len(values) + 1
            pending.clear()
            if bool(diverged):
                # The weights in this copy may be NaN now; it is dropped, never saved (such a LoRA renders noise).
                bad = next((first + i for i, v in enumerate(values) if not np.isfinite(v)), None)
                where = f"at step {bad}: the loss is {values[bad - first]:g}" if bad is not None else \
                    f"by step {step}: its gradients are not finite"
                raise EngineError(f"Training diverged {where}. Lower the learning rate and train again.")
            for offset, value in enumerate(values):
                loss_curve.append(round(value, 6))
                if on_step is not None and on_step(first + offset, config.steps, value) is False:
                    raise EngineCancelled("Training cancelled.")
    unet.eval()
    hyper = {
        "method": "dreambooth-lora",
        "rank": config.rank,
        "alpha": alpha,
        "steps": config.steps,
        "learning_rate": config.learning_rate,
        "lr_scheduler": "constant",
        "optimizer": "AdamW",
        "weight_decay": 1e-2,
        "max_grad_norm": 1.0,
        "resolution": resolution,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "prior_preservation": config.prior_preservation,
        "prior_loss_weight": config.prior_loss_weight,
        "num_class_images": len(class_images) if config.prior_preservation else 0,
        "num_images": len(images),
        "target_modules": list(TARGET_MODULES),
        "init_lora_weights": "gaussian",
        "noise_scheduler": "DDPM",
        "prediction_type": prediction_type,
        "mixed_precision": str(dtype).removeprefix("torch.") if autocast_enabled else "no",
        "compiled_unet": compiled,
    }
    return TrainedLora(unet=unet, lora_config=lora_config, loss_curve=loss_curve, hyperparameters=hyper)


def _first_compiled_step_checked(unet, params: list[torch.Tensor], backward: Callable) -> tuple[bool, torch.Tensor]:
    """Run the first step eagerly and compiled, and keep compiling only if both agree.

    A compiler bug that corrupts gradients would otherwise train a broken LoRA without a sound: inductor's CPU
    bf16 backward at batch 1 gives NaN or wildly wrong gradients (torch 2.13; tests/generation/test_training.py).
    One extra eager step per run is the price. Returns (still compiled, the loss); the gradients are left in place.
    """
    eager_loss = backward(unet.forward)  # the module's own forward: the eager path
    eager_grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]
    for p in params:
        p.grad = None
    compiled_loss = backward(unet)
    compiled_grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    reference = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in eager_grads]))
    drift = torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(c.float() - e.float()) for c, e in zip(compiled_grads, eager_grads, strict=True)]))
    agree = bool(torch.isfinite(drift)) and float(drift) <= COMPILED_GRAD_TOLERANCE * max(float(reference), 1e-12)
    if agree:
        return True, compiled_loss
    logger.warning(
        "The compiled training UNet's gradients disagree with eager ones (relative difference %s); training this "
        "run eagerly. Set GENERATION_TRAIN_COMPILE=0 to skip compiling.",
        f"{float(drift) / max(float(reference), 1e-12):.3g}",
    )
    unet._compiled_call_impl = None  # back to the eager module for the rest of the run
    for p, g in zip(params, eager_grads, strict=True):
        p.grad = g
    return False, eager_loss


def save_lora(pipe, trained: TrainedLora, output_dir: Path) -> Path:
    """Write diffusers-format pytorch_lora_weights.safetensors with its adapter metadata (keeps alpha)."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    output_dir.mkdir(parents=True, exist_ok=True)
    state = convert_state_dict_to_diffusers(get_peft_model_state_dict(trained.unet, adapter_name=TRAIN_ADAPTER))
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    metadata = trained.lora_config.to_dict()
    # Save into a temp folder then rename: a crash never leaves a half-written weights file behind.
    with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
        pipe.__class__.save_lora_weights(
            tmp, unet_lora_layers=state, unet_lora_adapter_metadata=metadata, weight_name=LORA_WEIGHT_NAME,
            safe_serialization=True,
        )
        written = Path(tmp) / LORA_WEIGHT_NAME
        canonicalize_safetensors_header(written)
        final = output_dir / LORA_WEIGHT_NAME
        os.replace(written, final)
    return final


def canonicalize_safetensors_header(path: Path) -> None:
    """Sort the header's __metadata__ keys in place.

    safetensors writes metadata from a hash map, so the same weights could give different bytes (and sha256)
    from run to run; a LoRA's sha256 is its identity, so the bytes must be a function of the content.
    """
    with open(path, "r+b") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
        if "__metadata__" in header:
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        encoded = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(encoded) > size:
            return  # never move the tensor data; keep the original header
        fh.seek(8)
        fh.write(encoded + b" " * (size - len(encoded)))
