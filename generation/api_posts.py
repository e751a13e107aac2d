"""The posts API as it is served: scheduler's PostViewSet, with generated-image ids looked up here.

Scheduler sits below generation and cannot read GeneratedImage rows, so config/urls.py routes /posts/ to
this subclass. Everything else about posts (schema, rules, transitions) stays in scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence

from personas.models import Persona
from scheduler import api as scheduler_api

from .models import GeneratedImage
from .selectors import generated_images_for_persona


class PostViewSet(scheduler_api.PostViewSet):
    def generated_images(self, *, persona: Persona, ids: list[int]) -> Sequence[GeneratedImage]:
        return generated_images_for_persona(persona=persona, ids=ids)
