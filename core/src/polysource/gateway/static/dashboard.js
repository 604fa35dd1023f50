// The polysource status dashboard: reads the state once, then follows the event stream.
// Text is only ever set with textContent: nothing from the server is parsed as HTML.
"use strict";

(function () {
  const base = document.body.dataset.base;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "class") node.className = value;
      else if (name === "style") node.style.cssText = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(x < 1 ? 1 : 0)}%`);
  const ms = (s) => (s === null || s === undefined ? "–" : `${(s * 1000).toFixed(1)} ms`);
  const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function ago(at, now) {
    return at ? `${duration(now - at)} ago` : "";
  }

  function meter(share, warnBelow, badBelow) {
    const cls = share < badBelow ? "meter bad" : share < warnBelow ? "meter warn" : "meter";
    return el("span", { class: cls }, el("span", { style: `width:${Math.round(share * 100)}%` }));
  }

  function providerRow(name, p) {
    const uptime = p.uptime === null ? "–" : [meter(p.uptime, 0.99, 0.9), pct(p.uptime)];
    let budget = "–";
    if (p.budget) {
      const used = p.budget.limit ? p.budget.spent / p.budget.limit : 0;
      budget = [
        meter(1 - used, 0.25, 0.1),
        `${num(p.budget.remaining)} of ${num(p.budget.limit)} / ${p.budget.period}`,
      ];
    }
    const state = p.enabled ? (p.in_rotation ? "" : " · out of rotation") : " · disabled";
    return el(
      "tr",
      { class: `s-${p.status}`, "data-provider": name },
      el("td", { class: "name" }, el("span", { class: "dot" }), name),
      el("td", { class: "health" }, p.status + state),
      el("td", {}, el("span", { class: `badge b-${p.breaker}` }, p.breaker.replace("_", "-"))),
      el("td", {}, ...[].concat(uptime)),
      el("td", {}, ms(p.latency)),
      el("td", {}, `${num(p.successes)} ok · ${num(p.failures)} failed`),
      el("td", {}, ...[].concat(budget)),
      el("td", { class: "muted" }, p.rate_limits.length ? p.rate_limits.join(", ") : "–"),
      el("td", { class: "err", title: p.last_error || "" }, p.last_error || "–"),
    );
  }

  function render(s) {
    const overall = $("overall");
    overall.textContent = s.status;
    overall.className = `pill pill-${s.status}`;
    $("k-requests").textContent = num(s.requests);
    $("k-hit-rate").textContent = pct(s.cache.hit_rate);
    $("k-stale").textContent = num(s.stale_served);
    $("k-dedup").textContent = num(s.deduplicated);
    $("k-failovers").textContent = num(s.activity.failovers);
    $("k-failures").textContent = num(s.activity.failures);
    $("k-uptime").textContent = s.started_at ? duration(s.now - s.started_at) : "–";

    const names = Object.keys(s.providers).sort();
    $("providers").replaceChildren(
      ...(names.length
        ? names.map((n) => providerRow(n, s.providers[n]))
        : [el("tr", {}, el("td", { colspan: 9, class: "muted" }, "no providers"))]),
    );

    const layers = Object.entries(s.cache.layers);
    $("layers").replaceChildren(
      ...(layers.length
        ? layers.map(([layer, v]) =>
            el(
              "div",
              { class: "bar", "data-layer": layer },
              el("span", {}, layer),
              el("span", { class: "track" }, el("span", { class: "fill", style: `width:${Math.round(v.share * 100)}%` })),
              el("span", { class: "muted" }, `${pct(v.share)} · ${num(v.hits)}`),
            ),
          )
        : [el("p", { class: "muted" }, "no cache hits yet")]),
    );
    $("cache-summary").textContent =
      `${num(s.cache.hits)} hits, ${num(s.cache.misses)} misses, ${num(s.batches)} provider batches`;

    const limits = [
      ["requests in flight per client", s.limits.max_concurrency],
      ["request deadline", `${s.limits.deadline} s`],
      ["keys per batch", s.limits.max_batch],
    ];
    $("limits").replaceChildren(...limits.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));

    const recent = s.activity.recent;
    $("activity").replaceChildren(
      ...(recent.length
        ? recent.map((a) =>
            el(
              "li",
              { class: "entry", "data-kind": a.kind },
              el("span", { class: "muted" }, ago(a.at, s.now)),
              el("span", { class: `kind-${a.kind}` }, a.kind),
              el(
                "span",
                {},
                `${a.dataset}${a.key ? " " + a.key : ""}`,
                a.source ? ` → served by ${a.source}` : "",
                el("span", { class: "muted" }, a.errors.length ? ` (${a.errors.join(", ")})` : ""),
              ),
            ),
          )
        : [el("li", { class: "muted" }, "nothing yet")]),
    );
    $("updated").textContent = new Date(s.now * 1000).toLocaleTimeString();
  }

  function live(on, text) {
    $("live").className = on ? "live on" : "live off";
    $("live-text").textContent = text;
  }

  fetch(`${base}/state`, { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then(render)
    .catch(() => live(false, "signed out"));

  const stream = new EventSource(`${base}/events`);
  stream.onopen = () => live(true, "live");
  stream.onerror = () => live(false, "reconnecting");
  stream.onmessage = (event) => render(JSON.parse(event.data));
})();
