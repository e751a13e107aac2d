"""factory_boy factories shared by every test module."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db.models import Max
from django.utils import timezone
from PIL import Image

from core.access import Role
from core.platforms import Platform
from generation.models import GeneratedImage, GenerationJob, LoraVersion
from personas.models import Membership, Persona, ReferenceImage, Workspace
from scheduler.models import Post, PostImage, PostStatus
from web.models import DEMO_WORKSPACE_SLUG, DemoSeed, DemoSeedStatus


def png_bytes(width: int = 1080, height: int = 1350, color: tuple[int, int, int] = (200, 120, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-Correct-Horse-1")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MARKETER


class PersonaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Persona

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Mira {n}")
    handle = factory.Sequence(lambda n: f"mira_{n}")
    age = 24
    pronouns = "she/her"
    bio = "Digital creator exploring cities and coffee."
    appearance = "woman with short silver hair, freckles, green eyes"
    style_keywords = factory.LazyFunction(lambda: ["film photo", "pastel"])
    voice = "warm, playful, short sentences"
    default_hashtags = factory.LazyFunction(lambda: ["#virtualinfluencer", "#mira"])
    trigger_token = "sks"
    timezone = "Europe/Paris"
    target_platforms = factory.LazyFunction(lambda: ["instagram", "threads"])
    min_post_gap_minutes = 180
    posting_slots = factory.LazyFunction(lambda: ["09:00", "12:30", "18:00"])
    # The factories' reference images are plain colour fields with no face in them: likeness does not apply
    # unless a test asks for a human-face persona (and uploads real photos).
    is_human_face = False


class ReferenceImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceImage

    persona = factory.SubFactory(PersonaFactory)
    image = factory.LazyAttribute(lambda o: ContentFile(png_bytes(640, 640), name="ref.png"))
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"ref-{n}".encode()).hexdigest())
    original_filename = "ref.png"


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    persona = factory.SubFactory(PersonaFactory)
    workspace = factory.SelfAttribute("persona.workspace")
    platform = Platform.INSTAGRAM
    caption = factory.LazyAttribute(lambda o: f"Golden hour in Lisbon. {o.persona.disclosure_label}")
    hashtags = factory.LazyFunction(lambda: ["#lisbon", "#travel"])
    disclosure_label = factory.SelfAttribute("persona.disclosure_label")
    status = PostStatus.DRAFT
    scheduled_at = None


class PostImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PostImage

    post = factory.SubFactory(PostFactory)
    image = factory.LazyAttribute(lambda o: ContentFile(png_bytes(1080, 1350), name="post.png"))
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(png_bytes(1080, 1350)).hexdigest())
    position = factory.Sequence(lambda n: n % 10)


class LoraVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoraVersion

    persona = factory.SubFactory(PersonaFactory)
    base_model = "tiny"

    @factory.lazy_attribute
    def version(self) -> int:
        # Numbered per persona, after its highest: a global sequence made the number depend on how many versions
        # earlier tests built, so it could collide with a number a test sets (unique per persona).
        if self.persona.pk is None:
            return 1
        highest = LoraVersion.objects.filter(persona=self.persona).aggregate(highest=Max("version"))["highest"]
        return (highest or 0) + 1


class GenerationJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationJob

    persona = factory.SubFactory(PersonaFactory)
    platform = Platform.INSTAGRAM
    scene = "drinking coffee at a cafe terrace"
    num_variants = 2
    steps = 4


class GeneratedImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GeneratedImage

    job = factory.SubFactory(GenerationJobFactory)
    index = factory.Sequence(lambda n: n)
    image = factory.LazyAttribute(lambda o: ContentFile(png_bytes(512, 640), name="gen.png"))
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"gen-{n}".encode()).hexdigest())
    seed = 1234
    base_model = "tiny"
    prompt = "photo of sks person"
    steps = 4
    guidance = 7.0
    scheduler = "dpmpp_2m_karras"


class DemoSeedFactory(factory.django.DjangoModelFactory):
    """The demo workspace's seeding, running on a worker (the workspace is the demo's, by its slug)."""

    class Meta:
        model = DemoSeed

    workspace = factory.SubFactory(WorkspaceFactory, name="Demo Studio", slug=DEMO_WORKSPACE_SLUG)
    status = DemoSeedStatus.RUNNING
    requested_at = factory.LazyFunction(timezone.now)


def aware(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)
