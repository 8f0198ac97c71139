"""anlian seal_key: print the install's public seal key (PEM) and its fingerprint (key id).

Give both to whoever will verify bundles offline; compare the fingerprint over a second channel.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from anlian.seal import keys


class Command(BaseCommand):
    help = "Print the public Ed25519 seal key (PEM) and its fingerprint."

    def add_arguments(self, parser):
        parser.add_argument("--pem-only", action="store_true", help="only the PEM (to redirect into a file)")

    def handle(self, *args, **opts):
        self.stdout.write(keys.public_pem().rstrip("\n"))
        if not opts["pem_only"]:
            self.stdout.write(_("指纹（SHA-256）：{fp}").format(fp=keys.fingerprint()))
