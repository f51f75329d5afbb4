// The dataset page: while a worker profiles the upload, ask now and then, and show the profile once it is in.
(function () {
  "use strict";
  const summary = document.getElementById("dataset-summary");
  if (!summary || summary.dataset.profileStatus !== "pending") return;
  const url = `/datasets/${summary.dataset.datasetId}/status`;
  const started = Date.now();

  async function poll() {
    try {
      const status = await Workspace.getJSON(url);
      if (status.profile_ready) {
        window.location.reload();
        return;
      }
    } catch (_) { /* try again below */ }
    if (Date.now() - started < 10 * 60 * 1000) window.setTimeout(poll, 1500);
  }
  window.setTimeout(poll, 1000);
})();
