// nanoscope pages: table filters, confirmations, auto-submitting selects. No dependencies.
"use strict";

function filterTable(controls) {
  const table = document.getElementById(controls.dataset.filterTable);
  if (!table) return;
  const text = controls.querySelector("[data-filter-text]");
  const selects = controls.querySelectorAll("[data-filter-attr]");
  const rows = Array.from(table.tBodies[0].rows).filter((row) => row.dataset.status !== undefined);
  const count = document.querySelector(`[data-count-for="${table.id}"]`);
  const none = table.parentElement.querySelector(".filter-empty");
  function apply() {
    const query = (text ? text.value : "").trim().toLowerCase();
    let shown = 0;
    for (const row of rows) {
      let keep = !query || row.textContent.toLowerCase().includes(query);
      for (const select of selects) {
        if (keep && select.value) keep = row.dataset[select.dataset.filterAttr] === select.value;
      }
      row.hidden = !keep;
      if (keep) shown += 1;
    }
    if (count) count.textContent = shown === rows.length ? rows.length : `${shown} of ${rows.length}`;
    if (none) none.hidden = shown > 0 || rows.length === 0;
  }
  controls.addEventListener("input", apply);
  controls.addEventListener("change", apply);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-filter-table]").forEach(filterTable);
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });
});
