/* geo-discovery map explorer: the search box (autocomplete over /v1/autocomplete).
 *
 * window.gdSearchBox(options) wires an <input> and a <ul role="listbox">: while typing,
 * a debounced GET /v1/autocomplete?q=&lat=&lng=&limit= around the map centre lists the
 * merchants it suggests (the matched spans of each name in <mark>) and the categories
 * whose words match. Keys: ArrowDown/ArrowUp move through the suggestions, Enter chooses
 * the highlighted one (or, with none highlighted, searches the text), Escape closes the
 * list (a second Escape clears the box). The page decides what choosing means:
 * onMerchant(suggestion), onCategory(category), onSearch(text) (the page asks the API
 * first: a text it refuses goes no further); countOf(category), the merchant count shown
 * for a category (default: the suggestion's own count).
 *
 * For tests: <body data-suggest-query> is the text whose suggestions are shown.
 */
(function () {
  "use strict";

  const DEBOUNCE_MS = 150;
  const HAS_WORD = /[\p{L}\p{N}]/u;

  function escapeHtml(text) {
    return String(text ?? "").replace(/[&<>"']/g, (ch) => (
      { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
  }

  /** ``name`` as HTML with the [start, end) spans in <mark>; the API counts characters
   *  (code points), so the name is split into code points, not UTF-16 units. */
  function highlighted(name, spans) {
    const chars = Array.from(String(name ?? ""));
    let html = "";
    let at = 0;
    for (const [start, end] of [...(spans || [])].sort((a, b) => a[0] - b[0])) {
      const s = Math.max(at, Math.min(start, chars.length));
      const e = Math.max(s, Math.min(end, chars.length));
      html += escapeHtml(chars.slice(at, s).join(""));
      html += `<mark>${escapeHtml(chars.slice(s, e).join(""))}</mark>`;
      at = e;
    }
    return html + escapeHtml(chars.slice(at).join(""));
  }

  function distance(m) {
    return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(m < 10000 ? 1 : 0)} km`;
  }

  window.gdSearchBox = function gdSearchBox(options) {
    const { input, list, getJSON, centre, limit, onMerchant, onCategory, onSearch } = options;
    const countOf = options.countOf || ((category) => category.count);
    const body = document.body;
    let items = []; // [{kind, data, li}]
    let active = -1;
    let seq = 0;
    let timer = null;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function setActive(i) {
      if (!items.length) return;
      active = (i + items.length) % items.length;
      items.forEach((item, k) => {
        item.li.classList.toggle("active", k === active);
        item.li.setAttribute("aria-selected", String(k === active));
      });
      input.setAttribute("aria-activedescendant", items[active].li.id);
      items[active].li.scrollIntoView({ block: "nearest" });
    }

    function choose(item) {
      close();
      if (item.kind === "merchant") onMerchant(item.data);
      else onCategory(item.data);
    }

    function render(found) {
      list.replaceChildren();
      items = [];
      active = -1;
      const add = (kind, data, html, title) => {
        const li = document.createElement("li");
        li.id = `suggestion-${items.length}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.className = kind;
        li.innerHTML = html;
        if (title) li.title = title;
        if (kind === "merchant") li.dataset.merchantId = data.merchant_id;
        else li.dataset.category = data.path;
        // pointerdown, not click: it comes before the input's blur closes the list
        li.addEventListener("pointerdown", (e) => { e.preventDefault(); choose({ kind, data }); });
        items.push({ kind, data, li });
        list.appendChild(li);
      };
      for (const m of found.merchants) {
        add("merchant", m,
          `<span class="name">${highlighted(m.name, m.highlight)}</span>` +
          `<span class="muted"> ${escapeHtml(m.category)} · ${distance(m.distance_m)}</span>`);
      }
      if (found.categories.length) {
        const head = document.createElement("li");
        head.className = "heading";
        head.setAttribute("role", "presentation");
        head.textContent = "Categories";
        list.appendChild(head);
      }
      for (const c of found.categories) {
        add("category", c,
          `<span class="chip">${escapeHtml(c.label)}</span>` +
          `<span class="muted"> ${escapeHtml(c.path)} · ${countOf(c).toLocaleString()}</span>`,
          `filter by ${c.path}`);
      }
      if (!items.length) {
        const none = document.createElement("li");
        none.className = "heading";
        none.setAttribute("role", "presentation");
        none.textContent = "no suggestions; Enter searches the text";
        list.appendChild(none);
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      body.dataset.suggestQuery = found.query;
    }

    async function suggest() {
      const text = input.value.trim();
      const mine = ++seq;
      if (!HAS_WORD.test(text)) { close(); delete body.dataset.suggestQuery; return; }
      const [lat, lng] = centre();
      const p = new URLSearchParams({
        q: text, lat: lat.toFixed(6), lng: lng.toFixed(6), limit: String(limit),
      });
      let found;
      try {
        found = await getJSON(`/v1/autocomplete?${p}`);
      } catch (err) {
        if (mine === seq) close();
        return; // a refused text (422) simply suggests nothing
      }
      if (mine !== seq || document.activeElement !== input) return;
      render(found);
    }

    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(suggest, DEBOUNCE_MS);
    });
    input.addEventListener("keydown", (e) => {
      const open = !list.hidden && items.length > 0;
      if (e.key === "ArrowDown" && open) { e.preventDefault(); setActive(active + 1); }
      else if (e.key === "ArrowUp" && open) { e.preventDefault(); setActive(active - 1); }
      else if (e.key === "Enter") {
        e.preventDefault();
        clearTimeout(timer);
        seq += 1; // a suggestion list still on its way is no longer wanted
        if (open && active >= 0) choose(items[active]);
        else { close(); onSearch(input.value.trim()); }
      } else if (e.key === "Escape") {
        e.preventDefault();
        if (!list.hidden) close();
        else if (input.value) { input.value = ""; onSearch(""); }
      }
    });
    input.addEventListener("search", () => { if (!input.value) { close(); onSearch(""); } }); // its ✕
    input.addEventListener("blur", () => { seq += 1; close(); });
    input.addEventListener("focus", () => { if (input.value.trim()) suggest(); });
    return { close };
  };
})();
