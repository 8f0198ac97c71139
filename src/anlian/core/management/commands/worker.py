"""`anlian worker`: the huey consumer that runs background and periodic tasks."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the task worker (huey consumer; SQLite queue by default, Redis when REDIS_URL is set)."

    def handle(self, *args, **options):
        call_command("run_huey")
