"""The likeness report of a LoRA version, run by the GPU worker right after training succeeds (and its reviewer
samples): fixed validation scenes and seeds rendered with the new version and with the base model alone, each
scored against the persona's reference faces (generation.jobs.likeness). Stored on the version, once."""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.platforms import Platform
from generation.engine import specs
from generation.engine.families import render_size
from generation.jobs import likeness
from generation.models import LoraVersion
from generation.transitions import error_text, persona_prompt

logger = logging.getLogger(__name__)

# Fixed scenes and seeds: the reports of successive versions are directly comparable.
REPORT_SCENES = (
    "portrait, looking at the camera, soft natural light, neutral background",
    "close-up portrait, outdoors, daylight, smiling",
    "half-body photo in a city street, three-quarter view",
)
REPORT_SEED = 4242
REPORT_STEPS = 20


def version_report_ensure(version: LoraVersion, *, engine: Callable, lora: Callable) -> None:
    """Compute and store the report of a succeeded version unless it has one. `engine(base_model_entry)` is the
    worker's engine for it and `lora(version)` its adapter reference. A failure is stored as the report's status; it
    never fails the version. A persona that is not a human face gets "not applicable" without spending a render."""
    version.refresh_from_db(fields=["likeness_report"])
    if version.likeness_report:
        return
    persona = version.persona
    prompts = [{"scene": scene, "seed": REPORT_SEED + i} for i, scene in enumerate(REPORT_SCENES)]
    try:
        if not persona.is_human_face:
            report = likeness.version_report(persona=persona, lora_pictures=[], base_pictures=[], prompts=prompts)
        else:
            pipeline, adapter = engine(version.base_model_entry), lora(version)
            width, height = render_size(platform=Platform.INSTAGRAM, base_model=version.base_model)

            def render(ref: specs.LoraRef | None) -> list:
                return [pipeline.generate(specs.GenerationRequest(
                    prompt=persona_prompt(persona, p["scene"]), negative_prompt=specs.DEFAULT_NEGATIVE_PROMPT,
                    seeds=[p["seed"]], steps=REPORT_STEPS, guidance=7.0, scheduler="dpmpp_2m_karras",
                    width=width, height=height, lora=ref,
                ))[0] for p in prompts]

            report = likeness.version_report(persona=persona, lora_pictures=render(adapter),
                                             base_pictures=render(None), prompts=prompts)
    except Exception as exc:
        logger.exception("The likeness report of LoRA version %s failed", version.pk)
        report = {"status": "failed", "reason": error_text(exc), "prompts": prompts}
    LoraVersion.objects.filter(pk=version.pk, likeness_report={}).update(likeness_report=report)
    version.likeness_report = report
