from django.contrib import admin

from publishing.models import ConnectedAccount, Publication


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(admin.ModelAdmin):
    # The encrypted token is never shown: not listed, not in the form (editable=False), not searchable.
    list_display = ("persona", "platform", "username", "status", "token_expires_at", "updated_at")
    list_filter = ("platform", "status")
    search_fields = ("username", "persona__name")
    fields = ("persona", "platform", "platform_user_id", "username", "status", "status_reason", "token_expires_at",
              "scopes", "connected_by")
    readonly_fields = ("persona", "platform", "platform_user_id", "connected_by")


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    list_display = ("post", "account", "status", "attempts", "permalink", "ai_flag_reported", "updated_at")
    list_filter = ("status",)
    readonly_fields = ("post", "account", "container_id", "child_container_ids", "platform_media_id", "permalink",
                       "ai_flag_reported", "attempts", "lease_token", "lease_until", "published_at")
