// Injected into a copy of report.html by tests/test_report.py: once the page (and its images)
// has loaded, measure how each table and figure sits on the page and write the numbers into the
// DOM, where `chromium --dump-dom` hands them back: JSON in the pre element of id mf-measure.
window.addEventListener("load", () => {
  const page = document.documentElement;
  const width = page.clientWidth;
  // A table overflows when it reaches past the page, or when a box around it scrolls sideways.
  const scrolls = (element) => {
    for (let box = element.parentElement; box; box = box.parentElement) {
      const clipped = getComputedStyle(box).overflowX !== "visible" && box.scrollWidth > box.clientWidth + 1;
      if (clipped && box !== page && box !== document.body) return true;
    }
    return false;
  };
  const tables = [...document.querySelectorAll("table")].map((table) => ({
    section: table.closest("section.mf-table")?.id ?? null,
    right: table.getBoundingClientRect().right,
    scrolls: scrolls(table),
  }));
  const figures = [...document.querySelectorAll("figure")].map((figure) => ({
    id: figure.id,
    right: figure.querySelector("img")?.getBoundingClientRect().right ?? null,
    loaded: Boolean(figure.querySelector("img")?.naturalWidth),
    caption: figure.querySelector("figcaption")?.textContent ?? "",
  }));
  // Everything the page asked the network for (the page itself and data: URIs are not listed).
  const resources = performance.getEntriesByType("resource").map((entry) => entry.name);
  const result = { width, scrollWidth: page.scrollWidth, height: page.scrollHeight, tables, figures, resources };
  const out = document.createElement("pre");
  out.id = "mf-measure";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
