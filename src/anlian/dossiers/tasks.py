"""Worker tasks of the dossiers app (huey discovers this module)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task()
def build_export(export_id: int) -> str:
    """Render one dossier PDF; the export row says how far it got and where the file is."""
    from anlian.dossiers.services import run_export

    export = run_export(export_id)
    return export.status if export is not None else "missing"
