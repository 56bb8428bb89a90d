"""``python -m geo_discovery.cli``: the same as the ``geo-discovery`` command."""

from .main import main

__all__: list[str] = []

if __name__ == "__main__":
    main()
