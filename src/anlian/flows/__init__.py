"""Workflow engine (流程引擎) for permits, hazards and LOTO.

``anlian.flows.core`` is the pure-Python heart: template schema, event replay and the
allow/refuse decisions. It imports nothing from Django so it can be tested exhaustively and
reused by views, the API and background tasks alike.
"""
