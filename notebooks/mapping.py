"""Maps for the analyst notebooks: folium maps that draw offline, basemap from a setting.

Notebooks import this module from their own folder (``from mapping import ...``):

* :func:`basemap` — the keyword arguments that put the configured basemap under a
  ``folium.Map`` or a ``GeoDataFrame.explore()`` map: ``tiles``/``attr`` from the
  ``basemap_tile_url`` / ``basemap_attribution`` settings (``GEO_DISCOVERY_BASEMAP_TILE_URL``),
  or ``tiles=None`` when unset, so nothing is fetched and no key is asked for;
* :func:`show` — displays a folium map as one self-contained HTML document: Leaflet's
  script and stylesheet (vendored in ``notebooks/vendor/leaflet``, see
  ``scripts/vendor_static.sh``) are inlined and every other CDN link folium adds (jQuery,
  Bootstrap, Font Awesome, marker plugins; none of them draws data) is dropped, so the
  map and its data layers draw with no network at all (jQuery-only decorations such as
  the legend's dragging are switched off). Only basemap tiles, when configured, come
  from the internet.

The library itself (``geo_discovery``) never imports plotting or mapping packages; this
module is the notebooks' own.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geo_discovery.settings import Settings

__all__ = ["OfflineMap", "basemap", "new_map", "offline_html", "show"]

LEAFLET = Path(__file__).resolve().parent / "vendor" / "leaflet"

# A <script src="http…"></script> or <link … href="http…"> tag (folium writes both on one line).
_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc=["'](https?:)?//[^"']+["'][^>]*>\s*</script>""", re.I)
_LINK = re.compile(r"""<link\b[^>]*\bhref=["'](https?:)?//[^"']+["'][^>]*/?>""", re.I)


# folium decorations written for jQuery (explore()'s draggable legend) become no-ops: the
# legend stays where it is drawn instead of failing with "$ is not defined".
_NO_JQUERY = (
    "if (!window.jQuery) { window.$ = window.jQuery = function () {"
    " return new Proxy({}, {get: function () { return function () {}; }}); }; }"
)


def basemap(settings: Settings | None = None) -> dict[str, Any]:
    """``tiles``/``attr`` keyword arguments for ``folium.Map`` and ``GeoDataFrame.explore``.

    The ``basemap_tile_url`` setting (an XYZ template) with ``basemap_attribution`` (default:
    the URL's host); unset, ``{"tiles": None}``: the map draws its data layers only.
    """
    s = settings or Settings()
    url = s.basemap_tile_url
    if not url:
        return {"tiles": None}
    return {"tiles": url, "attr": s.basemap_attribution or urlparse(url).netloc or url}


def new_map(
    bounds: tuple[float, float, float, float] | Any,
    *,
    settings: Settings | None = None,
    **kwargs: Any,
) -> Any:
    """An empty ``folium.Map`` fitted to ``bounds`` = (west, south, east, north), e.g. a
    GeoDataFrame's ``total_bounds``, with the configured basemap and a scale bar."""
    import folium

    west, south, east, north = (float(v) for v in bounds)
    m = folium.Map(
        location=((south + north) / 2, (west + east) / 2),
        control_scale=True,
        **basemap(settings),
        **kwargs,
    )
    m.fit_bounds([[south, west], [north, east]])
    return m


def offline_html(m: Any) -> str:
    """The map as one HTML document that needs no network (Leaflet inlined)."""
    page = m.get_root().render()
    js = (LEAFLET / "leaflet.js").read_text(encoding="utf-8")
    css = (LEAFLET / "leaflet.css").read_text(encoding="utf-8")
    # The vendored files go first in <head>; every external script and stylesheet goes.
    page = _SCRIPT.sub("", page)
    page = _LINK.sub("", page)
    inline = f"<style>{css}</style>\n<script>{js}</script>\n<script>{_NO_JQUERY}</script>\n"
    head = re.search(r"<head[^>]*>", page, re.I)
    if head is None:
        raise ValueError("the map's HTML has no <head>")
    page = page[: head.end()] + "\n" + inline + page[head.end() :]
    if "L.map(" not in page:
        raise ValueError("the map's HTML does not create a Leaflet map")
    return page


class OfflineMap:
    """A rendered map that displays in Jupyter as an iframe and saves as one HTML file."""

    def __init__(self, page: str, height: int = 520) -> None:
        self.html = page
        self.height = height

    def _repr_html_(self) -> str:
        doc = html.escape(self.html, quote=True)
        return (
            f'<iframe srcdoc="{doc}" style="width:100%;height:{self.height}px;border:none" '
            'sandbox="allow-scripts allow-popups"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the map as a standalone HTML file (opens offline in any browser)."""
        out = Path(path)
        out.write_text(self.html, encoding="utf-8")
        return out

    def __len__(self) -> int:
        return len(self.html)


def show(m: Any, height: int = 520) -> OfflineMap:
    """Display ``m`` (a ``folium.Map``, e.g. from ``gdf.explore()``) self-contained.

    Layer controls should be drawn expanded (``folium.LayerControl(collapsed=False)``) and
    points as circles: Leaflet's icon images are not inlined.
    """
    return OfflineMap(offline_html(m), height=height)
