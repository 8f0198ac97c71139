"""Worker tasks of the hazards app (huey discovers this module)."""
