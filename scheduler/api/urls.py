from django.urls import path

from core.api import ApiRouter
from scheduler.api import calendar as api_calendar
from scheduler.api import drafting as api_drafting
from scheduler.api import image_jobs as api_image_jobs
from scheduler.api import links as api_links
from scheduler.api import plans as api_plans
from scheduler.api import series as api_series
from scheduler.api.posts import PostViewSet

# The API root view already comes from the personas router.
router = ApiRouter()
router.register("posts", PostViewSet, basename="post")
router.register("content-plans", api_plans.ContentPlanViewSet, basename="content-plan")
router.register("review-links", api_links.ReviewLinkViewSet, basename="review-link")
router.register("slot-series", api_series.SlotSeriesViewSet, basename="slot-series")

urlpatterns = router.urls + [
    path("calendar/", api_calendar.CalendarView.as_view(), name="calendar"),
    path("posts/<id:post_id>/image-jobs/", api_image_jobs.PostImageJobCreateView.as_view(), name="post-image-jobs"),
    path("generation-jobs/<id:pk>/draft-again/", api_drafting.GenerationJobDraftAgainView.as_view(),
         name="generation-job-draft-again"),
    path(
        "personas/<id:persona_id>/next-free-slot/",
        api_calendar.NextFreeSlotView.as_view(),
        name="persona-next-free-slot",
    ),
    # A client review link's routes: the token is the credential (no account).
    path("client-review/<str:token>/", api_links.ClientReviewView.as_view(), name="client-review"),
    path("client-review/<str:token>/posts/<id:post_id>/approve/", api_links.ClientApproveView.as_view(),
         name="client-review-approve"),
    path("client-review/<str:token>/posts/<id:post_id>/request-changes/",
         api_links.ClientRequestChangesView.as_view(), name="client-review-request-changes"),
    path("client-review/<str:token>/posts/<id:post_id>/comments/", api_links.ClientCommentsView.as_view(),
         name="client-review-comments"),
    path("client-review/<str:token>/images/<id:post_image_id>/", api_links.ClientImageView.as_view(),
         name="client-review-image"),
]
