"""geo-discovery's HTTP API: a FastAPI app over :class:`geo_discovery.engine.DiscoveryEngine`.

``create_app()`` builds the app; ``serve()`` runs it with uvicorn (what
``geo-discovery serve`` calls). Routes live in :mod:`api.routes`, response schemas in
:mod:`api.schemas`, dependencies in :mod:`api.deps`, error mapping in :mod:`api.errors`.
"""

from __future__ import annotations

from .app import create_app, serve

__all__ = ["create_app", "serve"]
