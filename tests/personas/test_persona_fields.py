"""The persona's editable fields are listed once (personas.services.PERSONA_FIELDS); what reads or writes them
agrees with that list."""

from __future__ import annotations

from personas import api, services
from personas.admin import PersonaAdminForm


def test_the_write_serializer_takes_exactly_the_persona_fields():
    assert set(api.PersonaWriteSerializer().fields) == set(services.PERSONA_FIELDS)


def test_the_read_serializer_shows_the_persona_fields_in_their_order():
    shown = [name for name in api.PersonaSerializer.Meta.fields if name in services.PERSONA_FIELDS]
    assert shown == list(services.PERSONA_FIELDS)


def test_the_admin_form_edits_the_persona_fields():
    assert set(PersonaAdminForm.Meta.fields) == {"workspace", *services.PERSONA_FIELDS}
