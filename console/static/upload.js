// The upload form: pick or drop a file, send it with XMLHttpRequest to show progress, explain refusals.
// Without JavaScript the same form posts normally and the server answers with a page.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-file");
  const zone = document.getElementById("dropzone");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const errorBox = document.getElementById("upload-error");
  const button = form.querySelector('button[type="submit"]');
  const maxText = form.dataset.maxText;
  const chosen = Workspace.el("p", { class: "chosen", hidden: true });
  zone.append(chosen);

  function size(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    progress.hidden = true;
    button.disabled = false;
  }

  function showChosen() {
    const file = input.files[0];
    chosen.hidden = !file;
    chosen.textContent = file ? `${file.name} (${size(file.size)})` : "";
    errorBox.hidden = true;
  }

  input.addEventListener("change", showChosen);
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      showChosen();
    }
  });

  function refusal(status, detail) {
    if (status === 413) return `The file is too large: uploads are limited to ${maxText}.`;
    if (status === 401) return "Your session has ended: sign in again, then upload.";
    return detail || `The upload failed (HTTP ${status}).`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) return showError("Choose a CSV file to upload first.");
    if (file.size === 0) return showError(`${file.name} is empty.`);
    if (file.size > Number(form.dataset.maxBytes)) return showError(`The file is too large (${size(file.size)}): uploads are limited to ${maxText}.`);

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", Workspace.csrf());
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const done = Math.round((100 * e.loaded) / e.total);
      bar.value = done;
      percent.textContent = `${done} %`;
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { data = null; }
      if (xhr.status === 201 && data && typeof data.url === "string" && data.url.startsWith("/")) {
        percent.textContent = "Uploaded. Opening…";
        window.location.assign(data.url);
      } else {
        showError(refusal(xhr.status, data && typeof data.detail === "string" ? data.detail : null));
      }
    });
    xhr.addEventListener("error", () => showError(
      `The upload was cut off. If the file is larger than ${maxText} the server refuses it; otherwise check your connection and try again.`));
    errorBox.hidden = true;
    progress.hidden = false;
    bar.value = 0;
    percent.textContent = "0 %";
    button.disabled = true;
    xhr.send(new FormData(form));
  });
})();
