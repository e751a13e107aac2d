"""What generation announces to the layers above it, which it never names.

job_images_ready: a job (not a reviewer sample) succeeded and its images are saved, drafting pending; sent after
that commit with `job_id`. Whoever drafts posts from them connects a receiver (scheduler does, in its app config);
a job nobody drafts keeps drafting_status pending.
"""

from django.dispatch import Signal

job_images_ready = Signal()
