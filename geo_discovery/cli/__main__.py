"""``python -m geo_discovery.cli``: the same as the ``geo-discovery`` command."""

from . import run

__all__: list[str] = []

if __name__ == "__main__":
    run()
