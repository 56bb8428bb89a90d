/* geo-discovery map explorer: MapLibre GL JS over the engine's own API, nothing else.
 *
 * Merchants and districts come from the vector tiles (/v1/tiles/{z}/{x}/{y}.mvt, found
 * through /v1/tiles.json); the ranked list from /v1/merchants/nearby (best_match, with
 * each hit's score explanation) for the map centre; the search box (search.js) suggests
 * from /v1/autocomplete, and its text `q` filters the tiles and ranks the list; the
 * category filter lists /v1/categories; district stats from /v1/districts/{id};
 * a district's catchment from /v1/districts/{id}/catchment?format=geojson; the heat layer
 * from /v1/aggregate (with the tiles' filters: it counts what they draw). The view and the
 * filters live in the URL (?lat=&lng=&zoom=&q=&…), so a view can be shared. The list is
 * asked for "now" (at=, the browser's time and offset) unless the URL fixes a time (?at=):
 * a learned profile's popular times score it. No symbol layers: the default style needs no fonts or sprites.
 *
 * Only what the API takes becomes state: a search text the API refuses (422) never reaches
 * the tiles, the list or the URL (its message shows by the search box, the map keeps what it
 * drew), and URL state the API or MapLibre refuses (?q=☕, ?lat=100, ?min_price=9, …) is
 * dropped at the start, named in a one-line notice, so the map always starts. Boxes sent to
 * the API have their longitudes wrapped into -180 … 180 (west > east: across the
 * antimeridian; the whole world once the view spans 360°).
 *
 * A hot swap (the server publishing a new snapshot while the page is open) shows in the
 * snapshot field of the answers (the list's, the heat's) and in /readyz, asked every
 * SNAPSHOT_POLL_MS while the page is visible: the page then labels the new snapshot and
 * gives the tiles new URLs (&v=the snapshot's version, which the API ignores), so neither
 * the browser's cache (max-age) nor MapLibre keeps drawing the old snapshot's tiles; its
 * own JSON requests revalidate (no-cache: a 304 while the snapshot is the same). The
 * category filter then shows the new snapshot's categories and counts.
 *
 * For tests and the curious: window.gdMap is the maplibregl.Map; <body data-*> tells what
 * the page has drawn (list-seq, list-centre, list-q, selected, tiles, district, catchment,
 * ready, snapshot: the version its tiles and label are of) and which URL parameters it
 * ignored (ignored).
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("gd-config").textContent);
  const root = config.root || "";
  const body = document.body;
  const $ = (id) => document.getElementById(id);

  const TIER_COLOURS = ["match", ["get", "tier"],
    "regional", "#c2410c", "major", "#d97706", "neighbourhood", "#0f766e", "#6366f1"];
  const TOP_CATEGORY = ["let", "c", ["get", "category"],
    ["case", [">=", ["index-of", "/", ["var", "c"]], 0],
      ["slice", ["var", "c"], 0, ["index-of", "/", ["var", "c"]]], ["var", "c"]]];
  const CATEGORY_COLOURS = ["match", TOP_CATEGORY,
    "food", "#e11d48", "shop", "#2563eb", "lodging", "#7c3aed", "nightlife", "#9333ea",
    "tourism", "#059669", "amenity", "#0891b2", "#64748b"];
  const MAX_ZOOM = 20;
  const SNAPSHOT_POLL_MS = 30000;
  /** The filters the URL, the tiles and the list share (state keys = URL parameters). */
  const FILTERS = ["q", "categories", "min_price", "max_price", "min_rating", "open_now"];
  const PLAIN_STYLE = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0f3" } }],
  };

  // ------------------------------------------------------------------ URL state
  const url = new URL(window.location.href);
  const state = {
    q: url.searchParams.get("q") || "",
    categories: url.searchParams.get("categories") || "",
    min_price: url.searchParams.get("min_price") || "",
    max_price: url.searchParams.get("max_price") || "",
    min_rating: url.searchParams.get("min_rating") || "",
    open_now: url.searchParams.get("open_now") === "true",
    heat: url.searchParams.get("heat") === "true",
    districts: url.searchParams.get("districts") !== "false",
    at: url.searchParams.get("at") || "", // a fixed time of the visit (else: now)
  };

  /** The filters every query shares, as URL parameters (the tiles, nearby, TileJSON). */
  function filterParams() {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.categories) p.set("categories", state.categories);
    if (state.min_price) p.set("min_price", state.min_price);
    if (state.max_price) p.set("max_price", state.max_price);
    // 0 is no filter; anything else (a text from the URL too) goes: the API judges it
    if (state.min_rating && Number(state.min_rating) !== 0) p.set("min_rating", state.min_rating);
    if (state.open_now) p.set("open_now", "true");
    return p;
  }

  /** The map's centre with its longitude in -180 … 180 (MapLibre keeps a centre set past
   *  the antimeridian as it is: 181.5 stays 181.5, which the API refuses). */
  const centreOf = (map) => map.getCenter().wrap();

  /** The map's view as the API's bbox, "west,south,east,north": longitudes wrapped into
   *  -180 … 180, so a view across the antimeridian gives west > east (the API's box
   *  across it); the whole world once the view spans 360° or more. */
  function viewBbox(map) {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    const wrap = (v) => ((((v + 180) % 360) + 360) % 360) - 180; // into [-180, 180)
    let west = -180;
    let east = 180;
    if (b.getEast() - b.getWest() < 360) {
      west = wrap(b.getWest());
      east = wrap(b.getEast());
      if (east === -180) east = 180; // a view ending at the antimeridian, from the west
    }
    return [west, clamp(b.getSouth(), -90, 90), east, clamp(b.getNorth(), -90, 90)]
      .map((v) => v.toFixed(6)).join(",");
  }

  function writeUrl(map) {
    const c = centreOf(map);
    const p = filterParams();
    p.set("lat", c.lat.toFixed(5));
    p.set("lng", c.lng.toFixed(5));
    p.set("zoom", map.getZoom().toFixed(2));
    if (state.heat) p.set("heat", "true");
    if (!state.districts) p.set("districts", "false");
    if (state.at) p.set("at", state.at);
    window.history.replaceState(null, "", `${window.location.pathname}?${p}`);
  }

  function status(text) { $("status").textContent = text || ""; }

  // ------------------------------------------------------------------ the snapshot
  /** The version of the snapshot the page shows: its label, and the v= of the tile URLs. */
  let snapshot = "";
  let onNewSnapshot = () => {}; // once the map has its layers: new tile URLs, a refresh
  let checking = null;

  function showSnapshot(version) {
    snapshot = version;
    $("snapshot").textContent = `snapshot ${version.split("-")[0]}`;
    $("snapshot").title = version;
    body.dataset.snapshot = version;
  }

  /** Which snapshot the server serves now (/readyz); another than the one shown: the
   *  page moves to it. One question at a time. */
  function checkSnapshot() {
    if (checking) return checking;
    checking = (async () => {
      let ready;
      try {
        ready = await getJSON("/readyz");
      } catch (err) {
        return; // not ready (no snapshot, or a pruned one): keep what is drawn
      }
      if (ready.snapshot && ready.snapshot !== snapshot) {
        showSnapshot(ready.snapshot);
        onNewSnapshot();
      }
    })().finally(() => { checking = null; });
    return checking;
  }

  /** An answer came from snapshot ``version``: another than the one shown means a hot
   *  swap, confirmed by /readyz (an answer asked for before the swap, or by a worker not
   *  yet swapped, can name an older one). */
  function sawSnapshot(version) {
    if (version && snapshot && version !== snapshot) checkSnapshot();
  }

  async function getJSON(path) {
    // no-cache: revalidated (ETag: a 304 while the snapshot is the same), never an answer
    // the browser kept from an older snapshot for max-age
    const res = await fetch(`${root}${path}`, {
      headers: { Accept: "application/json" },
      cache: "no-cache",
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(body.detail || `${res.status} ${res.statusText}`);
      err.status = res.status;
      err.retryAfter = Number(res.headers.get("Retry-After")) || 0; // seconds (503)
      err.problems = Array.isArray(body.errors) ? body.errors : []; // [{parameter, message}]
      throw err;
    }
    return body;
  }

  // ------------------------------------------------------- URL state the page ignored
  /** What the URL asked for that the API (or MapLibre) refuses: dropped from the state,
   *  so never sent nor written back into the URL, and named in one line. */
  const ignored = []; // [{name, value, why}]
  function ignore(name, why) {
    const value = url.searchParams.get(name);
    if (value === null || ignored.some((i) => i.name === name)) return;
    ignored.push({ name, value, why });
    const short = (v) => { const ch = Array.from(v); return ch.length > 40 ? `${ch.slice(0, 39).join("")}…` : v; };
    const names = ignored.map((i) => `${i.name}=${short(i.value)}`).join(", ");
    const whys = [...new Set(ignored.map((i) => i.why))].join("; ");
    $("url-notice-text").textContent = `Ignored in the URL: ${names} (${whys})`;
    $("url-notice").title = `Ignored in the URL: ${ignored.map((i) => `${i.name}=${i.value}`).join(", ")}\n${whys}`;
    $("url-notice").hidden = false;
    body.dataset.ignored = ignored.map((i) => i.name).join(",");
  }

  /** The view the URL asks for ({centre, zoom}, each when valid); what MapLibre or the
   *  API would refuse is ignored (a centre needs both lat and lng). */
  function urlView() {
    const text = (k) => url.searchParams.get(k);
    const number = (k) => (text(k) === null || text(k).trim() === "" ? NaN : Number(text(k)));
    const why = (k, lo, hi) => (Number.isFinite(number(k))
      ? `${k}=${text(k)} is out of range; allowed: ${lo} <= ${k} <= ${hi}`
      : `${k}=${JSON.stringify(text(k))} is not a number`);
    const view = {};
    if (text("lat") !== null || text("lng") !== null) {
      const lat = number("lat");
      const lng = number("lng");
      const latOk = Math.abs(lat) <= 90; // false for NaN
      const lngOk = Math.abs(lng) <= 180;
      if (latOk && lngOk) view.centre = [lng, lat];
      else {
        const whys = [];
        if (text("lat") === null) whys.push("lat is missing");
        else if (!latOk) whys.push(why("lat", -90, 90));
        if (text("lng") === null) whys.push("lng is missing");
        else if (!lngOk) whys.push(why("lng", -180, 180));
        ignore("lat", whys.join("; "));
        ignore("lng", whys.join("; "));
      }
    }
    if (text("zoom") !== null) {
      const zoom = number("zoom");
      if (zoom >= 0 && zoom <= MAX_ZOOM) view.zoom = zoom;
      else ignore("zoom", why("zoom", 0, MAX_ZOOM));
    }
    return view;
  }

  /** The TileJSON for the URL's filters, the filters the API refuses (422) dropped. */
  async function startTileJSON() {
    for (let round = 0; round <= FILTERS.length; round += 1) {
      const filters = filterParams().toString();
      try {
        return await getJSON(`/v1/tiles.json${filters ? `?${filters}` : ""}`);
      } catch (err) {
        if (err.status !== 422 || !filters) throw err;
        const sent = FILTERS.filter((name) => filterParams().has(name));
        let named = sent.filter((name) => err.problems.some((p) => p.parameter === name));
        if (!named.length) named = sent; // no filter named: none of them is kept
        for (const name of named) {
          const whys = err.problems.filter((p) => p.parameter === name).map((p) => p.message);
          ignore(name, whys.length ? whys.join("; ") : err.message);
          state[name] = name === "open_now" ? false : "";
        }
      }
    }
    throw new Error("the API refuses the URL's filters");
  }

  const fmt = {
    m: (d) => (d < 1000 ? `${Math.round(d)} m` : `${(d / 1000).toFixed(d < 10000 ? 1 : 0)} km`),
    n: (v, digits = 2) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits)),
    pct: (v) => `${(100 * v).toFixed(1)} %`,
  };

  // Now, as the browser's local time with its UTC offset: the API converts it to the local
  // time at the list's point, whose time of week a learned profile's popular times score.
  function nowWithOffset(d = new Date()) {
    const two = (n) => String(Math.abs(n)).padStart(2, "0");
    const off = -d.getTimezoneOffset();
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}` +
      `T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}` +
      `${off < 0 ? "-" : "+"}${two(Math.trunc(off / 60))}:${two(off % 60)}`;
  }

  // A time-of-week bin's name, as geo_discovery/timeofweek.py's BIN_LABELS (weekday or
  // weekend × four six-hour blocks of local time; the browser test compares the two).
  function binLabel(b) {
    const h = (b % 4) * 6;
    const two = (n) => String(n).padStart(2, "0");
    return `${b >= 4 ? "weekend" : "weekday"} ${two(h)}:00-${two(h + 6)}:00`;
  }

  function escapeHtml(text) {
    return String(text ?? "").replace(/[&<>"']/g, (ch) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
  }

  // ------------------------------------------------------------------ filters UI
  /** The category filter: the tree of /v1/categories (top level and one below, with
   *  labels and counts), plus whatever path the URL or the search box chose. */
  function categoryOption(path, text) {
    const select = $("f-category");
    let opt = [...select.options].find((o) => o.value === path);
    if (!opt) {
      opt = document.createElement("option");
      opt.value = path;
      opt.textContent = text || path.split(",").join(", ");
      select.appendChild(opt);
    }
    return opt;
  }

  /** Merchants under each category path of the snapshot shown (/v1/categories). */
  const categoryCounts = new Map();

  /** The filter's options from a /v1/categories tree: at the start, and again after a hot
   *  swap (another snapshot has other counts, and may add or lose categories). The chosen
   *  path stays whatever it is. */
  function showCategories(tree) {
    const select = $("f-category");
    categoryCounts.clear();
    for (const node of tree.categories) categoryCounts.set(node.path, node.count);
    for (const opt of [...select.options]) {
      if (opt.dataset.tree && opt.value !== select.value) opt.remove();
    }
    for (const node of tree.categories) {
      const depth = node.path.split("/").length - 1;
      if (depth > 1) continue;
      const opt = categoryOption(node.path);
      opt.textContent =
        `${"\u00a0\u00a0".repeat(depth)}${node.label} (${node.count.toLocaleString()})`;
      opt.title = node.path;
      opt.dataset.tree = "true";
    }
  }

  function initFilters(tree, onChange) {
    const select = $("f-category");
    showCategories(tree);
    if (state.categories) categoryOption(state.categories);
    select.value = state.categories;
    $("f-min-price").value = state.min_price;
    $("f-max-price").value = state.max_price;
    $("f-min-rating").value = state.min_rating || "0";
    $("f-rating-out").textContent = Number(state.min_rating) > 0 ? `${state.min_rating}★` : "any";
    $("f-open-now").checked = state.open_now;
    $("l-heat").checked = state.heat;
    $("l-districts").checked = state.districts;
    const changed = () => {
      state.categories = select.value;
      state.min_price = $("f-min-price").value;
      state.max_price = $("f-max-price").value;
      state.min_rating = $("f-min-rating").value;
      state.open_now = $("f-open-now").checked;
      $("f-rating-out").textContent = Number(state.min_rating) > 0 ? `${state.min_rating}★` : "any";
      onChange();
    };
    for (const id of ["f-category", "f-min-price", "f-max-price", "f-min-rating", "f-open-now"]) {
      $(id).addEventListener("change", changed);
    }
  }

  // --------------------------------------------------------------------- layers
  function addEngineLayers(map, tilejson) {
    const base = tilejson.tiles[0].split("?")[0];
    const engineSource = () => ({
      type: "vector",
      tiles: [tileUrl(base)],
      minzoom: tilejson.minzoom,
      maxzoom: tilejson.maxzoom,
      promoteId: { districts: "district_id" },
    });
    map.addSource("engine", engineSource());
    map.addSource("catchment", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addSource("heat", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addSource("picked", { type: "geojson", data: { type: "FeatureCollection", features: [] } });

    map.addLayer({
      id: "heat", type: "heatmap", source: "heat",
      layout: { visibility: state.heat ? "visible" : "none" },
      paint: {
        "heatmap-weight": ["get", "weight"],
        "heatmap-radius": ["interpolate", ["linear"], ["zoom"], 8, 12, 16, 40],
        "heatmap-opacity": 0.7,
      },
    });
    map.addLayer({
      id: "catchment-cells", type: "fill", source: "catchment",
      filter: ["==", ["get", "layer"], "cell"],
      paint: {
        "fill-color": ["interpolate", ["linear"], ["get", "share"],
          0, "#fff7ed", 0.2, "#fdba74", 0.5, "#ea580c", 1, "#7c2d12"],
        "fill-opacity": 0.45,
      },
    });
    map.addLayer({
      id: "catchment-areas", type: "line", source: "catchment",
      filter: ["in", ["get", "layer"], ["literal", ["primary", "secondary"]]],
      paint: {
        "line-color": "#7c2d12",
        "line-width": ["match", ["get", "layer"], "primary", 3, 2],
        "line-dasharray": ["match", ["get", "layer"], "primary", ["literal", [1, 0]], ["literal", [2, 2]]],
      },
    });
    const districtVisibility = state.districts ? "visible" : "none";
    map.addLayer({
      id: "districts-fill", type: "fill", source: "engine", "source-layer": "districts",
      layout: { visibility: districtVisibility },
      paint: {
        "fill-color": TIER_COLOURS,
        "fill-opacity": ["case", ["boolean", ["feature-state", "selected"], false], 0.25, 0.12],
      },
    });
    map.addLayer({
      id: "districts-line", type: "line", source: "engine", "source-layer": "districts",
      layout: { visibility: districtVisibility },
      paint: {
        "line-color": TIER_COLOURS,
        "line-width": ["case", ["boolean", ["feature-state", "selected"], false], 3, 1.2],
      },
    });
    map.addLayer({
      id: "merchant-bins", type: "circle", source: "engine", "source-layer": "merchants",
      filter: ["has", "count"],
      paint: {
        "circle-color": "#2563eb",
        "circle-opacity": 0.55,
        "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 3, 10, 11, 40, 26],
        "circle-stroke-color": "#1e3a8a",
        "circle-stroke-width": 0.6,
      },
    });
    map.addLayer({
      id: "merchants", type: "circle", source: "engine", "source-layer": "merchants",
      filter: ["!", ["has", "count"]],
      paint: {
        "circle-color": CATEGORY_COLOURS,
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 1.5, 14, 3, 17, 6],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 12, 0, 15, 0.8],
      },
    });
    map.addLayer({
      id: "picked", type: "circle", source: "picked",
      paint: { "circle-radius": 9, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#111827", "circle-stroke-width": 2.5 },
    });

    /** The tiles' URL: the filters, and the snapshot as v= (ignored by the API), so a
     *  new snapshot gives new URLs, never tiles a cache kept for max-age. */
    function tileUrl(template) {
      const p = filterParams();
      if (snapshot) p.set("v", snapshot);
      const q = p.toString();
      return q ? `${template}?${q}` : template;
    }
    /** New filters: new tile URLs; <body data-tiles> = their filters once the tiles in
     *  view have been (re)loaded from the new URLs. */
    let tilesSeq = 0;
    const drawn = () => {
      const filters = filterParams().toString();
      const mine = ++tilesSeq;
      let arrived = false;
      delete body.dataset.tiles;
      const onData = (e) => { // a tile, or a reload of the tiles in view (setTiles)
        if (e.sourceId === "engine" && (e.tile || e.sourceDataType === "content")) arrived = true;
      };
      map.on("sourcedata", onData);
      const check = () => {
        if (mine !== tilesSeq) { map.off("sourcedata", onData); return; }
        if (arrived && map.isSourceLoaded("engine") && map.areTilesLoaded()) {
          map.off("sourcedata", onData);
          body.dataset.tiles = filters;
        } else setTimeout(check, 100);
      };
      check();
    };
    drawn();
    return () => {
      // A new source with the new URLs, its layers in place again (just under "picked"):
      // MapLibre 5.24's setTiles fetches the new tiles but keeps drawing the old ones.
      const layers = map.getStyle().layers.filter((l) => l.source === "engine");
      for (const layer of layers) map.removeLayer(layer.id);
      map.removeSource("engine");
      map.addSource("engine", engineSource());
      for (const layer of layers) map.addLayer(layer, "picked");
      if (selectedDistrict) {
        map.setFeatureState({ source: "engine", sourceLayer: "districts", id: selectedDistrict }, { selected: true });
      }
      drawn();
    };
  }

  // ------------------------------------------------------------------- the list
  let listSeq = 0;
  let selected = null; // the merchant chosen in the search box: {merchant_id, name, lat, lng, …}

  // The parts that multiply to the score, as the server ranked: the hand-set blend (word of
  // mouth × district) or a learned profile (each feature's factor × its scale); × member.
  function whyParts(ex) {
    let parts;
    if (ex.model === "profile" && ex.profile) {
      parts = Object.entries(ex.profile.parts || {})
        .map(([name, part]) => `${name} ${fmt.n(part.factor, 2)}`);
      parts.push(`scale ${fmt.n(ex.profile.scale, 2)}`);
    } else {
      parts = [`wom ${fmt.n(ex.wom_term, 2)}`, `district ${fmt.n(ex.district_factor, 2)}`];
    }
    if (ex.member) parts.push(`member ${fmt.n(ex.member.boost, 2)}`);
    return parts.join(" × ");
  }

  function whyTitle(ex, text) {
    const what = ex.model === "profile"
      ? "distance decay × each learned feature's factor × scale"
      : "distance decay × word of mouth × district";
    return `best_match = ${text ? "text relevance × " : ""}${what}${ex.member ? " × member" : ""}`;
  }

  function listItem(map, hit) {
    const li = document.createElement("li");
    const ex = hit.explain || {};
    const extras = [
      hit.rating != null && hit.rating_scale ? `${fmt.n((5 * hit.rating) / hit.rating_scale, 1)}★` : null,
      hit.price_level ? "$".repeat(hit.price_level) : null,
    ].filter(Boolean).join(" · ");
    const text = ex.relevance !== undefined && ex.relevance !== null
      ? `relevance ${fmt.n(ex.relevance, 2)} × ` : "";
    li.innerHTML =
      `<span class="name">${escapeHtml(hit.name)}</span> <span class="muted">${escapeHtml(hit.category)}</span>` +
      `<div class="muted">${[hit.distance_m != null ? fmt.m(hit.distance_m) : null, extras]
        .filter(Boolean).map(escapeHtml).join(" · ")}</div>` +
      (hit.score === undefined ? `<div class="why">chosen in the search box (not ranked here)</div>`
        : `<div class="why" title="${escapeHtml(whyTitle(ex, text))}">` +
          `score ${fmt.n(hit.score, 3)} = ${text}decay ${fmt.n(ex.decay, 2)} × ${escapeHtml(whyParts(ex))}</div>`);
    li.dataset.merchantId = hit.merchant_id;
    li.addEventListener("click", () => pick(map, hit));
    return li;
  }

  async function refreshList(map) {
    const c = centreOf(map);
    const p = filterParams();
    p.set("lat", c.lat.toFixed(6));
    p.set("lng", c.lng.toFixed(6));
    p.set("limit", String(config.maxListResults || 20));
    p.set("sort", "best_match");
    p.set("explain", "true");
    p.set("at", state.at || nowWithOffset()); // popular times, when the profile weighs them
    const seq = ++listSeq;
    $("list-status").textContent = "searching…";
    let page;
    try {
      page = await getJSON(`/v1/merchants/nearby?${p}`);
      sawSnapshot(page.snapshot);
    } catch (err) {
      if (seq !== listSeq) return;
      const refusedAt = err.problems?.filter((p) => p.parameter === "at") || [];
      if (err.status === 422 && state.at && refusedAt.length) { // a time from the URL
        ignore("at", refusedAt.map((p) => p.message).join("; "));
        state.at = "";
        writeUrl(map);
        refreshList(map);
        return;
      }
      $("list-status").textContent = `no answer: ${err.message}`;
      return;
    }
    if (seq !== listSeq) return; // a newer request is on its way
    const list = $("results");
    list.replaceChildren();
    let hits = page.results;
    if (selected) { // the chosen merchant first, marked; ranked where the list has it
      const ranked = hits.find((h) => h.merchant_id === selected.merchant_id);
      hits = [ranked || selected, ...hits.filter((h) => h.merchant_id !== selected.merchant_id)];
    }
    for (const hit of hits) {
      const li = listItem(map, hit);
      if (selected && hit.merchant_id === selected.merchant_id) {
        li.classList.add("selected");
        li.setAttribute("aria-current", "true");
      }
      list.appendChild(li);
    }
    // the list's fallback dropped words nothing matched with the others; the tiles never
    // drop one (a map's tiles must agree): say so, or the map and the list disagree unsaid
    const dropped = page.dropped_words || [];
    const what = state.q ? ` for “${state.q}”` + (dropped.length
      ? ` without ${dropped.map((w) => `“${w}”`).join(", ")} (nothing matches every word;`
        + " the map shows only what does)" : "") : "";
    const busy = (((page.results[0] || {}).explain || {}).profile || {}).parts?.busy;
    const when = busy && busy.time_bin != null ? ` · popular times: ${binLabel(busy.time_bin)}` : "";
    $("list-status").textContent = page.results.length
      ? `${page.results.length} ranked by best_match${what} around ${c.lat.toFixed(4)}, ${c.lng.toFixed(4)}${when}`
      : `nothing here${what} passes the filters`;
    body.dataset.listCentre = `${c.lat.toFixed(6)},${c.lng.toFixed(6)}`;
    body.dataset.listSeq = String(seq);
    body.dataset.listCount = String(page.results.length);
    body.dataset.listQ = state.q;
    body.dataset.listDropped = dropped.join(" ");
    if (selected) body.dataset.selected = selected.merchant_id;
    else delete body.dataset.selected;
  }

  function pick(map, hit) {
    map.getSource("picked").setData({
      type: "FeatureCollection",
      features: [{ type: "Feature", geometry: { type: "Point", coordinates: [hit.lng, hit.lat] }, properties: {} }],
    });
    new maplibregl.Popup({ closeButton: false })
      .setLngLat([hit.lng, hit.lat])
      .setHTML(`<b>${escapeHtml(hit.name)}</b><br>${escapeHtml(hit.category)}`)
      .addTo(map);
  }

  // ---------------------------------------------------------------- the search box
  /** What the search box's choices do: a merchant flies there and is shown, first in
   *  the list; a category becomes the category filter; Enter searches the text (`q`
   *  filters the tiles and ranks the list). */
  function initSearch(map, refresh) {
    const input = $("q");
    // counts as the category filter shows them: everything under the path
    const countOf = (c) => categoryCounts.get(c.path) ?? c.count;
    input.value = state.q;
    const setQ = (text) => {
      state.q = text;
      input.value = text;
    };
    /** The API's message by the search box ("" hides it). */
    const message = (text) => {
      $("search-message").textContent = text ? `Not searched: ${text}` : "";
      $("search-message").hidden = !text;
      if (text) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    };
    input.addEventListener("input", () => message(""));
    /** Why the API refuses ``text`` as the tiles' q with the filters as they are (its
     *  422's message), or null when it takes it: asked before the text goes anywhere. */
    const refusal = async (text) => {
      if (!text) return null;
      const p = filterParams();
      p.set("q", text);
      try {
        await getJSON(`/v1/tiles.json?${p}`);
        return null;
      } catch (err) {
        return err.message;
      }
    };
    let asking = 0; // the latest choice wins over a refusal still on its way
    window.gdSearch = gdSearchBox({
      input,
      list: $("suggestions"),
      getJSON,
      limit: 8,
      countOf,
      centre: () => { const c = centreOf(map); return [c.lat, c.lng]; },
      onSearch: async (text) => {
        const mine = ++asking;
        if (text === state.q && !selected) { message(""); return; }
        const refused = await refusal(text);
        if (mine !== asking) return;
        message(refused);
        if (refused) return; // the tiles, the list and the URL keep the previous text
        selected = null;
        setQ(text);
        refresh();
      },
      onCategory: (category) => {
        asking += 1;
        message("");
        selected = null;
        setQ("");
        state.categories = category.path;
        categoryOption(category.path, `${category.label} (${countOf(category).toLocaleString()})`);
        $("f-category").value = category.path;
        refresh();
      },
      onMerchant: async (suggestion) => {
        const mine = ++asking;
        let m;
        let refused;
        try {
          [m, refused] = await Promise.all([
            getJSON(`/v1/merchants/${encodeURIComponent(suggestion.merchant_id)}`),
            refusal(suggestion.name),
          ]);
        } catch (err) {
          status(`${suggestion.name}: ${err.message}`);
          return;
        }
        if (mine !== asking) return;
        message("");
        selected = m;
        setQ(refused ? "" : suggestion.name); // a name the API refuses as a text: no q
        input.value = suggestion.name;
        map.flyTo({ center: [m.lng, m.lat], zoom: Math.max(map.getZoom(), 16), duration: 600 });
        pick(map, m);
        refresh();
      },
    });
  }

  // ------------------------------------------------------------------ districts
  let selectedDistrict = null;
  async function selectDistrict(map, districtId) {
    if (selectedDistrict) {
      map.setFeatureState({ source: "engine", sourceLayer: "districts", id: selectedDistrict }, { selected: false });
    }
    selectedDistrict = districtId;
    map.setFeatureState({ source: "engine", sourceLayer: "districts", id: districtId }, { selected: true });
    clearCatchment(map);
    const d = await getJSON(`/v1/districts/${encodeURIComponent(districtId)}`);
    if (selectedDistrict !== districtId) return;
    $("district-name").textContent = d.name || d.district_id;
    const mix = d.category_mix && typeof d.category_mix === "object"
      ? Object.entries(d.category_mix).slice(0, 3).map(([k, v]) => `${k} ${fmt.pct(v)}`).join(", ")
      : null;
    const rows = [
      ["tier", d.tier],
      ["vitality", fmt.n(d.vitality)],
      ["merchants", d.n_merchants],
      ["area", d.area_km2 != null ? `${fmt.n(d.area_km2, 2)} km²` : null],
      ["density", d.density_per_km2 != null ? `${Math.round(d.density_per_km2).toLocaleString()} /km²` : null],
      ["word of mouth", fmt.n(d.mean_wom)],
      ["top categories", mix],
      ["id", d.district_id],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "–");
    $("district-stats").innerHTML = rows
      .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
    $("district").hidden = false;
    body.dataset.district = districtId;
  }

  function clearCatchment(map) {
    map.getSource("catchment").setData({ type: "FeatureCollection", features: [] });
    $("catchment-summary").textContent = "";
    delete body.dataset.catchment;
  }

  async function showCatchment(map) {
    const districtId = selectedDistrict;
    if (!districtId) return;
    $("catchment-summary").textContent = "computing the catchment…";
    let fc;
    try {
      fc = await getJSON(`/v1/districts/${encodeURIComponent(districtId)}/catchment?format=geojson`);
    } catch (err) {
      $("catchment-summary").textContent = `no catchment: ${err.message}`;
      return;
    }
    if (selectedDistrict !== districtId) return;
    map.getSource("catchment").setData(fc);
    const areas = fc.features.filter((f) => f.properties.layer !== "cell").length;
    const cells = fc.features.length - areas;
    $("catchment-summary").textContent =
      `Huff share ${fmt.pct(fc.share)} of the study area's demand (${fc.demand_source.kind}); ` +
      `${areas} trade area${areas === 1 ? "" : "s"}, ${cells} demand cells.`;
    body.dataset.catchment = districtId;
  }

  // ----------------------------------------------------------------------- heat
  let heatSeq = 0;
  async function refreshHeat(map, tilejson) {
    if (!state.heat) return;
    const seq = ++heatSeq;
    const bbox = viewBbox(map); // across the antimeridian: west > east
    const resolutions = tilejson.bin_resolutions || [];
    let res = Math.max(0, (resolutions[Math.min(Math.floor(map.getZoom()), resolutions.length - 1)] || 7) - 1);
    const p = filterParams(); // what the tiles draw: the same filters
    p.set("bbox", bbox);
    for (let attempt = 0; attempt < 4; attempt += 1) {
      p.set("resolution", String(res));
      try {
        const agg = await getJSON(`/v1/aggregate?${p}`);
        sawSnapshot(agg.snapshot);
        if (seq !== heatSeq) return;
        const top = Math.max(1, ...agg.cells.map((c) => c.count));
        map.getSource("heat").setData({
          type: "FeatureCollection",
          features: agg.cells.map((c) => ({
            type: "Feature",
            geometry: { type: "Point", coordinates: [c.lng, c.lat] },
            properties: { count: c.count, weight: c.count / top },
          })),
        });
        return;
      } catch (err) {
        if (err.status !== 422 || res === 0) { status(`heat: ${err.message}`); return; }
        res -= 1; // too many bins for this view: coarser
      }
    }
  }

  // ---------------------------------------------------------------- clicking
  function onMapClick(map, e) {
    const box = [[e.point.x - 4, e.point.y - 4], [e.point.x + 4, e.point.y + 4]];
    const hits = map.queryRenderedFeatures(box, { layers: ["merchants", "merchant-bins"] });
    if (hits.length) {
      const p = hits[0].properties;
      const html = p.count !== undefined
        ? `<b>${Number(p.count).toLocaleString()} merchants</b><br>H3 cell ${escapeHtml(p.cell)}`
        : `<b>${escapeHtml(p.name)}</b><br>${escapeHtml(p.category)}` +
          (p.rating !== undefined ? `<br>${fmt.n(p.rating, 1)}★` : "") +
          (p.price !== undefined ? ` ${"$".repeat(p.price)}` : "");
      new maplibregl.Popup({ closeButton: false }).setLngLat(e.lngLat).setHTML(html).addTo(map);
      return;
    }
    if (!state.districts) return;
    const districts = map.queryRenderedFeatures(e.point, { layers: ["districts-fill"] });
    if (districts.length) {
      selectDistrict(map, districts[0].properties.district_id).catch((err) => status(err.message));
    }
  }

  // ---------------------------------------------------------------------- start
  /** The TileJSON and the category tree; while the server has no snapshot to serve (503:
   *  a page opened before the first load) or cannot be reached, asked again after its
   *  Retry-After (else 2 s, doubling up to 30 s): the page starts once the load publishes. */
  async function firstAnswers() {
    for (let wait = 2;; wait = Math.min(wait * 2, 30)) {
      try {
        return await Promise.all([startTileJSON(), getJSON("/v1/categories")]);
      } catch (err) {
        if (err.status !== undefined && err.status !== 503) throw err;
        const after = err.retryAfter || wait;
        status(`the map could not start: ${err.message}; trying again in ${after} s`);
        body.dataset.startRetries = String(Number(body.dataset.startRetries || 0) + 1);
        await new Promise((done) => setTimeout(done, after * 1000));
      }
    }
  }

  async function start() {
    $("url-notice-close").addEventListener("click", () => { $("url-notice").hidden = true; });
    const view = urlView();
    const [tilejson, tree] = await firstAnswers();
    status("");
    showSnapshot(tilejson.snapshot);
    const map = new maplibregl.Map({
      container: "map",
      style: config.styleUrl || PLAIN_STYLE,
      center: view.centre || [tilejson.center[0], tilejson.center[1]],
      zoom: view.zoom ?? tilejson.center[2],
      maxZoom: MAX_ZOOM,
      attributionControl: { compact: true },
    });
    window.gdMap = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-left");

    map.on("load", () => {
      const retile = addEngineLayers(map, tilejson);
      let timer = null;
      const settle = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          writeUrl(map);
          refreshList(map);
          refreshHeat(map, tilejson);
        }, 250);
      };
      onNewSnapshot = () => { // new tile URLs, the list and heat, the categories' counts
        retile();
        settle();
        getJSON("/v1/categories").then(showCategories).catch((err) => status(err.message));
      };
      initFilters(tree, () => { retile(); settle(); });
      initSearch(map, () => { retile(); settle(); });
      $("l-heat").addEventListener("change", () => {
        state.heat = $("l-heat").checked;
        map.setLayoutProperty("heat", "visibility", state.heat ? "visible" : "none");
        writeUrl(map);
        refreshHeat(map, tilejson);
      });
      $("l-districts").addEventListener("change", () => {
        state.districts = $("l-districts").checked;
        for (const id of ["districts-fill", "districts-line"]) {
          map.setLayoutProperty(id, "visibility", state.districts ? "visible" : "none");
        }
        writeUrl(map);
      });
      $("catchment-show").addEventListener("click", () => showCatchment(map));
      $("district-close").addEventListener("click", () => {
        if (selectedDistrict) {
          map.setFeatureState({ source: "engine", sourceLayer: "districts", id: selectedDistrict }, { selected: false });
        }
        selectedDistrict = null;
        clearCatchment(map);
        $("district").hidden = true;
        delete body.dataset.district;
      });
      map.on("click", (e) => onMapClick(map, e));
      for (const layer of ["merchants", "merchant-bins", "districts-fill"]) {
        map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
        map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
      }
      map.on("moveend", settle);
      setInterval(() => { if (document.visibilityState === "visible") checkSnapshot(); }, SNAPSHOT_POLL_MS);
      document.addEventListener("visibilitychange", () => {
        if (document.visibilityState === "visible") checkSnapshot();
      });
      writeUrl(map);
      refreshList(map);
      refreshHeat(map, tilejson);
      body.dataset.ready = "true";
    });
  }

  start().catch((err) => {
    status(`the map could not start: ${err.message}`);
    console.error(err);
  });
})();
