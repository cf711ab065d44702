/* Draws every <figure data-chart> from the JSON beside it, on page load and after each htmx swap.
   No inline scripts anywhere: this file and the vendored libraries are all the page runs. */
(function () {
  "use strict";

  // Amounts in tooltips show their two decimals; axis ticks only the decimals they have
  // (0, 50, 100 rather than 0.00, 50.00, 100.00).
  function formatter(minimumFractionDigits) {
    return new Intl.NumberFormat(document.documentElement.lang || undefined, {
      minimumFractionDigits: minimumFractionDigits,
      maximumFractionDigits: 2,
    });
  }

  // A chart whose canvas has left the page (swapped out, or replaced by a history restore)
  // would otherwise stay in Chart.instances for good.
  function destroyDetached() {
    Object.values(window.Chart.instances).forEach(function (chart) {
      if (!chart.canvas || !chart.canvas.isConnected) {
        chart.destroy();
      }
    });
  }

  function destroyWithin(root) {
    root.querySelectorAll("canvas").forEach(function (canvas) {
      var chart = window.Chart.getChart(canvas);
      if (chart) {
        chart.destroy();
      }
    });
  }

  function draw(figure) {
    var canvas = figure.querySelector("canvas");
    var source = figure.querySelector('script[type="application/json"]');
    if (!canvas || !source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var existing = window.Chart.getChart(canvas);
    if (existing) {
      existing.destroy();
    }
    var horizontal = Boolean(spec.horizontal);
    var box = figure.querySelector(".chart-box");
    if (horizontal && box) {
      // One band per place; stacked bars need no more, grouped ones one bar per year.
      var band = spec.stacked ? 24 : Math.max(22, spec.datasets.length * 9 + 10);
      box.style.height = Math.max(220, spec.labels.length * band + 90) + "px";
    }
    var numbers = formatter(2);
    var ticks = formatter(0);
    var unit = spec.unit || "";
    var valueAxis = {
      beginAtZero: true,
      stacked: Boolean(spec.stacked),
      title: { display: true, text: unit },
      ticks: {
        callback: function (value) {
          return ticks.format(value);
        },
      },
    };
    var categoryAxis = { stacked: Boolean(spec.stacked) };
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (dataset) {
          return {
            label: dataset.label,
            data: dataset.data,
            backgroundColor: dataset.color,
            borderColor: dataset.color,
          };
        }),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (context) {
                var value = horizontal ? context.parsed.x : context.parsed.y;
                var text = context.dataset.label + (spec.colon || ": ") + numbers.format(value) + " " + (spec.figure_unit || unit);
                // part of this figure is a share the report does not give
                var unknown = spec.datasets[context.datasetIndex].unknown;
                if (unknown && unknown[context.dataIndex] && spec.plus_unknown) {
                  text += " " + spec.plus_unknown;
                }
                return text;
              },
            },
          },
        },
      },
    });
  }

  function drawWithin(root) {
    if (!window.Chart) {
      return;
    }
    destroyDetached();
    if (root.matches && root.matches("figure[data-chart]")) {
      draw(root);
    }
    root.querySelectorAll("figure[data-chart]").forEach(draw);
  }

  window.htmx.onLoad(drawWithin);

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (window.Chart && event.detail.target) {
      destroyWithin(event.detail.target);
    }
  });

  // A panel loaded once the page is shown (hx-trigger="load", aria-busy) that could not be
  // fetched: stop saying it is busy and show the link to its own page.
  function panelFailed(event) {
    var placeholder = event.detail.elt;
    if (placeholder && placeholder.getAttribute("aria-busy") === "true") {
      placeholder.removeAttribute("aria-busy");
      placeholder.querySelectorAll("[data-if-failed]").forEach(function (link) {
        link.hidden = false;
      });
    }
  }
  document.addEventListener("htmx:responseError", panelFailed);
  document.addEventListener("htmx:sendError", panelFailed);

  // A filter, pager or year chosen whose answer failed (a server error, no answer, a proxy's
  // 502): the old figures stay under the new choice, which htmx alone would not say. Say it
  // above them, until the next answer replaces them.
  function requestFailed(event) {
    var target = event.detail.target;
    var elt = event.detail.elt;
    if (!target || (elt && elt.querySelector("[data-if-failed]"))) {
      return; // a placeholder: panelFailed shows its link
    }
    if (target.id === "search-suggestions") {
      return; // the search box's list holds no figures; its page answers the same query
    }
    var notice = target.querySelector(":scope > .request-failed");
    if (!notice) {
      notice = document.createElement("div");
      notice.className = "errors request-failed";
      notice.setAttribute("role", "alert");
      notice.textContent = document.body.getAttribute("data-request-failed");
      target.prepend(notice);
    }
  }
  document.addEventListener("htmx:responseError", requestFailed);
  document.addEventListener("htmx:sendError", requestFailed);

  // A shared link names only the filters chosen: a parameter left empty stays out of the
  // request, and so out of the address htmx pushes (the server reads a missing filter as an
  // empty one). A link's own query (a pager's, from a page loaded with them) loses them too.
  function dropEmpty(data) {
    Array.from(new Set(Array.from(data.keys()))).forEach(function (name) {
      var values = data.getAll(name);
      if (values.every(function (value) { return value === ""; })) {
        data.delete(name);
      }
    });
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var detail = event.detail;
    // a part of this page comes in this page's language, whatever another tab chose since
    detail.headers["X-Page-Language"] = document.documentElement.lang;
    if (detail.verb !== "get") {
      return;
    }
    if (detail.formData) {
      dropEmpty(detail.formData);
    }
    var url = new URL(detail.path, window.location.href);
    if (url.origin === window.location.origin && url.search) {
      dropEmpty(url.searchParams);
      detail.path = url.pathname + url.search + url.hash;
    }
  });

  // Keyboard focus through a swap. The control pressed (应用, 重置, a filter, 下一页, a year) is
  // replaced with the content it fetched, and focus would fall back to <body>. It goes to the
  // same control in the new content, or where the control says (data-focus-heading: paging and
  // the year strip) or no counterpart is left, to its section's heading; that heading is
  // scrolled to the top, where the new list begins.
  var focusAfterSwap = null;
  // What a screen reader is told once a filter, year or reset has replaced the figures
  // (the panel swaps silently otherwise): the filters now applied, or the new heading.
  var announceAfterSwap = null;
  var ANNOUNCED = ["panel", "targets", "ranking"];

  function sameControl(old, region) {
    var attributes = ["name", "type", "value", "href"];
    return Array.from(region.querySelectorAll(old.tagName)).find(function (element) {
      return attributes.every(function (name) {
        return element.getAttribute(name) === old.getAttribute(name);
      });
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var active = document.activeElement;
    if (!event.detail.shouldSwap) {
      focusAfterSwap = null; // an error answer swaps nothing: nothing to follow later
      announceAfterSwap = null;
      return;
    }
    // not a panel loaded with the page (aria-busy): that is no answer to a choice
    if (target && ANNOUNCED.indexOf(target.id) !== -1 && target.getAttribute("aria-busy") !== "true") {
      announceAfterSwap = { old: target, regionId: target.id };
    }
    if (!target || !target.id || !active || active === document.body || !target.contains(active)) {
      return;
    }
    var section = active.closest("section[aria-labelledby]");
    focusAfterSwap = {
      old: target,
      regionId: target.id,
      control: active,
      toHeading: Boolean(active.closest("[data-focus-heading]")),
      headingId: section && target.contains(section)
        ? section.getAttribute("aria-labelledby")
        : target.getAttribute("aria-labelledby"),
    };
  });

  function say(text) {
    var status = document.getElementById("swap-status");
    if (!status) {
      return;
    }
    // emptied first, so that the same words said again are read again
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = text;
    }, 100);
  }

  // The search box's suggestions: their count line, not every suggestion.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.id === "search-suggestions") {
      var count = target.querySelector('[role="status"]');
      if (count) {
        say(count.textContent.trim());
      }
    }
  });

  function announce() {
    var wanted = announceAfterSwap;
    var region = wanted && document.getElementById(wanted.regionId);
    var status = document.getElementById("swap-status");
    if (!region || region === wanted.old || !status) {
      return;
    }
    announceAfterSwap = null;
    if (region.querySelector('[role="alert"]')) {
      return; // refused filters: the alert says so
    }
    var chosen = region.querySelector(".print-only");
    var heading = region.querySelector("h2, h3");
    var what = chosen ? chosen.textContent : (wanted.regionId === "panel"
      ? status.getAttribute("data-no-filters")
      : heading && heading.textContent);
    say(status.getAttribute("data-updated") + (what ? " " + what.trim() : ""));
  }

  // A control kept through a swap stays where the reader was: the panels opt out of the
  // browser's scroll anchoring (dashboard.css), and a control left out of view is brought
  // back into it.
  function keepInView(element) {
    var box = element.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) {
      element.scrollIntoView({ block: "nearest" });
    }
  }

  document.addEventListener("htmx:afterSettle", function () {
    announce();
    var wanted = focusAfterSwap;
    var region = wanted && document.getElementById(wanted.regionId);
    if (!region || region === wanted.old) {
      return; // not swapped yet (another swap settled first)
    }
    focusAfterSwap = null;
    var active = document.activeElement;
    if (!wanted.toHeading && active && active !== document.body && region.contains(active)) {
      keepInView(active);
      return; // htmx kept it (a control with an id)
    }
    var control = wanted.toHeading ? null : sameControl(wanted.control, region);
    if (control) {
      control.focus();
      return;
    }
    var heading = (wanted.headingId && document.getElementById(wanted.headingId))
      || region.querySelector("h2, h3");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) {
        heading.setAttribute("tabindex", "-1");
      }
      heading.focus({ preventScroll: true });
      heading.scrollIntoView({ block: "start" });
    }
  });

  // A table wider than its box scrolls in it: the box is then a named stop for the keyboard
  // (its arrow keys scroll it), named by the table's caption; a box that fits is no stop.
  function labelScrollingTables(root) {
    var boxes = Array.from(root.querySelectorAll(".table-wrap"));
    if (root.matches && root.matches(".table-wrap")) {
      boxes.push(root);
    }
    boxes.forEach(function (box) {
      var caption = box.querySelector("caption");
      if (caption && box.scrollWidth > box.clientWidth + 1) { // named, or no region
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption.textContent.trim());
      } else if (box.getAttribute("role") === "region") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }
  window.htmx.onLoad(labelScrollingTables);
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(function () {
      labelScrollingTables(document);
    }, 200);
  });

  // A figure's exact amount in yuan, and the reason a share is unknown, are in its title,
  // which a mouse shows on hover and a phone never does: a tap (or click) on the figure
  // shows it in a box next to it and has it read out; a tap elsewhere, Escape or a swap
  // hides it again.
  var FIGURE = "main data[title], main .unknown[title]";
  var figureNote = null;

  function hideFigureNote() {
    if (figureNote && !figureNote.hidden) {
      figureNote.hidden = true;
      figureNote.figure = null;
    }
  }

  function placeFigureNote() {
    var box = figureNote.figure.getBoundingClientRect();
    var left = box.left + window.scrollX;
    var right = window.scrollX + document.documentElement.clientWidth - 8;
    figureNote.style.top = (box.bottom + window.scrollY + 4) + "px";
    figureNote.style.left = "0px";
    var width = figureNote.offsetWidth;
    figureNote.style.left = Math.max(window.scrollX + 8, Math.min(left, right - width)) + "px";
  }

  function showFigureNote(figure) {
    if (!figureNote || !figureNote.isConnected) { // Back and Forward replace the body
      figureNote = document.createElement("div");
      figureNote.className = "figure-note";
      figureNote.setAttribute("aria-hidden", "true"); // read out through #swap-status
      document.body.appendChild(figureNote);
    }
    var text = figure.getAttribute("title");
    figureNote.textContent = text;
    figureNote.figure = figure;
    figureNote.hidden = false;
    placeFigureNote();
    say(text);
  }

  document.addEventListener("click", function (event) {
    var figure = event.target.closest ? event.target.closest(FIGURE) : null;
    if (!figure || figure.closest("a, button, label")) {
      hideFigureNote();
      return;
    }
    if (figureNote && figureNote.figure === figure) {
      hideFigureNote(); // a second tap
      return;
    }
    showFigureNote(figure);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      hideFigureNote();
    }
  });
  // A swap that replaces the figure takes the box away; one elsewhere (a panel loaded above
  // it) may move the figure, and the box follows.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (figureNote && figureNote.figure && target && target.contains(figureNote.figure)) {
      hideFigureNote();
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (figureNote && figureNote.figure) {
      if (figureNote.figure.isConnected) {
        placeFigureNote();
      } else {
        hideFigureNote();
      }
    }
  });
  window.addEventListener("resize", hideFigureNote);
  document.addEventListener("htmx:historyRestore", hideFigureNote);
  document.addEventListener("scroll", function (event) {
    if (event.target !== document) {
      hideFigureNote(); // a table scrolled sideways under the box
    }
  }, true);

  // The language switch returns to the page as it is now, filters included, even after
  // htmx has pushed a new URL since the page was rendered.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-keep-location]")) {
      form.querySelector('input[name="next"]').value = window.location.pathname + window.location.search;
    }
  });
})();
