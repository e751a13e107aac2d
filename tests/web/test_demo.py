import pytest

from generation.models import BaseModel, JobStatus, LoraVersion, SamplesStatus
from personas.models import Persona, ReferenceImage, Workspace
from scheduler.models import Post, PostStatus
from web.demo import demo_workspace_seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


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


@pytest.mark.slow
def test_demo_seed_trains_a_lora_and_fills_the_review_queue_and_calendar():
    demo_workspace_seed(train=True, training_steps=10)
    persona = Persona.objects.get()
    assert LoraVersion.objects.get(persona=persona, is_active=True).status == JobStatus.SUCCEEDED
    assert Post.objects.filter(persona=persona, status=PostStatus.IN_REVIEW).count() >= 3
    scheduled = Post.objects.get(persona=persona, status=PostStatus.SCHEDULED)
    assert scheduled.images.count() == 1
    assert persona.disclosure_label in scheduled.caption

    posts_before = Post.objects.count()
    demo_workspace_seed(train=True, training_steps=10)
    assert Post.objects.count() == posts_before
    # Both built-in models show their sample galleries.
    assert {(m.family, m.samples_status, m.samples.count()) for m in BaseModel.objects.all()} == {
        ("tiny", SamplesStatus.READY, 3), ("tiny-sdxl", SamplesStatus.READY, 3)}
