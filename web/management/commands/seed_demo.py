from django.core.management.base import BaseCommand

from web.demo import demo_workspace_seed


class Command(BaseCommand):
    help = "Create the demo workspace (idempotent) and print its logins."

    def add_arguments(self, parser):
        parser.add_argument("--no-train", action="store_true", help="Skip LoRA training and draft generation.")

    def handle(self, *args, no_train: bool, **options):
        creds = demo_workspace_seed(train=not no_train)
        self.stdout.write(self.style.SUCCESS("Demo workspace ready."))
        self.stdout.write(f"  Log in as {creds.admin_username} / {creds.admin_password}  (admin: reviews and approves)")
        self.stdout.write(f"  or {creds.marketer_username} / {creds.marketer_password}  (marketer: drafts, generates)")
