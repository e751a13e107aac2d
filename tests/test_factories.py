"""The factories give valid rows whatever ran before them."""

from __future__ import annotations

from tests.factories import LoraVersionFactory, PersonaFactory


def test_lora_versions_are_numbered_per_persona_not_by_test_order(db):
    for _ in range(12):  # other personas' versions, as earlier tests leave behind
        LoraVersionFactory()
    persona = PersonaFactory()
    first = LoraVersionFactory(persona=persona)
    LoraVersionFactory(persona=persona, version=10)
    assert first.version == 1
    assert LoraVersionFactory(persona=persona).version == 11
