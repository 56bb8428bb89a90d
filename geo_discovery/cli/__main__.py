"""``python -m geo_discovery.cli``: the same as the ``geo-discovery`` command."""

from .main import main

main()
