from django.urls import path

from publishing import views

urlpatterns = [
    path("publishing/media/<str:signed>", views.media, name="publishing-media"),
    path("publishing/connect/<int:persona_id>/<str:platform>", views.connect_start, name="publishing-connect"),
    path("publishing/callback/<str:platform>", views.connect_callback, name="publishing-callback"),
    path("publishing/accounts/<int:account_id>/disconnect", views.disconnect, name="publishing-disconnect"),
    path("publishing/posts/<int:post_id>/retry", views.retry, name="publishing-retry"),
]
