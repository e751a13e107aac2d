"""`manage.py likeness`: each image's face, distance, score and on-model verdict against reference photos."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tests import faces


@pytest.fixture
def photos(tmp_path):
    paths = {}
    astronaut = faces.variants(faces.astronaut())
    for name, img in {
        "ref1.jpg": faces.astronaut(), "ref2.jpg": astronaut["flip"], "ref3.png": astronaut["crop"],
        "same.jpg": astronaut["jpeg"], "other.jpg": faces.grace_hopper(), "noise.png": faces.noise(),
    }.items():
        path = tmp_path / name
        img.save(path)
        paths[name] = str(path)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    paths["broken.jpg"] = str(tmp_path / "broken.jpg")
    return paths


def test_json_reports_each_image(photos, capsys):
    call_command("likeness", "--references", photos["ref1.jpg"], photos["ref2.jpg"], photos["ref3.png"],
                 "--images", photos["same.jpg"], photos["other.jpg"], photos["noise.png"], photos["broken.jpg"],
                 "--json")
    body = json.loads(capsys.readouterr().out)
    assert body["backend"] == "dlib-resnet-v1" and body["threshold"] == 0.6 and body["usable_references"] == 3
    same, other, noise, broken = body["images"]
    assert same["face"] and same["on_model"] is True and same["distance"] < 0.4 and same["score"] > 0.65
    assert other["face"] and other["on_model"] is False and other["distance"] > 0.6 and other["score"] < 0.5
    assert noise["face"] is False and noise["score"] is None and noise["on_model"] is None
    assert broken["status"] == "unreadable" and broken["face"] is False


def test_table_output_and_a_mixed_in_reference(photos, capsys):
    call_command("likeness", "--references", photos["ref1.jpg"], photos["ref2.jpg"], photos["ref3.png"],
                 photos["other.jpg"], photos["noise.png"], "--images", photos["same.jpg"])
    out = capsys.readouterr().out
    assert "3 of 5 references usable" in out
    assert "other.jpg: outlier (looks like a different person" in out
    assert "noise.png: no_face (no face was found)" in out
    row = next(line for line in out.splitlines() if line.strip().startswith(photos["same.jpg"][-40:].strip()))
    assert row.split()[-1] == "yes"


def test_a_threshold_and_a_missing_file(photos, capsys):
    call_command("likeness", "--references", photos["ref1.jpg"], "--images", photos["same.jpg"],
                 "--threshold", "0.01", "--json")
    (same,) = json.loads(capsys.readouterr().out)["images"]
    assert same["on_model"] is False and same["threshold"] == 0.01
    with pytest.raises(CommandError, match="no such file"):
        call_command("likeness", "--references", "/nonexistent.jpg", "--images", photos["same.jpg"])
