"""Review queue details in a real browser: request changes from the keyboard, bulk approve with per-post
errors, the live caption counter, the no-JavaScript fallback and a refused calendar drop."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from core.access import Role
from core.platforms import Platform
from scheduler.models import Post, PostStatus, PostTransition
from scheduler.selectors import persona_zone
from tests.browser.test_journey import check_page, log_in, messages_text
from tests.factories import MembershipFactory, PersonaFactory, PostFactory, PostImageFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    workspace = WorkspaceFactory(name="Queue Brand")
    marketer = MembershipFactory(workspace=workspace, role=Role.MARKETER, user__username="mia").user
    MembershipFactory(workspace=workspace, role=Role.REVIEWER, user__username="rob")
    persona = PersonaFactory(workspace=workspace, created_by=marketer, name="Nova")
    posts = []
    for i in range(3):
        post = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                           caption=f"Post {i} at the market. {persona.disclosure_label}")
        PostImageFactory(post=post, position=0)
        posts.append(post)
    no_image = PostFactory(persona=persona, created_by=marketer, status=PostStatus.IN_REVIEW,
                           caption=f"No image here. {persona.disclosure_label}")
    draft = PostFactory(persona=persona, created_by=marketer, status=PostStatus.DRAFT, platform=Platform.X,
                        caption=f"Short draft. {persona.disclosure_label}", hashtags=[])
    return {"persona": persona, "posts": posts, "no_image": no_image, "draft": draft}


def test_keyboard_request_changes_and_bulk_approve(page, shoot, queue):
    from playwright.sync_api import expect

    posts = queue["posts"]
    log_in(page, "rob")
    page.goto("/review/")
    expect(page.locator(".review-card.current")).to_have_id(f"post-{posts[0].pk}")

    # c focuses the comment of the current post; Ctrl+Enter sends "request changes".
    page.keyboard.press("c")
    comment = page.locator(f"#comment-{posts[0].pk}")
    expect(comment).to_be_focused()
    expect(page.locator(f"#post-{posts[0].pk} [data-pending-note]")).to_contain_text("request changes")
    comment.type("Warmer light, please.")
    with page.expect_navigation():
        comment.press("Control+Enter")
    assert "Changes requested." in messages_text(page)
    changed = Post.objects.get(pk=posts[0].pk)
    assert changed.status == PostStatus.CHANGES_REQUESTED
    assert changed.transitions.order_by("-id").first().comment == "Warmer light, please."

    # Grid, tick everything on the page, approve in one go: the post without an image is refused on its own.
    page.get_by_role("link", name="Grid").click()
    page.get_by_label("Select all on this page").check()
    expect(page.locator("[data-bulk-button]")).to_have_text(re.compile(r"Approve selected\s*\(3\)"))
    shoot(page, "20-review-bulk-selected")
    with page.expect_navigation():
        page.locator("[data-bulk-button]").click()
    text = messages_text(page)
    assert "Approved 2 of 3 post(s)" in text
    assert f"Post #{queue['no_image'].pk}:" in text
    assert set(Post.objects.filter(pk__in=[p.pk for p in posts[1:]]).values_list("status", flat=True)) == {"approved"}
    assert Post.objects.get(pk=queue["no_image"].pk).status == PostStatus.IN_REVIEW
    assert PostTransition.objects.filter(to_status="approved").count() == 2
    check_page(page, shoot, "21-review-after-bulk")


def test_caption_counter_counts_live_and_the_server_keeps_the_text(page, shoot, queue):
    from playwright.sync_api import expect

    draft = queue["draft"]
    log_in(page, "mia")
    page.goto(f"/review/#draft-{draft.pk}")
    counter = page.locator(f"#count-{draft.pk}")
    expect(counter).to_contain_text("/ 280 weighted characters")
    caption = page.locator(f"#caption-{draft.pk}")
    label = queue["persona"].disclosure_label
    long_text = "日本語のキャプション" * 15 + " https://example.com/a/very/long/link " + label
    caption.fill(long_text)
    # CJK counts 2 each (300) + the URL 23 + the label: over X's 280.
    expect(counter).to_contain_text("over the X limit")
    expect(counter).to_have_class(re.compile("over"))
    shoot(page, "22-caption-counter-over")
    with page.expect_navigation():
        page.locator(f"#draft-{draft.pk}").get_by_role("button", name="Save caption").click()
    draft.refresh_from_db()
    assert draft.caption == long_text
    assert "280" in messages_text(page)  # the server re-validated and warned


def test_pages_work_without_javascript(browser, live_server, shoot, queue):
    from playwright.sync_api import expect

    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, "rob")
        page.goto("/review/")
        # No JS: every post of the page is shown, each with its own working form.
        expect(page.locator(".review-card:visible")).to_have_count(4)
        expect(page.get_by_role("button", name="Previous post")).to_be_hidden()
        shoot(page, "23-review-no-js")
        target = queue["posts"][1]
        with page.expect_navigation():
            page.locator(f"#post-{target.pk}").get_by_role("button", name=re.compile("^Approve")).click()
        assert Post.objects.get(pk=target.pk).status == PostStatus.APPROVED
    finally:
        context.close()


def test_a_refused_calendar_drop_shows_the_reason(page, shoot, queue):
    from playwright.sync_api import expect

    persona = queue["persona"]
    post = queue["posts"][0]
    zone_now = timezone.now().astimezone(persona_zone(persona))
    when = (zone_now + dt.timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    Post.objects.filter(pk=post.pk).update(status=PostStatus.SCHEDULED, scheduled_at=when)
    log_in(page, "rob")
    page.goto(f"/calendar/?view=week&persona={persona.pk}&start={when.date().isoformat()}")
    yesterday = (zone_now - dt.timedelta(days=1)).date()
    target = page.locator(f"section[data-drop-date='{yesterday.isoformat()}']")
    if not target.count():  # yesterday is in the previous week: show both weeks' days via the month view
        page.goto(f"/calendar/?persona={persona.pk}&start={when.date().isoformat()}")
        target = page.locator(f"[data-drop-date='{yesterday.isoformat()}']").first
    if not target.count():  # only when a month starts on a Monday, today or tomorrow
        pytest.skip("yesterday and tomorrow are on no common calendar page today")
    with page.expect_navigation():
        page.locator(f"#cal-post-{post.pk}").drag_to(target)
    expect(page.locator(".message.error")).to_be_visible()
    shoot(page, "24-calendar-refused-drop")
    assert Post.objects.get(pk=post.pk).scheduled_at == when


X_SAMPLES = [
    "plain ascii caption",
    "café — “quotes” … naïve",
    "日本語のキャプション",
    "thumbs 👍🏽 family 👨\u200d👩\u200d👧 flag 🇫🇷 keycap 1\ufe0f\u20e3",
    "link https://example.com/a/b?c=d, then text.",
    "two links www.example.org/x and http://a.io/y!",
    "#one #two #One #tres",
]


def test_client_x_count_matches_the_server(page, queue):
    from core.captions import hashtags_in
    from core.platforms import weighted_length_x

    log_in(page, "mia")
    for text in X_SAMPLES:
        assert page.evaluate("t => window.PersonaStudio.weightedLength(t.normalize('NFC'), 23)", text) == \
            weighted_length_x(text), text
        assert page.evaluate("t => window.PersonaStudio.hashtagCount(t)", text) == len(hashtags_in(text)), text


def test_a_busy_month_shows_each_busy_days_counts_and_the_day_view_shows_its_posts(page, shoot, queue):
    from playwright.sync_api import expect

    workspace = queue["persona"].workspace
    personas = [queue["persona"]] + [PersonaFactory(workspace=workspace, name=f"Echo {i}") for i in range(3)]
    start = (timezone.now() + dt.timedelta(days=40)).replace(hour=6, minute=0, second=0, microsecond=0)
    Post.objects.bulk_create(
        Post(workspace=workspace, persona=persona, platform=Platform.INSTAGRAM, status=PostStatus.SCHEDULED,
             caption=f"Busy {i}. {persona.disclosure_label}", disclosure_label=persona.disclosure_label,
             scheduled_at=start + dt.timedelta(hours=4 * i + n))
        for n, persona in enumerate(personas) for i in range(60)
    )
    log_in(page, "rob")
    day = (start + dt.timedelta(days=3)).astimezone(persona_zone(queue["persona"])).date()
    page.goto(f"/calendar/?start={day.isoformat()}")
    cell = page.locator(f"td[data-drop-date='{day.isoformat()}']")
    expect(cell.locator(".cal-post")).to_have_count(0)  # a busy day: its counts, not its posts
    more = cell.locator("a.more")
    expect(more).to_have_text(re.compile(r"^\d+ posts$"))
    count = int(more.get_attribute("data-day-count"))
    assert count > 4
    check_page(page, shoot, "25-calendar-busy-month")
    more.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Calendar · \w+day \d+ \w+ \d{4}$"))).to_be_visible()
    expect(page.locator(f"section[data-drop-date='{day.isoformat()}'] .cal-post")).to_have_count(count)
    check_page(page, shoot, "26-calendar-busy-day")
