"""What scheduler asks of the layers above it, which it never names.

post_schedule_check: sent with `post` and `scheduled_at` when a post is (re)scheduled; each receiver returns a list
of warnings to show beside the new time (provenance connects the bulk importers' rules, in its app config).
"""

from django.dispatch import Signal

post_schedule_check = Signal()
