"""Persona caption rules (banned words, must-include, examples, languages) and the workspace's brand list and
disclosure-label table: validated by the services, served by the API."""

from __future__ import annotations

import pytest

from core.errors import PermissionDenied, ValidationFailed
from personas import caption_settings, services
from personas.selectors import disclosure_label_for, persona_caption_languages
from tests.conftest import client_for


def test_persona_caption_fields_are_cleaned(persona, marketer):
    updated = services.persona_update(
        actor=marketer, persona=persona, banned_words=[" cheap ", "cheap", "crypto"], must_include=["@stride"],
        caption_examples=["Sunrise laps."], caption_languages=["DE", "en", "de"], caption_language_mode="bilingual",
        caption_urls_allowed=True,
    )
    assert updated.banned_words == ["cheap", "crypto"] and updated.caption_languages == ["de", "en"]
    assert updated.caption_language_mode == "bilingual" and updated.caption_urls_allowed is True
    assert persona_caption_languages(updated) == ["de", "en"]
    with pytest.raises(ValidationFailed, match="Unknown caption languages: klingon"):
        services.persona_update(actor=marketer, persona=persona, caption_languages=["klingon"])
    with pytest.raises(ValidationFailed, match="Caption language mode"):
        services.persona_update(actor=marketer, persona=persona, caption_language_mode="trilingual")
    with pytest.raises(ValidationFailed, match="At most 20 example captions"):
        services.persona_update(actor=marketer, persona=persona, caption_examples=[f"c{i}" for i in range(21)])


def test_labels_per_language_from_the_workspace_table(persona, admin_member, marketer):
    assert disclosure_label_for(persona, "en") == persona.disclosure_label  # English: the persona's own label
    assert disclosure_label_for(persona, "de") == "KI-generiert"
    assert disclosure_label_for(persona, "de+en") == f"KI-generiert · {persona.disclosure_label}"
    with pytest.raises(PermissionDenied):
        caption_settings.workspace_caption_settings_update(actor=marketer, workspace=persona.workspace,
                                                           brand_names=["X"])
    caption_settings.workspace_caption_settings_update(
        actor=admin_member, workspace=persona.workspace, brand_names=["Stride", "Stride", " "],
        disclosure_labels={"DE": "KI-erstellt", "es": ""},
    )
    persona.workspace.refresh_from_db()
    assert persona.workspace.brand_names == ["Stride"] and persona.workspace.disclosure_labels == {"de": "KI-erstellt"}
    persona.refresh_from_db()
    assert disclosure_label_for(persona, "de") == "KI-erstellt" and disclosure_label_for(persona, "es") == (
        "Generado con IA")
    with pytest.raises(ValidationFailed, match="Unknown language 'xx'"):
        caption_settings.workspace_caption_settings_update(actor=admin_member, workspace=persona.workspace,
                                                   disclosure_labels={"xx": "?"})


def test_the_api_serves_and_sets_them(persona, admin_member, marketer, outsider):
    api = client_for(admin_member)
    url = f"/api/v1/workspaces/{persona.workspace_id}/caption-settings/"
    response = api.patch(url, {"brand_names": ["Stride"], "disclosure_labels": {"fr": "Créé par IA"}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["brand_names"] == ["Stride"] and response.json()["disclosure_labels"] == {
        "fr": "Créé par IA"}
    assert client_for(marketer).patch(url, {"brand_names": []}, format="json").status_code == 403
    assert client_for(outsider).patch(url, {"brand_names": []}, format="json").status_code == 404
    assert api.patch(url, {"disclosure_labels": "KI"}, format="json").status_code == 400

    response = client_for(marketer).patch(f"/api/v1/personas/{persona.pk}/", {
        "caption_languages": ["de"], "banned_words": ["cheap"], "caption_language_mode": "per_locale"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["caption_languages"] == ["de"] and body["banned_words"] == ["cheap"]
    assert client_for(marketer).patch(f"/api/v1/personas/{persona.pk}/", {"caption_languages": ["xx"]},
                                      format="json").status_code == 400


def test_the_admin_keeps_the_rules(client, persona, admin_member):
    from django.contrib.auth.models import Permission

    admin_member.is_staff = True
    admin_member.save()
    admin_member.user_permissions.add(*Permission.objects.filter(codename__in=["view_workspace", "change_workspace"]))
    client.force_login(admin_member)
    workspace = persona.workspace
    url = f"/admin/personas/workspace/{workspace.pk}/change/"
    form = {"name": workspace.name, "slug": workspace.slug, "brand_names": '["Stride", " Stride "]',
            "disclosure_labels": '{"xx": "?"}', "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0}
    response = client.post(url, form)
    assert response.status_code == 200 and "Unknown language" in response.content.decode()
    response = client.post(url, {**form, "disclosure_labels": '{"DE": "KI-erstellt"}'})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.brand_names == ["Stride"] and workspace.disclosure_labels == {"de": "KI-erstellt"}
