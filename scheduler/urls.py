# Page routes (not namespaced: settings.LOGIN_REDIRECT_URL names "dashboard").
from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("dashboard/jobs/", views.dashboard_jobs, name="dashboard_jobs"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/<int:post_id>/decide/", views.review_decide, name="review_decide"),
    path("review/bulk-approve/", views.review_bulk_approve, name="review_bulk_approve"),
    path("posts/<int:post_id>/caption/", views.post_caption, name="post_caption_page"),
    path("posts/<int:post_id>/submit/", views.post_submit, name="post_submit_page"),
    path("posts/<int:post_id>/schedule/", views.post_schedule, name="post_schedule_page"),
    path("posts/<int:post_id>/reschedule/", views.post_reschedule, name="post_reschedule_page"),
    path("posts/<int:post_id>/unschedule/", views.post_unschedule, name="post_unschedule_page"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("exports/", views.export_list, name="export_list"),
    path("exports/new/", views.export_create, name="export_create"),
    path("exports/rows/", views.export_list_partial, name="export_rows"),
    path("exports/<int:bundle_id>/download/", views.export_download, name="export_download"),
    path("exports/<int:bundle_id>/verify/", views.export_verify, name="export_verify"),
]
