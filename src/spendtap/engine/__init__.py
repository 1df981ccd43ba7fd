"""The engine: ingest usage events, store them with rollups, answer reports.

Build the ASGI app with :func:`spendtap.engine.app.create_app`; run it with
:class:`spendtap.engine.server.EngineServer` (or :func:`spendtap.engine.server.serve`).
This package imports nothing heavy on purpose: the CLI reads its small modules
(timestamps, money) without pulling in FastAPI or SQLAlchemy.
"""
