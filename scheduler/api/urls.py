from django.urls import path
from rest_framework.routers import SimpleRouter

from scheduler.api import calendar as api_calendar
from scheduler.api import links as api_links
from scheduler.api import plans as api_plans
from scheduler.api import series as api_series
from scheduler.api.generated import PostViewSet

# SimpleRouter: the API root view already comes from the personas router.
router = SimpleRouter()
router.register("posts", PostViewSet, basename="post")
router.register("content-plans", api_plans.ContentPlanViewSet, basename="content-plan")
router.register("review-links", api_links.ReviewLinkViewSet, basename="review-link")
router.register("slot-series", api_series.SlotSeriesViewSet, basename="slot-series")

urlpatterns = router.urls + [
    path("calendar/", api_calendar.CalendarView.as_view(), name="calendar"),
    path(
        "personas/<int:persona_id>/next-free-slot/",
        api_calendar.NextFreeSlotView.as_view(),
        name="persona-next-free-slot",
    ),
    # A client review link's routes: the token is the credential (no account).
    path("client-review/<str:token>/", api_links.ClientReviewView.as_view(), name="client-review"),
    path("client-review/<str:token>/posts/<int:post_id>/approve/", api_links.ClientApproveView.as_view(),
         name="client-review-approve"),
    path("client-review/<str:token>/posts/<int:post_id>/request-changes/",
         api_links.ClientRequestChangesView.as_view(), name="client-review-request-changes"),
    path("client-review/<str:token>/posts/<int:post_id>/comments/", api_links.ClientCommentsView.as_view(),
         name="client-review-comments"),
    path("client-review/<str:token>/images/<int:post_image_id>/", api_links.ClientImageView.as_view(),
         name="client-review-image"),
]
