"""The `anlian` command: Django's management commands plus serve, worker and demo."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anlian.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["anlian", *sys.argv[1:]])


if __name__ == "__main__":
    main()
