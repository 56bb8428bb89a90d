"""``python -m geo_discovery.cli``: the same as the ``geo-discovery`` command, through
the same entry (``run``: a Ctrl-C while the commands import, or during one, ends with
one line and exit 130)."""

from . import run

__all__: list[str] = []

if __name__ == "__main__":
    run()
