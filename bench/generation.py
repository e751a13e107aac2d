"""Generation and training speed: plain diffusers vs the engine's fast path, in one run, on one machine.

No downloads: SD1.5- and SDXL-architecture pipelines are built with random weights from the published component
configs below (the speed of a UNet does not depend on its weights), or a real local model is loaded with --model.
Measured, for both sides: single-image latency, batched throughput, the worker's queue throughput (two queued jobs of
one persona: plain renders one job per call, the engine fills one call with both), persona switch time, LoRA training
steps/s and the time to a trained persona (1,000 steps, extrapolated from the measured step time plus the measured
warm-up). Then, on the engine: the finishing stages at one output size (bench/images.py: txt2img rendered directly,
hires, img2img; seconds per image and the ratio to txt2img, the device labelled).
FLOPs of one UNet step (with CFG) and of one VAE decode are counted with torch.utils.flop_counter, so the table can
say how close each side gets to the compute floor (image FLOPs / peak matmul FLOP/s).

    python bench/generation.py --arch sd15 --device cuda --json out.json     # the H100 numbers
    python bench/generation.py --arch sdxl --device cuda --steps 30
    python bench/generation.py --arch tiny --device cpu --quick               # seconds; what the test runs
    python bench/generation.py --arch tiny-sdxl --device cpu --quick          # the SDXL code paths, on a CPU
    python bench/generation.py --model /models/sd15 --device cuda            # a real diffusers folder
    GENERATION_COMPILE_MODE=reduce-overhead python bench/generation.py ...    # CUDA graphs: batch-1 latency is
                                                                              # launch-bound on an H100

"plain" is what a straightforward worker does: StableDiffusionPipeline(XL) in fp16 (fp32 on CPU), eager, default
attention, one pipeline call per request (batch 1) or a batch of --batch prompts; a persona switch reloads the base
model and its LoRA, or calls set_adapters when both adapters are already loaded; training is the engine's own
DreamBooth-LoRA loop run eagerly (rank 16, batch 4, cached latents). "engine" is generation.engine.pipelines.Engine with
the PerfOptions it uses on that device (on CPU: the plain path, plus LoRA hotswap so the switch path is exercised),
serving a persona LoRA (the plain single/batch runs use the bare base model), batching with generate_batch().
Every timing excludes a warm-up call (which, for the engine on CUDA, includes torch.compile; reported separately).
The random-weight pipelines need the CLIP vocabulary (var/vendor/open_clip_torch-*.whl, see `make install`).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import images as stage_bench  # noqa: E402
from bench.common import setup_django, timed  # noqa: E402

PROMPT = "photo of sks person, portrait, natural light, 35mm film"
NEGATIVE = "blurry, lowres"
GUIDANCE = 7.0
TRAIN_RANK = 16
TRAIN_BATCH = 4
PERSONA_STEPS = 1000

# Published component configs (runwayml/stable-diffusion-v1-5 and stabilityai/stable-diffusion-xl-base-1.0).
SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 768, "attention_head_dim": 8, "norm_num_groups": 32,
}
SDXL_UNET = {
    "sample_size": 128, "in_channels": 4, "out_channels": 4, "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10), "attention_head_dim": (5, 10, 20), "cross_attention_dim": 2048,
    "use_linear_projection": True, "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816, "norm_num_groups": 32,
}
VAE = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4, "up_block_types": ("UpDecoderBlock2D",) * 4,
    "norm_num_groups": 32,
}
SD15_VAE = {**VAE, "sample_size": 512, "scaling_factor": 0.18215}
SDXL_VAE = {**VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True}
CLIP_L = {  # openai/clip-vit-large-patch14 text tower (SD1.5 and SDXL's first encoder)
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "max_position_embeddings": 77, "hidden_act": "quick_gelu", "projection_dim": 768, "vocab_size": 49408,
    "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
}
CLIP_BIGG = {  # laion/CLIP-ViT-bigG-14 text tower (SDXL's second encoder, with projection)
    "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
    "max_position_embeddings": 77, "hidden_act": "gelu", "projection_dim": 1280, "vocab_size": 49408,
    "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1,
}
SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1}


# -- pipelines ---------------------------------------------------------------------------------------------------


def build_random_pipeline(arch: str, device):
    """A pipeline of the given architecture with random (seeded) weights, built directly on `device`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from generation.engine.tiny_model import build_clip_tokenizer, build_tiny_pipeline, build_tiny_sdxl_pipeline

    torch.manual_seed(0)
    if arch == "tiny":
        return build_tiny_pipeline().to(device)
    if arch == "tiny-sdxl":
        return build_tiny_sdxl_pipeline().to(device)
    tokenizer = build_clip_tokenizer()
    scheduler = DPMSolverMultistepScheduler(**SCHEDULER)
    with torch.device(device):  # initialising a 2.6B-parameter UNet on the GPU takes seconds, on a CPU minutes
        if arch == "sd15":
            return StableDiffusionPipeline(
                vae=AutoencoderKL(**SD15_VAE), text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_L)),
                tokenizer=tokenizer, unet=UNet2DConditionModel(**SD15_UNET), scheduler=scheduler,
                safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            )
        return StableDiffusionXLPipeline(
            vae=AutoencoderKL(**SDXL_VAE), text_encoder=CLIPTextModel(CLIPTextConfig(**CLIP_L)),
            text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIGG)), tokenizer=tokenizer,
            tokenizer_2=copy.deepcopy(tokenizer), unet=UNet2DConditionModel(**SDXL_UNET), scheduler=scheduler,
        )


