"""`anlian demo`: load the demo port group (idempotent) and print the demo logins."""

from django.core.management.base import BaseCommand

from anlian.flows import demo as flows_demo
from anlian.hazards import demo as hazards_demo
from anlian.orgs import demo
from anlian.workforce import demo as workforce_demo


class Command(BaseCommand):
    help = "Load demo data (a port group with two companies); safe to run again."

    def handle(self, *args, **options):
        logins = demo.load()
        workforce_demo.load()
        flows_demo.load()
        hazards_demo.load()
        self.stdout.write(self.style.SUCCESS("演示数据已就绪 / demo data ready"))
        self.stdout.write(f"演示账号 demo logins (password / 密码: {demo.DEMO_PASSWORD}):")
        for login, name, what in logins:
            self.stdout.write(f"  {login:<12} {name:<8} {what}")
