// nanoscope live panels: job progress read from the API, refreshed fragments, job controls.
// No dependencies. Markup contract (see session_detail.html and dashboard.html):
//   [data-live-job][data-url][data-state][data-live-states]  polls the API record at data-url
//       while its state is one of data-live-states; fills [data-field=<name>] with the record's
//       field (data-format: rate, percent), [data-bar] with its progress, shows the
//       [data-show-when] controls of its phase, and reloads the page when the job finishes.
//   form[data-api-action]  posts to that API URL with the CSRF token instead of the page.
//   [data-live-fragment][data-live-every]  replaces its content with the fragment's HTML.
"use strict";

const LIVE_INTERVAL_MS = 1000;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function formatValue(value, format) {
  if (value === null || value === undefined || value === "") return "—";
  if (format === "rate") return Number(value).toFixed(2);
  if (format === "percent") return `${Math.round(Number(value) * 100)} %`;
  return String(value);
}

function phaseOf(record) {
  if (record.state === "running" && record.pause_requested) return "pausing";
  return record.state;
}

function stateLabel(record) {
  const labels = { cancelled: "Aborted", running: record.pause_requested ? "Pausing" : "Running" };
  return labels[record.state] || record.state.charAt(0).toUpperCase() + record.state.slice(1);
}

function showRecord(box, record) {
  for (const field of box.querySelectorAll("[data-field]")) {
    const name = field.dataset.field;
    if (!(name in record)) continue;
    if (name === "state") {
      field.textContent = stateLabel(record);
      field.className = `job job-${record.state}`;
    } else if (name === "error") {
      field.textContent = record.error || "—";
      field.classList.toggle("error-text", Boolean(record.error));
    } else {
      field.textContent = formatValue(record[name], field.dataset.format);
    }
  }
  const percent = Math.round(Math.min(Math.max(Number(record.progress) || 0, 0), 1) * 100);
  for (const bar of box.querySelectorAll("[data-bar]")) {
    bar.style.width = `${percent}%`;
    const meter = bar.parentElement;
    if (meter && meter.hasAttribute("aria-valuenow")) meter.setAttribute("aria-valuenow", percent);
  }
  const phase = phaseOf(record);
  for (const control of box.querySelectorAll("[data-show-when]")) {
    control.hidden = !control.dataset.showWhen.split(" ").includes(phase);
  }
  box.dataset.state = record.state;
  box.dataset.phase = phase;
}

function watchJob(box) {
  const live = (box.dataset.liveStates || "").split(" ");
  const initial = box.dataset.state;
  let timer = null;
  async function poll() {
    try {
      const response = await fetch(box.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const record = await response.json();
        showRecord(box, record);
        if (!live.includes(record.state)) {
          // Finished: the page shows what the job left (a scan, a volume, a dose booked).
          if (record.state !== initial) window.setTimeout(() => window.location.reload(), 800);
          return;
        }
      }
    } catch (error) {
      // A network hiccup: try again at the next tick.
    }
    timer = window.setTimeout(poll, LIVE_INTERVAL_MS);
  }
  if (live.includes(initial)) timer = window.setTimeout(poll, LIVE_INTERVAL_MS);
  box.addEventListener("live:poll", () => {
    if (timer) window.clearTimeout(timer);
    poll();
  });
}

function apiMessage(body) {
  if (!body || typeof body !== "object") return "The request was refused.";
  return Object.values(body).flat().join(" ");
}

function enhanceActionForm(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = form.closest("[data-live-job]");
    const error = box ? box.querySelector("[data-live-error]") : null;
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.dataset.apiAction, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      const body = await response.json().catch(() => null);
      if (response.ok) {
        if (error) error.hidden = true;
        if (box && body) {
          showRecord(box, body);
          box.dispatchEvent(new Event("live:poll"));
        }
      } else if (error) {
        error.textContent = apiMessage(body);
        error.hidden = false;
      }
    } finally {
      if (button) button.disabled = false;
    }
  });
}

function refreshFragment(panel) {
  const every = Math.max(Number(panel.dataset.liveEvery) || 3, 1) * 1000;
  async function refresh() {
    try {
      const response = await fetch(panel.dataset.liveFragment, { credentials: "same-origin" });
      // A redirect means the session ended (the log-in page): keep the last content.
      if (response.ok && !response.redirected) panel.innerHTML = await response.text();
    } catch (error) {
      // Keep the last content; try again later.
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live-job]").forEach(watchJob);
  document.querySelectorAll("form[data-api-action]").forEach(enhanceActionForm);
  document.querySelectorAll("[data-live-fragment]").forEach(refreshFragment);
});
