// The config builder: steps drawn from the vocabulary the server sends (#builder-state), edited with
// form controls, reordered and removed; every change is checked by the server (/configs/check), whose
// problems are shown next to their step, and the live before/after preview is refreshed.
// The steps travel to the server as JSON in the #steps-json textarea, which also works without JavaScript.
(function () {
  "use strict";
  const stateNode = document.getElementById("builder-state");
  if (!stateNode) return;
  const { el, replaceChildren, dataTable, postJSON } = Workspace;
  const initial = JSON.parse(stateNode.textContent);
  const vocab = Object.fromEntries(initial.vocabulary.map((op) => [op.op, op]));
  const list = document.getElementById("steps-list");
  const textarea = document.getElementById("steps-json");
  const checkStatus = document.getElementById("check-status");
  const general = el("div", { id: "general-problems" });
  list.before(general);

  let steps = Array.isArray(initial.steps) ? initial.steps.map((step) => ({ ...step })) : [];
  let columnsBefore = initial.columns_before || [];
  let problems = initial.problems || [];
  let rendered = []; // the columns each card was drawn with
  let dirty = false;
  let checkSeq = 0;
  let checkTimer = null;

  // ---- values ---------------------------------------------------------------------------------
  function parseScalar(text) {
    const value = text.trim();
    if (value === "") return null;
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value)) return Number(value);
    if (value === "true") return true;
    if (value === "false") return false;
    return text;
  }
  const showScalar = (value) => (value === null || value === undefined ? "" : String(value));

  function setParam(index, name, value, redraw) {
    const step = steps[index];
    if (value === undefined || value === null || (Array.isArray(value) && !value.length) || (typeof value === "object" && !Array.isArray(value) && value !== null && !Object.keys(value).length)) {
      delete step[name];
    } else {
      step[name] = value;
    }
    changed(redraw ? index : null);
  }

  function changed(redrawIndex) {
    dirty = true;
    syncText();
    if (redrawIndex !== null && redrawIndex !== undefined) redrawCard(redrawIndex);
    scheduleCheck();
  }

  function syncText() {
    textarea.value = JSON.stringify(steps, null, 2);
  }

  // ---- widgets --------------------------------------------------------------------------------
  function optionsFor(index, current) {
    const available = columnsBefore[index] || initial.columns || [];
    const extra = [].concat(current || []).filter((name) => name && !available.includes(name));
    return { available, extra };
  }

  function columnSelect(index, value, onChange, placeholder) {
    const { available, extra } = optionsFor(index, value);
    const select = el("select", { onchange: (e) => onChange(e.target.value) },
      [el("option", { value: "", text: placeholder || "choose a column…" })]
        .concat(available.map((name) => el("option", { value: name, text: name, selected: name === value })))
        .concat(extra.map((name) => el("option", { value: name, text: `${name} (not there)`, selected: name === value }))));
    return select;
  }

  const widgets = {
    columns(index, param, value) {
      const chosen = Array.isArray(value) ? value.slice() : typeof value === "string" ? [value] : [];
      const { available, extra } = optionsFor(index, chosen);
      const hint = el("div", { class: "order-hint" });
      const ordered = param.name === "by" || steps[index].op === "select_columns";
      function updateHint() { hint.textContent = ordered && chosen.length > 1 ? `In this order: ${chosen.join(" → ")}` : ""; }
      updateHint();
      const boxes = available.concat(extra).map((name) => {
        const on = chosen.includes(name);
        const label = el("label", { class: `${on ? "on" : ""} ${extra.includes(name) ? "gone" : ""}`.trim(), title: extra.includes(name) ? "not a column at this step" : null });
        const box = el("input", {
          type: "checkbox", value: name, checked: on,
          onchange: (e) => {
            if (e.target.checked) chosen.push(name); else chosen.splice(chosen.indexOf(name), 1);
            label.classList.toggle("on", e.target.checked);
            updateHint();
            setParam(index, param.name, chosen.slice());
          },
        });
        label.append(box, name);
        return label;
      });
      if (!boxes.length) return el("p", { class: "muted small", text: "No columns to pick from." });
      return el("div", {}, [el("div", { class: "checks" }, boxes), hint]);
    },
    column(index, param, value) {
      return columnSelect(index, value, (picked) => setParam(index, param.name, picked || null));
    },
    choice(index, param, value) {
      const current = value === undefined || value === null ? param.default : value;
      const options = (current === null || current === undefined ? [el("option", { value: "", text: "choose…" })] : [])
        .concat(param.choices.map((choice) => el("option", { value: choice, text: choice, selected: choice === current })));
      const redraw = steps[index].op === "filter_rows" && param.name === "operator";
      return el("select", { onchange: (e) => setParam(index, param.name, e.target.value || null, redraw) }, options);
    },
    text(index, param, value) {
      return el("input", { type: "text", value: showScalar(value), oninput: (e) => setParam(index, param.name, e.target.value === "" ? null : e.target.value) });
    },
    scalar(index, param, value) {
      return el("input", { type: "text", value: showScalar(value), placeholder: "a number, true/false, or text", oninput: (e) => setParam(index, param.name, parseScalar(e.target.value)) });
    },
    values(index, param, value) {
      const operator = steps[index].operator;
      if (operator === "is_null" || operator === "not_null") return el("p", { class: "muted small", text: "No value needed for this test." });
      if (operator === "in" || operator === "not_in") {
        const lines = Array.isArray(value) ? value.map(showScalar).join("\n") : showScalar(value);
        return el("textarea", { rows: 3, placeholder: "one value per line", oninput: (e) => {
          const items = e.target.value.split("\n").filter((line) => line.trim() !== "").map(parseScalar);
          setParam(index, param.name, items.length ? items : null);
        } }, lines);
      }
      return widgets.scalar(index, param, Array.isArray(value) ? null : value);
    },
    number(index, param, value) {
      return el("input", { type: "number", step: "any", value: showScalar(value), oninput: (e) => {
        const text = e.target.value.trim();
        setParam(index, param.name, text === "" || Number.isNaN(Number(text)) ? null : Number(text));
      } });
    },
    flag(index, param, value) {
      const box = el("input", { type: "checkbox", checked: value === true, onchange: (e) => setParam(index, param.name, e.target.checked) });
      return el("label", { class: "inline" }, [box, "yes"]);
    },
    cast_map(index, param, value) {
      return pairs(index, param, value, (row, update) => [
        columnSelect(index, row[0], (picked) => { row[0] = picked; update(); }),
        el("span", { text: "→" }),
        el("select", { onchange: (e) => { row[1] = e.target.value; update(); } },
          param.choices.map((choice) => el("option", { value: choice, text: choice, selected: choice === row[1] }))),
      ], () => ["", param.choices[0]], (row) => row[0] !== "");
    },
    rename(index, param, value) {
      return pairs(index, param, value, (row, update) => [
        columnSelect(index, row[0], (picked) => { row[0] = picked; update(); }),
        el("span", { text: "→" }),
        el("input", { type: "text", value: row[1], placeholder: "new name", oninput: (e) => { row[1] = e.target.value; update(); } }),
      ], () => ["", ""], (row) => row[0] !== "");
    },
    mapping(index, param, value) {
      return pairs(index, param, value, (row, update) => [
        el("input", { type: "text", value: row[0], placeholder: "old value", oninput: (e) => { row[0] = e.target.value; update(); } }),
        el("span", { text: "→" }),
        el("input", { type: "text", value: showScalar(row[1]), placeholder: "new value (empty: missing)", oninput: (e) => { row[1] = parseScalar(e.target.value); update(); } }),
      ], () => ["", null], (row) => row[0] !== "");
    },
  };

  // Rows of (key, value) for the object-valued parameters; rows with no key yet are kept on screen only.
  function pairs(index, param, value, drawRow, blank, complete) {
    const rows = Object.entries(value && typeof value === "object" ? value : {});
    if (!rows.length) rows.push(blank());
    const box = el("div", { class: "pairs" });
    const update = () => {
      const object = {};
      rows.filter(complete).forEach((row) => { object[row[0]] = row[1]; });
      setParam(index, param.name, object);
    };
    function draw() {
      replaceChildren(box, rows.map((row, at) => el("div", { class: "pair" }, drawRow(row, update).concat([
        el("button", { type: "button", class: "small", "aria-label": "Remove this row", text: "×", onclick: () => { rows.splice(at, 1); if (!rows.length) rows.push(blank()); draw(); update(); } }),
      ]))).concat([el("button", { type: "button", class: "small", text: "+ Add a row", onclick: () => { rows.push(blank()); draw(); } })]));
    }
    draw();
    return box;
  }

  // ---- cards ----------------------------------------------------------------------------------
  function card(index) {
    const step = steps[index];
    const op = vocab[step.op];
    const head = el("div", { class: "step-head" }, [
      el("span", { class: "step-no", text: index + 1 }),
      el("strong", { text: op ? op.label : `Unknown op ${step.op}` }),
      el("span", { class: "help", text: op ? op.help : "" }),
      el("span", { class: "step-tools" }, [
        el("button", { type: "button", "aria-label": `Move step ${index + 1} up`, title: "Move up", text: "↑", disabled: index === 0, onclick: () => move(index, -1) }),
        el("button", { type: "button", "aria-label": `Move step ${index + 1} down`, title: "Move down", text: "↓", disabled: index === steps.length - 1, onclick: () => move(index, 1) }),
        el("button", { type: "button", class: "danger", "aria-label": `Remove step ${index + 1}`, text: "Remove", onclick: () => remove(index) }),
      ]),
    ]);
    const params = (op ? op.params : []).map((param) => el("div", { class: "param", "data-param": param.name }, [
      el("div", { class: "param-label" }, [param.label + (param.required ? "" : ""), param.help ? el("small", { text: param.help }) : null]),
      widgets[param.kind](index, param, step[param.name]),
      el("p", { class: "field-error", hidden: true }),
    ]));
    return el("li", { class: "step", "data-index": index, "data-op": step.op }, [head].concat(params).concat([el("ul", { class: "step-problems" })]));
  }

  function renderAll() {
    replaceChildren(list, steps.length ? steps.map((_, index) => card(index)) : [el("li", { class: "muted", text: "No steps yet: add one below." })]);
    rendered = steps.map((_, index) => JSON.stringify(columnsBefore[index] || []));
    showProblems();
  }

  function redrawCard(index) {
    const old = list.children[index];
    if (!old) return renderAll();
    old.replaceWith(card(index));
    rendered[index] = JSON.stringify(columnsBefore[index] || []);
    showProblems();
  }

  function move(index, by) {
    const [step] = steps.splice(index, 1);
    steps.splice(index + by, 0, step);
    columnsBefore = [];
    dirty = true;
    syncText();
    renderAll();
    scheduleCheck();
  }

  function remove(index) {
    steps.splice(index, 1);
    dirty = true;
    syncText();
    renderAll();
    scheduleCheck();
  }

  function add(opName) {
    const op = vocab[opName];
    const step = { op: opName };
    op.params.forEach((param) => {
      if (param.kind === "choice" && param.default !== null && param.default !== undefined) step[param.name] = param.default;
    });
    steps.push(step);
    dirty = true;
    syncText();
    renderAll();
    scheduleCheck();
    list.lastElementChild.scrollIntoView({ block: "nearest" });
  }

  // ---- problems -------------------------------------------------------------------------------
  function showProblems() {
    replaceChildren(general, problems.filter((p) => !p.step).map((p) => el("p", { class: "alert error", text: p.message })));
    Array.from(list.querySelectorAll(".step")).forEach((node) => {
      const number = Number(node.dataset.index) + 1;
      const mine = problems.filter((p) => p.step === number);
      node.classList.toggle("has-problems", mine.length > 0);
      node.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
      const loose = [];
      mine.forEach((problem) => {
        const field = problem.field ? String(problem.field).split(/[.[]/)[0] : null;
        const target = field ? node.querySelector(`.param[data-param="${CSS.escape(field)}"] > .field-error`) : null;
        const text = problem.field && field !== problem.field ? `${problem.field}: ${problem.message}` : problem.message;
        if (target) {
          target.textContent = target.textContent ? `${target.textContent}; ${text}` : text;
          target.hidden = false;
        } else {
          loose.push(problem.field ? `${problem.field}: ${problem.message}` : problem.message);
        }
      });
      replaceChildren(node.querySelector(".step-problems"), loose.map((text) => el("li", { text })));
    });
  }

  // ---- server check and preview ---------------------------------------------------------------
  function scheduleCheck() {
    window.clearTimeout(checkTimer);
    checkStatus.textContent = "Checking…";
    checkTimer = window.setTimeout(check, 350);
  }

  async function check() {
    const seq = ++checkSeq;
    let answer;
    try {
      answer = await postJSON("/configs/check", { dataset_id: initial.dataset_id, steps });
    } catch (error) {
      if (seq === checkSeq) checkStatus.textContent = `Could not check the steps: ${error.message}`;
      return;
    }
    if (seq !== checkSeq) return; // a newer check is on its way
    problems = answer.problems || [];
    columnsBefore = answer.columns_before || [];
    steps.forEach((_, index) => {
      const node = list.children[index];
      const now = JSON.stringify(columnsBefore[index] || []);
      if (node && rendered[index] !== now && !node.contains(document.activeElement)) redrawCard(index);
    });
    showProblems();
    const count = problems.length;
    checkStatus.textContent = count ? `${count} problem${count === 1 ? "" : "s"} to fix before saving.` : steps.length ? "All steps look good." : "";
    showPreview(answer.preview, count);
  }

  function showPreview(preview, problemCount) {
    const note = document.getElementById("preview-note");
    const after = document.getElementById("preview-after");
    const report = document.getElementById("preview-report");
    if (!note) return;
    replaceChildren(after, []);
    replaceChildren(report, []);
    if (!steps.length) { note.textContent = "Add steps to see what they do."; return; }
    if (problemCount) { note.textContent = "Fix the problems in the steps to see the result."; return; }
    if (!preview || !preview.available) { note.textContent = "The live preview is not available on this server; the steps are valid."; return; }
    if (preview.error) { note.textContent = preview.error; return; }
    note.textContent = "";
    const steps_ = preview.report && Array.isArray(preview.report.steps) ? preview.report.steps : [];
    replaceChildren(report, steps_.map((step) => el("li", { text: step.summary || step.op })));
    if (preview.after) replaceChildren(after, dataTable(preview.after));
  }

  // ---- wiring ---------------------------------------------------------------------------------
  document.getElementById("add-step").hidden = false;
  document.getElementById("add-step-button").addEventListener("click", () => add(document.getElementById("add-op").value));
  textarea.addEventListener("change", () => {
    try {
      const parsed = JSON.parse(textarea.value);
      if (!Array.isArray(parsed)) throw new Error("the steps must be a list");
      steps = parsed;
      columnsBefore = [];
      renderAll();
      scheduleCheck();
    } catch (error) {
      problems = [{ step: null, field: "steps", message: `The JSON is not valid: ${error.message}` }];
      showProblems();
    }
  });
  document.getElementById("builder-form").addEventListener("submit", () => { dirty = false; syncText(); });
  const picker = document.getElementById("dataset-select");
  if (picker) picker.addEventListener("change", () => {
    if (!dirty || window.confirm("Switch dataset? Unsaved changes to the steps are lost.")) picker.form.submit();
  });
  window.addEventListener("beforeunload", (event) => { if (dirty) { event.preventDefault(); event.returnValue = ""; } });

  renderAll();
  if (steps.length) scheduleCheck();
})();