def load_model(path: Path, device, dtype):
    from generation.engine.loading import load_base_pipeline

    pipe, _ = load_base_pipeline(str(path), device=device, dtype=dtype)
    return pipe


# -- timing helpers ----------------------------------------------------------------------------------------------


def count_flops(pipe, *, width: int, height: int, device) -> dict:
    """FLOPs of one UNet call with CFG (batch 2) and of one VAE decode (batch 1), counted by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    unet, vae = pipe.unet, pipe.vae
    f = getattr(pipe, "vae_scale_factor", 8)
    latents = torch.randn(2, unet.config.in_channels, height // f, width // f, device=device, dtype=unet.dtype)
    text = torch.randn(2, 77, unet.config.cross_attention_dim, device=device, dtype=unet.dtype)
    added = None
    if unet.config.addition_embed_type == "text_time":
        pooled_dim = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        added = {"text_embeds": torch.randn(2, pooled_dim, device=device, dtype=unet.dtype),
                 "time_ids": torch.tensor([[height, width, 0, 0, height, width]] * 2, device=device,
                                          dtype=unet.dtype)}
    with torch.inference_mode():
        with FlopCounterMode(display=False) as unet_counter:
            unet(latents, torch.tensor([500] * 2, device=device), text, added_cond_kwargs=added, return_dict=False)
        with FlopCounterMode(display=False) as vae_counter:
            vae.decode(latents[:1].to(vae.dtype), return_dict=False)
    return {"unet_step_cfg": int(unet_counter.get_total_flops()), "vae_decode": int(vae_counter.get_total_flops())}


def measure_peak_tflops(device, dtype) -> float:
    """Achievable dense matmul TFLOP/s in `dtype` (the denominator of the floor)."""
    import torch

    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if device.type == "cuda" else 3
    _, seconds = timed(lambda: [a @ b for _ in range(reps)], device, repeats=3)
    return 2 * n**3 * reps / seconds / 1e12


# -- the benchmark -----------------------------------------------------------------------------------------------


def run(args) -> dict:
    import diffusers
    import numpy as np
    import torch
    from PIL import Image

    from generation.engine.families import family_of_pipeline
    from generation.engine.loading import pipeline_kwargs
    from generation.engine.perf import PerfOptions
    from generation.engine.pipelines import (
        Engine,
        GenerationRequest,
        LoraRef,
        TrainingConfig,
        file_sha256,
        make_scheduler,
    )
    from generation.training import trainer as training

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no CUDA device is visible.")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    plain_dtype = torch.float16 if device.type == "cuda" else torch.float32
    engine_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if device.type == "cuda" \
        else torch.float32
    perf = PerfOptions.for_device(device)
    if device.type != "cuda":
        # Exercise the switch path and the chunked loss read-back on CPU too.
        perf = PerfOptions(lora_hotswap=True, max_lora_rank=TRAIN_RANK, train_sync_every=2)
    quick = args.quick
    repeats = args.repeats or (1 if quick else 5)
    tmp = Path(tempfile.mkdtemp(prefix="bench-generation-"))
    out: dict = {"arch": args.arch if not args.model else "model", "model": args.model or "", "device": str(device),
                 "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
                 or platform.machine(), "torch": torch.__version__, "diffusers": diffusers.__version__,
                 "plain_dtype": str(plain_dtype).removeprefix("torch."),
                 "engine_dtype": str(engine_dtype).removeprefix("torch."), "engine_perf": asdict(perf),
                 "quick": quick, "repeats": repeats}

    # Pipelines: the same weights for both sides.
    t0 = time.perf_counter()
    if args.model:
        plain = load_model(Path(args.model), device, plain_dtype)
        folder = Path(args.model)
    else:
        plain = build_random_pipeline(args.arch, device).to(device, plain_dtype)
        folder = tmp / "base"
        plain.save_pretrained(folder, safe_serialization=True)  # what "reload the base model" reads back
    plain.set_progress_bar_config(disable=True)
    # The sampler the engine's requests use below, so both sides draw the same image from the same seed.
    plain.scheduler = make_scheduler("dpmpp_2m_karras", plain.scheduler.config)
    native = family_of_pipeline(plain).native_size
    side = args.size or native
    steps = args.steps or (4 if quick else 25)
    batch = args.batch or (2 if quick else 8)
    out.update({"width": side, "height": side, "steps": steps, "batch": batch, "guidance": GUIDANCE,
                "setup_s": round(time.perf_counter() - t0, 2)})

    # FLOPs and the floor.
    flops = count_flops(plain, width=side, height=side, device=device)
    image_flops = steps * flops["unet_step_cfg"] + flops["vae_decode"]
    peak_dtype = engine_dtype if device.type == "cuda" else torch.float32
    peak = args.peak_tflops or measure_peak_tflops(device, peak_dtype)
    floor_s = image_flops / (peak * 1e12)
    out["flops"] = {**flops, "image": image_flops, "image_tflop": round(image_flops / 1e12, 4),
                    "peak_tflops": round(peak, 3), "peak_source": "--peak-tflops" if args.peak_tflops
                    else f"measured {str(peak_dtype).removeprefix('torch.')} matmul",
                    "floor_ms_per_image": round(floor_s * 1e3, 3)}

    # Two persona LoRAs, trained (and timed) below; training runs first so the switch test has real files.
    refs = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (native, native, 3), dtype=np.uint8))
            for i in range(TRAIN_BATCH)]
    # The engine reads losses back once per perf.train_sync_every steps, so its on_step calls come in chunks:
    # warm-up and measured steps are whole chunks, and a step's time is the mean over the measured span.
    chunk = perf.train_sync_every
    warm_steps = -(-(2 if quick else 5) // chunk) * chunk
    train_steps = warm_steps + -(-((args.train_steps or (6 if quick else 30)) - warm_steps) // chunk) * chunk
    train_steps = max(train_steps, warm_steps + chunk)

    def train(pipe, dtype, *, compile_unet: bool, seed: int, sync_every: int = 1) -> dict:
        stamps: list[float] = []
        config = TrainingConfig(rank=TRAIN_RANK, steps=train_steps, learning_rate=1e-4, resolution=native,
                                batch_size=TRAIN_BATCH, seed=seed)
        start = time.perf_counter()
        trained = training.train_unet_lora(pipe, images=refs, captions=[PROMPT], config=config, device=device,
                                           dtype=dtype, compile_unet=compile_unet, sync_every=sync_every,
                                           on_step=lambda *_: stamps.append(time.perf_counter()) or True)
        step_s = (stamps[-1] - stamps[warm_steps - 1]) / (len(stamps) - warm_steps)
        warm_s = stamps[warm_steps - 1] - start  # setup (encoding, copy) + first steps (+ compilation)
        path = training.save_lora(pipe, trained, tmp / f"lora-{seed}")
        # False when compiling was asked for but its first-step gradients disagreed with eager (training.py).
        compiled = trained.hyperparameters["compiled_unet"]
        del trained
        return {"steps_per_s": 1 / step_s, "step_ms": step_s * 1e3, "warmup_s": warm_s,
                "time_to_persona_s": warm_s + (PERSONA_STEPS - warm_steps) * step_s, "path": path,
                "compiled": compiled}

    engine = Engine(pipe=copy.deepcopy(plain), device=device, dtype=engine_dtype, perf=perf)
    plain_train = train(plain, plain_dtype, compile_unet=False, seed=1)
    engine_train = train(engine.pipe, engine_dtype, compile_unet=perf.train_compile, seed=2,
                         sync_every=perf.train_sync_every)
    path_a, path_b = plain_train.pop("path"), engine_train.pop("path")
    lora_a = LoraRef(path=path_a, sha256=file_sha256(path_a), adapter_name="persona_a")
    lora_b = LoraRef(path=path_b, sha256=file_sha256(path_b), adapter_name="persona_b")

    # Generation: plain diffusers.
    def plain_call(n: int, seed: int = 0):
        return plain(prompt=[PROMPT] * n, negative_prompt=[NEGATIVE] * n, num_inference_steps=steps,
                     guidance_scale=GUIDANCE, width=side, height=side,
                     generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(n)]).images

    with torch.inference_mode():
        plain_single_first, plain_single = timed(lambda: plain_call(1), device, repeats=repeats)
        _, plain_batch = timed(lambda: plain_call(batch), device, repeats=max(1, repeats // 2))
        plain_image = np.asarray(plain_call(1)[0], dtype=np.int16)

    # Generation: the engine (serving persona A; its first call compiles on CUDA).
    def request(seeds, lora=lora_a):
        return GenerationRequest(prompt=PROMPT, negative_prompt=NEGATIVE, seeds=list(seeds), steps=steps,
                                 guidance=GUIDANCE, scheduler="dpmpp_2m_karras", width=side, height=side, lora=lora)

    engine_single_first, engine_single = timed(lambda: engine.generate(request([0])), device, repeats=repeats)
    queue = [request([i]) for i in range(batch)]
    engine_batch_first, engine_batch = timed(lambda: engine.generate_batch(queue), device,
                                             repeats=max(1, repeats // 2))
    base_image = np.asarray(engine.generate(request([0], lora=None))[0], dtype=np.int16)

    # The worker's case: two queued jobs of one persona, batch/2 variants each. Plain renders one job per call; the
    # engine's worker fills one call with both (generation.jobs.render), timed against its own one-call-per-job.
    variants = max(1, batch // 2)
    jobs = [request(range(j * variants, (j + 1) * variants)) for j in range(2)]
    with torch.inference_mode():
        _, plain_queue = timed(lambda: [plain_call(variants, seed=j * variants) for j in range(2)], device,
                               repeats=max(1, repeats // 2))
    _, engine_queue_per_job = timed(lambda: [engine.generate_batch([job]) for job in jobs], device,
                                    repeats=max(1, repeats // 2))
    _, engine_queue = timed(lambda: engine.generate_batch(jobs), device, repeats=max(1, repeats // 2))

    # Persona switch. Plain: reload base + LoRA, or set_adapters between two loaded adapters. Engine: its own
    # path (hotswap: the new persona's weights copied into the slot).
    def reload():
        cls = plain.__class__
        pipe = cls.from_pretrained(folder, torch_dtype=plain_dtype, local_files_only=True, **pipeline_kwargs(cls))
        pipe.to(device)
        pipe.load_lora_weights(str(lora_b.path.parent), weight_name=lora_b.path.name, adapter_name="b")
        del pipe

    _, reload_s = timed(reload, device, repeats=1)
    plain.load_lora_weights(str(lora_a.path.parent), weight_name=lora_a.path.name, adapter_name="a")
    plain.load_lora_weights(str(lora_b.path.parent), weight_name=lora_b.path.name, adapter_name="b")
    flip = iter(range(10**6))
    _, set_adapters_s = timed(lambda: plain.set_adapters(["a" if next(flip) % 2 else "b"]), device,
                              repeats=max(3, repeats))
    order = iter(range(10**6))
    with engine._lock:
        _, engine_switch_s = timed(lambda: engine._activate_lora(lora_b if next(order) % 2 == 0 else lora_a), device,
                                   repeats=max(3, repeats))
    engine._activate_lora(lora_b)
    _, engine_after_switch = timed(lambda: engine.generate(request([0], lora=lora_b)), device, repeats=1)

    def per_image_ms(seconds: float, n: int = 1) -> float:
        return seconds / n * 1e3

    out["plain"] = {
        "single_ms": per_image_ms(plain_single), "single_first_ms": per_image_ms(plain_single_first),
        "batch_images_per_s": batch / plain_batch, "batch_ms_per_image": per_image_ms(plain_batch, batch),
        "train_steps_per_s": plain_train["steps_per_s"], "train_step_ms": plain_train["step_ms"],
        "train_warmup_s": plain_train["warmup_s"], "time_to_persona_s": plain_train["time_to_persona_s"],
        "switch_reload_s": reload_s, "switch_set_adapters_s": set_adapters_s,
        "queue_images_per_s": 2 * variants / plain_queue,
    }
    out["engine"] = {
        "single_ms": per_image_ms(engine_single), "single_first_ms": per_image_ms(engine_single_first),
        "batch_images_per_s": batch / engine_batch, "batch_ms_per_image": per_image_ms(engine_batch, batch),
        "batch_first_s": engine_batch_first, "single_after_switch_ms": per_image_ms(engine_after_switch),
        "train_steps_per_s": engine_train["steps_per_s"], "train_step_ms": engine_train["step_ms"],
        "train_warmup_s": engine_train["warmup_s"], "time_to_persona_s": engine_train["time_to_persona_s"],
        "train_compiled": engine_train["compiled"],
        "switch_s": engine_switch_s, "switch_mode": "hotswap" if perf.lora_hotswap else "set_adapters",
        "queue_images_per_s": 2 * variants / engine_queue,
        "queue_per_job_images_per_s": 2 * variants / engine_queue_per_job,
    }
    out["queue_job_variants"] = variants
    p, e = out["plain"], out["engine"]
    out["ratios"] = {
        "single_latency_speedup": p["single_ms"] / e["single_ms"],
        "batch_throughput_speedup": e["batch_images_per_s"] / p["batch_images_per_s"],
        "engine_batch_vs_plain_single": e["batch_images_per_s"] / (1e3 / p["single_ms"]),
        "queue_throughput_speedup": e["queue_images_per_s"] / p["queue_images_per_s"],
        "queue_batching_gain": e["queue_images_per_s"] / e["queue_per_job_images_per_s"],
        "switch_speedup_vs_reload": p["switch_reload_s"] / e["switch_s"],
        "training_speedup": e["train_steps_per_s"] / p["train_steps_per_s"],
        "time_to_persona_speedup": p["time_to_persona_s"] / e["time_to_persona_s"],
    }
    floor_ms = out["flops"]["floor_ms_per_image"]
    out["floor_fraction"] = {
        "plain_single": floor_ms / p["single_ms"], "engine_single": floor_ms / e["single_ms"],
        "plain_batch": floor_ms / p["batch_ms_per_image"], "engine_batch": floor_ms / e["batch_ms_per_image"],
    }
    # The finishing stages at one output size, on the engine serving persona A (bench/images.py).
    out["stages"] = stage_bench.measure(engine, steps=steps, repeats=repeats, lora=lora_a, prompt=PROMPT,
                                        negative=NEGATIVE, guidance=GUIDANCE)
    # Same weights, sampler and seed, base model on both sides: how far apart the images are (on CUDA: fp16 vs
    # bf16 rounding; random weights amplify it, a real model's images differ far less).
    out["base_image_max_abs_diff"] = int(np.abs(plain_image - base_image).max())
    return out


ROWS = [
    ("single image latency (ms)", "single_ms", "single_ms", "single_latency_speedup", "engine_single"),
    ("batched throughput (images/s)", "batch_images_per_s", "batch_images_per_s", "batch_throughput_speedup",
     "engine_batch"),
    ("queued jobs (img/s): per-job calls | filled", "queue_images_per_s", "queue_images_per_s",
     "queue_throughput_speedup", None),
    ("persona switch (s): reload | hotswap", "switch_reload_s", "switch_s", "switch_speedup_vs_reload", None),
    ("LoRA training (steps/s)", "train_steps_per_s", "train_steps_per_s", "training_speedup", None),
    ("time to trained persona (s, 1000 steps)", "time_to_persona_s", "time_to_persona_s", "time_to_persona_speedup",
     None),
]


def table(result: dict) -> str:
    def fmt(x) -> str:
        return f"{x:,.4g}" if isinstance(x, float) else str(x)

    flops = result["flops"]
    lines = [
        f"{result['arch']} on {result['device']} ({result['device_name']}), {result['width']}x{result['height']}, "
        f"{result['steps']} steps, CFG {result['guidance']}, batch {result['batch']}; plain {result['plain_dtype']} "
        f"eager, engine {result['engine_dtype']} {'+'.join(k for k, v in result['engine_perf'].items() if v is True)}",
        f"FLOPs: UNet step with CFG {flops['unet_step_cfg'] / 1e12:.4g} TFLOP, VAE decode "
        f"{flops['vae_decode'] / 1e12:.4g} TFLOP, image {flops['image_tflop']:.4g} TFLOP; peak "
        f"{flops['peak_tflops']:.4g} TFLOP/s ({flops['peak_source']}): floor {flops['floor_ms_per_image']:.4g} "
        "ms/image",
        "",
        f"{'metric':44} {'plain':>12} {'engine':>12} {'ratio':>8}  floor reached (plain -> engine)",
    ]
    for label, pkey, ekey, rkey, fkey in ROWS:
        floor = ""
        if fkey:
            pf = result["floor_fraction"][fkey.replace("engine", "plain")]
            floor = f"{pf:.1%} -> {result['floor_fraction'][fkey]:.1%}"
        lines.append(f"{label:44} {fmt(result['plain'][pkey]):>12} {fmt(result['engine'][ekey]):>12} "
                     f"{result['ratios'][rkey]:>7.2f}x  {floor}")
    lines.append(f"{'persona switch, set_adapters (both loaded) (s)':44} "
                 f"{fmt(result['plain']['switch_set_adapters_s']):>12}")
    lines.append(f"{'queued jobs, engine one call per job (img/s)':44} {'':>12} "
                 f"{fmt(result['engine']['queue_per_job_images_per_s']):>12} "
                 f"{result['ratios']['queue_batching_gain']:>7.2f}x  (gain of filling the call: "
                 f"2 jobs x {result['queue_job_variants']} variants)")
    lines.append(f"{'engine training compiled (checked vs eager)':44} {'':>12} "
                 f"{str(result['engine']['train_compiled']).lower():>12}")
    lines.append(f"{'engine first call incl. compile (ms)':44} {'':>12} {fmt(result['engine']['single_first_ms']):>12}")
    lines.append(f"base image max |plain - engine| (0-255): {result['base_image_max_abs_diff']}")
    lines += ["", stage_bench.table(result["stages"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=["sd15", "sdxl", "tiny", "tiny-sdxl"], default="sd15",
                        help="tiny and tiny-sdxl: small random models that run the same code paths on a CPU")
    parser.add_argument("--model", default="", help="a local diffusers folder (instead of random weights)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=0, help="denoising steps (default 25; --quick 4)")
    parser.add_argument("--batch", type=int, default=0, help="images per batch (default 8; --quick 2)")
    parser.add_argument("--size", type=int, default=0, help="image side (default: the model's native size)")
    parser.add_argument("--train-steps", type=int, default=0, help="measured training steps (default 30; --quick 6)")
    parser.add_argument("--repeats", type=int, default=0, help="timed repeats (default 5; --quick 1)")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="peak for the floor (default: measured)")
    parser.add_argument("--quick", action="store_true", help="few steps and repeats (a smoke run)")
    parser.add_argument("--json", default="", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    setup_django()
    result = run(args)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    bad = [k for section in ("plain", "engine", "ratios") for k, v in result[section].items()
           if isinstance(v, float) and not math.isfinite(v)]
    bad += [row["case"] for row in result["stages"]["rows"] if not math.isfinite(row["s_per_image"])]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
