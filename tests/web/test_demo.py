import pytest

from generation.models import BaseModel
from personas.models import Persona, ReferenceImage, Workspace
from web.demo import demo_workspace_seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


# Training, drafting and the galleries (seed_demo's whole run) are tested once, through the worker's path:
# tests/web/test_demo_seeding.py::test_the_worker_resumes_an_interrupted_seed_without_a_second_lora_or_job.


def test_demo_seed_without_training_is_idempotent():
    first = demo_workspace_seed(train=False)
    second = demo_workspace_seed(train=False)
    assert first == second
    assert Workspace.objects.count() == 1
    persona = Persona.objects.get()
    # Every synthetic reference photo passes the real upload validation.
    assert ReferenceImage.objects.filter(persona=persona).count() == 6
    assert first.admin_password and first.marketer_password
    # The built-in tiny SD and SDXL models are library entries (the gallery's cards).
    assert sorted(BaseModel.objects.values_list("family", flat=True)) == ["tiny", "tiny-sdxl"]
