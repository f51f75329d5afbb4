// Shared helpers for the workspace pages. Data from the server is only ever put into the page
// as text (textContent / text nodes), never as HTML.
(function () {
  "use strict";

  function csrf() {
    const field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  // el("td", {class: "x", text: value}, [children...]): children that are strings become text nodes.
  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "href" && !/^\/(?!\/)/.test(String(value))) return; // only links within this site
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    [].concat(children === undefined ? [] : children).forEach((child) => {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    });
    return node;
  }

  async function request(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const detail = data && data.detail ? data.detail : `HTTP ${response.status}`;
      const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // A table of {columns, rows}; a null cell shows as "missing".
  function dataTable(preview) {
    const head = el("tr", {}, (preview.columns || []).map((name) => el("th", { scope: "col", text: name })));
    const rows = (preview.rows || []).map((row) =>
      el("tr", {}, row.map((value) =>
        el("td", {}, value === null || value === undefined ? el("span", { class: "missing", text: "missing" }) : String(value)))));
    if (!rows.length) rows.push(el("tr", {}, el("td", { class: "muted", colspan: Math.max((preview.columns || []).length, 1), text: "No rows." })));
    return el("table", { class: "data" }, [el("thead", {}, head), el("tbody", {}, rows)]);
  }

  function replaceChildren(node, children) {
    node.replaceChildren(...[].concat(children || []));
  }

  // <form data-confirm="..."> asks before it is sent.
  document.addEventListener("submit", (event) => {
    const message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  window.Workspace = { csrf, el, getJSON: (url) => request("GET", url), postJSON: (url, body) => request("POST", url, body), dataTable, replaceChildren };
})();
