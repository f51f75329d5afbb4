// The job page follows its job without a reload: it asks /jobs/<id>/status every second until the
// job is finished, then shows the report, the first rows of the result and the downloads.
(function () {
  "use strict";
  const box = document.getElementById("job");
  if (!box) return;
  const { el, replaceChildren, dataTable } = Workspace;
  const $ = (id) => document.getElementById(id);
  const url = `/jobs/${box.dataset.jobId}/status`;
  const number = (value) => (value === null || value === undefined ? "—" : Number(value).toLocaleString("en"));

  function show(state) {
    box.dataset.status = state.status;
    box.dataset.finished = String(state.finished);
    const badge = $("job-status");
    badge.className = `badge status-${state.status}`;
    badge.textContent = state.status;
    $("job-status-text").textContent = state.cancel_requested && !state.finished ? "Stopping…" : state.status_text;
    $("job-progress").value = state.progress;
    $("job-progress-text").textContent = `${state.progress} %`;
    ["created", "started", "finished", "waited", "ran"].forEach((key) => { $(`time-${key}`).textContent = state.times[key]; });
    $("job-rows").textContent = `${number(state.rows_in)} → ${number(state.rows_out)}`;
    $("job-error").hidden = !state.error;
    $("job-error").textContent = state.error || "";
    $("cancel-form").hidden = state.finished;
    $("again-form").hidden = !state.finished;
    replaceChildren($("job-events"), state.events.map((event) =>
      el("li", { class: `level-${String(event.level).toLowerCase()}` }, [el("time", { text: event.at }), ` ${event.message}`])));
    if (state.status === "succeeded") showResult(state);
  }

  function showResult(state) {
    replaceChildren($("job-downloads"), state.downloads.map((item) =>
      el("a", { class: "button", href: item.url, "data-format": item.format, text: `Download ${item.label}` })));
    replaceChildren($("job-unavailable"), (state.unavailable || []).map((item) => el("li", { text: `No ${item.label} file: ${item.reason}` })));
    replaceChildren($("job-report"), state.report.map((step) => el("li", { text: step.summary })));
    replaceChildren($("job-preview"), state.preview ? el("div", { class: "table-wrap" }, dataTable(state.preview)) : []);
    $("job-result").hidden = false;
  }

  let polls = 0;

  async function poll() {
    polls += 1;
    // Every second at first; a job that waits long (a busy fleet) is asked less often, up to every 5 s.
    let delay = Math.min(1000 + Math.max(polls - 30, 0) * 100, 5000);
    try {
      const state = await Workspace.getJSON(url);
      show(state);
      if (state.finished) return;
    } catch (error) {
      if (error.status === 404 || error.status === 401) return; // gone, or signed out: nothing more to follow
      delay = 3000;
    }
    window.setTimeout(poll, delay);
  }

  if (box.dataset.finished !== "true") window.setTimeout(poll, 500);
})();
