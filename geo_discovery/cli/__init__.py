"""The ``geo-discovery`` command line (typer): one module per command group.

``app`` is the console entry point; see :mod:`geo_discovery.cli.main`.
"""

from .main import app

__all__ = ["app"]
