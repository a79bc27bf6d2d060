/* ExplainMyXray radiograph viewer: zoom and pan (Panzoom), window/level (an SVG
   feComponentTransfer filter on the image: out = (v - (L - W/2)) / W, clamped), toggles and
   hover links between finding/region rows and their boxes. No network, no storage. */
(function () {
  "use strict";

  function setWindow(viewer, width, level, invert) {
    var w = Math.max(1, width) / 255;
    var low = (level - width / 2) / 255;
    var slope = 1 / w;
    var intercept = -low / w;
    if (invert) {
      slope = -slope;
      intercept = 1 - intercept;
    }
    viewer.querySelectorAll("feFuncR, feFuncG, feFuncB").forEach(function (f) {
      f.setAttribute("slope", slope.toFixed(5));
      f.setAttribute("intercept", intercept.toFixed(5));
    });
    var readout = viewer.querySelector(".wl-readout");
    if (readout) {
      readout.textContent = "W " + Math.round(width) + " / L " + Math.round(level) +
        (invert ? " · inverted" : "");
    }
    viewer.dataset.window = String(Math.round(width));
    viewer.dataset.level = String(Math.round(level));
  }

  function linkRows(section, viewer, attr) {
    var selector = "[data-" + attr + "]";
    function items(key) {
      return section.querySelectorAll(
        ".ov [data-" + attr + '="' + key + '"], tr[data-' + attr + '="' + key + '"]'
      );
    }
    function focus(key, on) {
      viewer.classList.toggle("focus", on);
      items(key).forEach(function (el) { el.classList.toggle("hl", on); });
    }
    section.querySelectorAll(selector).forEach(function (el) {
      var key = el.getAttribute("data-" + attr);
      if (el.tagName === "INPUT") {
        el.addEventListener("change", function () {
          section.querySelectorAll(".ov [data-" + attr + '="' + key + '"]').forEach(function (g) {
            g.classList.toggle("off", !el.checked);
          });
        });
        return;
      }
      el.addEventListener("mouseenter", function () { focus(key, true); });
      el.addEventListener("mouseleave", function () { focus(key, false); });
    });
  }

  function setup(section) {
    var viewer = section.querySelector(".viewer");
    if (!viewer || viewer.dataset.ready) return;
    viewer.dataset.ready = "1";
    var target = viewer.querySelector(".pz");
    var zoom = viewer.querySelector(".zoom-readout");
    var pz = window.Panzoom(target, { maxScale: 16, minScale: 1, step: 0.25, contain: "outside",
      cursor: "grab" });
    function showZoom() {
      var scale = pz.getScale();
      viewer.dataset.scale = scale.toFixed(3);
      if (zoom) zoom.textContent = Math.round(scale * 100) + "%";
    }
    target.addEventListener("panzoomchange", showZoom);
    viewer.querySelector(".stage").addEventListener("wheel", function (event) {
      pz.zoomWithWheel(event);
    });
    viewer.querySelector(".zoom-in").addEventListener("click", function () { pz.zoomIn(); });
    viewer.querySelector(".zoom-out").addEventListener("click", function () { pz.zoomOut(); });
    viewer.querySelector(".zoom-reset").addEventListener("click", function () { pz.reset(); });
    showZoom();

    var width = viewer.querySelector(".wl-width");
    var level = viewer.querySelector(".wl-level");
    var invert = viewer.querySelector(".wl-invert");
    function applyWindow() {
      setWindow(viewer, Number(width.value), Number(level.value), invert.checked);
    }
    [width, level, invert].forEach(function (input) {
      input.addEventListener("input", applyWindow);
      input.addEventListener("change", applyWindow);
    });
    viewer.querySelectorAll(".wl-preset").forEach(function (button) {
      button.addEventListener("click", function () {
        width.value = button.dataset.width;
        level.value = button.dataset.level;
        applyWindow();
      });
    });
    applyWindow();

    viewer.querySelectorAll(".layer").forEach(function (box) {
      box.addEventListener("change", function () {
        viewer.querySelectorAll(".ov ." + box.dataset.layer).forEach(function (g) {
          g.classList.toggle("layer-off", !box.checked);
        });
      });
    });
    linkRows(section, viewer, "f");
    linkRows(section, viewer, "r");
  }

  function init() {
    var sections = document.querySelectorAll("section.case");
    if (!("IntersectionObserver" in window)) {
      sections.forEach(setup);
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          setup(entry.target);
          observer.unobserve(entry.target);
        }
      });
    }, { rootMargin: "400px" });
    sections.forEach(function (section) { observer.observe(section); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
