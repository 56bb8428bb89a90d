#!/usr/bin/env bash
# Vendor the browser libraries the API serves offline into api/static/vendor/:
#
#   maplibre-gl      the map page (/)            BSD-3-Clause
#   swagger-ui-dist  /docs                       Apache-2.0
#   redoc            /redoc                      MIT
#
# and the one the notebooks' maps inline (so a folium map draws offline) into
# notebooks/vendor/:
#
#   leaflet          notebooks/mapping.py        BSD-2-Clause
#
# Users never run this: the vendored files are committed, so `make run` / `make serve`
# work on a fresh machine without Node or internet. A maintainer runs it (needs `npm` and
# the npm registry) to move to other versions: edit the pins below, run
#
#   bash scripts/vendor_static.sh
#
# and commit api/static/vendor/. Each package is fetched with `npm pack` (the registry's
# tarball, integrity-checked by npm; no install scripts run) into a temporary folder; only
# the files the pages load and each package's licence are copied. MANIFEST.txt records the
# versions, the registry integrity of each tarball and the sha256 of every copied file
# (tests/api/test_static.py checks the files against it).
#
# maplibre-gl stays on 5.x: its dist/maplibre-gl.js is one classic script with the worker
# inlined, which a plain <script> tag loads; 6.x ships ES modules with a separate worker.
# redoc stays on 2.x: FastAPI's get_redoc_html() is written for its standalone bundle.
set -euo pipefail

MAPLIBRE_VERSION=5.24.1
SWAGGER_UI_VERSION=5.35.0
REDOC_VERSION=2.5.4
LEAFLET_VERSION=1.9.4

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/api/static/vendor"
nb_dest="$root/notebooks/vendor"
command -v npm >/dev/null 2>&1 || { echo "vendor_static.sh: npm is needed (apt-get install -y npm)" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# pack NAME VERSION: fetch NAME@VERSION's tarball into $tmp/NAME and unpack it there;
# appends "NAME VERSION INTEGRITY" to $tmp/packed.txt.
pack() {
    local name="$1" version="$2" dir="$tmp/$1"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --json --silent "$name@$version" >pack.json)
    python3 - "$dir/pack.json" "$tmp/packed.txt" <<'EOF'
import json, sys
(doc,) = json.load(open(sys.argv[1]))
with open(sys.argv[2], "a") as out:
    out.write(f"{doc['name']} {doc['version']} {doc['integrity']}\n")
EOF
    tar -xzf "$dir"/*.tgz -C "$dir"
}

# put PACKAGE SOURCE TARGET_DIR [ROOT]: copy one file of an unpacked package into the
# vendor folder (ROOT, default $dest).
put() {
    local root_dir="${4:-$dest}"
    mkdir -p "$root_dir/$3"
    cp "$tmp/$1/package/$2" "$root_dir/$3/"
}

# manifest FOLDER PACKAGES... : write FOLDER/MANIFEST.txt (the packages' versions and
# registry integrity, then the sha256 of every file in FOLDER).
manifest() {
    local folder="$1" patched="$2"
    shift 2
    {
        echo "# Vendored by scripts/vendor_static.sh from the npm registry (npm pack). Do not edit."
        [ -n "$patched" ] && echo "# patched: $patched"
        echo "# package version integrity"
        for name in "$@"; do grep "^$name " "$tmp/packed.txt" | sed 's/^/package /'; done
        echo "# sha256 path (relative to this folder)"
        (cd "$folder" && find . -type f ! -name MANIFEST.txt | sort | sed 's|^\./||' | xargs sha256sum)
    } >"$folder/MANIFEST.txt"
}

pack maplibre-gl "$MAPLIBRE_VERSION"
pack swagger-ui-dist "$SWAGGER_UI_VERSION"
pack redoc "$REDOC_VERSION"
pack leaflet "$LEAFLET_VERSION"

rm -rf "$dest"
put maplibre-gl dist/maplibre-gl.js maplibre-gl
put maplibre-gl dist/maplibre-gl.css maplibre-gl
put maplibre-gl LICENSE.txt maplibre-gl
put swagger-ui-dist swagger-ui-bundle.js swagger-ui
put swagger-ui-dist swagger-ui.css swagger-ui
put swagger-ui-dist favicon-32x32.png swagger-ui
put swagger-ui-dist LICENSE swagger-ui
put swagger-ui-dist NOTICE swagger-ui
put redoc bundles/redoc.standalone.js redoc
put redoc LICENSE redoc

# The one change to a vendored file: ReDoc's sidebar footer always loads its logo from
# Redocly's CDN (an <img>, so the page would reach the internet); it becomes an empty
# inline SVG. Checked: the file must contain the URL exactly once, and none after.
logo="https://cdn.redoc.ly/redoc/logo-mini.svg"
[ "$(grep -o "$logo" "$dest/redoc/redoc.standalone.js" | wc -l)" = 1 ] \
    || { echo "vendor_static.sh: redoc's logo URL not found once; update the patch" >&2; exit 1; }
sed -i "s#$logo#data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E#" \
    "$dest/redoc/redoc.standalone.js"

manifest "$dest" "redoc/redoc.standalone.js (its footer logo URL -> an empty inline SVG)" \
    maplibre-gl swagger-ui-dist redoc

# Leaflet for the notebooks: notebooks/mapping.py inlines these two files into every map it
# shows (its images are not needed: layer controls are drawn expanded, points as circles).
rm -rf "$nb_dest"
put leaflet dist/leaflet.js leaflet "$nb_dest"
put leaflet dist/leaflet.css leaflet "$nb_dest"
put leaflet LICENSE leaflet "$nb_dest"
manifest "$nb_dest" "" leaflet

echo "vendor_static.sh: wrote $(find "$dest" "$nb_dest" -type f | wc -l) files to" \
    "${dest#"$root"/} and ${nb_dest#"$root"/}:"
cat "$tmp/packed.txt"
