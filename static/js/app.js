/* Persona Studio: small progressive enhancements. Every page works without this file; it only adds
   drag and drop, live counters and keyboard shortcuts. The server re-validates everything. */
(function () {
  "use strict";

  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // --- selects that submit their form on change ---------------------------------------------------------
  function initAutosubmit() {
    $all("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  // --- reference image drop zone ------------------------------------------------------------------------
  var ACCEPTED = ["image/jpeg", "image/png", "image/webp"];

  function initDropzones() {
    $all("[data-dropzone]").forEach(function (zone) {
      var input = zone.querySelector("input[type=file]");
      var list = zone.querySelector("[data-file-list]");
      var maxBytes = parseInt(zone.getAttribute("data-max-bytes") || "0", 10);
      if (!input) return;

      function describe() {
        list.textContent = "";
        var bad = 0;
        Array.prototype.forEach.call(input.files, function (file) {
          var item = document.createElement("li");
          var problem = "";
          if (ACCEPTED.indexOf(file.type) === -1) problem = "not a JPEG, PNG or WebP image";
          else if (maxBytes && file.size > maxBytes) problem = "larger than " + Math.round(maxBytes / 1048576) + " MB";
          item.textContent = file.name + " · " + Math.max(1, Math.round(file.size / 1024)) + " KB" +
            (problem ? " — " + problem + " (will be refused)" : "");
          if (problem) { item.className = "file-error"; bad += 1; }
          list.appendChild(item);
        });
        zone.classList.toggle("has-files", input.files.length > 0);
        if (bad) {
          var note = document.createElement("li");
          note.className = "muted";
          note.textContent = "Files marked above are refused; the others upload normally.";
          list.appendChild(note);
        }
      }

      input.addEventListener("change", describe);
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) {
          event.preventDefault();
          zone.classList.add("dragging");
        });
      });
      ["dragleave", "dragend"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        zone.classList.remove("dragging");
        if (!event.dataTransfer || !event.dataTransfer.files.length) return;
        try {
          input.files = event.dataTransfer.files;  // the plain form then uploads them
        } catch (err) {
          return;  // very old browsers: the file input still works
        }
        describe();
      });
    });
  }

  // --- caption counters ---------------------------------------------------------------------------------
  var LIMITS = null;

  function limits() {
    if (LIMITS === null) {
      var node = document.getElementById("platform-limits");
      LIMITS = node ? JSON.parse(node.textContent) : {};
    }
    return LIMITS;
  }

  // Mirrors core.platforms.weighted_length_x (the server's count is authoritative): URLs count 23,
  // code points in the Latin/punctuation ranges count 1, everything else 2, and an emoji sequence (skin tone,
  // ZWJ family, flag, keycap) counts once, as 2. Bare-domain links are not detected here (server only).
  var LIGHT = [[0x0000, 0x10FF], [0x2000, 0x200D], [0x2010, 0x201F], [0x2032, 0x2037]];
  var URL_RE = /(?:https?:\/\/|www\.)[^\s<>"]+/gi;
  var URL_TRAILING = ".,!?;:)'\"";

  function isLight(cp) {
    return LIGHT.some(function (r) { return cp >= r[0] && cp <= r[1]; });
  }
  function isModifier(cp) {
    return cp === 0xFE0E || cp === 0xFE0F || cp === 0x20E3 || (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
      (cp >= 0xE0020 && cp <= 0xE007F);
  }
  function isRegional(cp) { return cp >= 0x1F1E6 && cp <= 0x1F1FF; }

  function weightPlain(text) {
    var cps = Array.from(text).map(function (c) { return c.codePointAt(0); });
    var weight = 0, i = 0;
    while (i < cps.length) {
      var cp = cps[i];
      if (isLight(cp) && !(i + 1 < cps.length && isModifier(cps[i + 1]))) { weight += 1; i += 1; continue; }
      weight += 2;
      i += 1;
      if (isRegional(cp) && i < cps.length && isRegional(cps[i])) { i += 1; continue; }
      while (i < cps.length) {
        if (isModifier(cps[i])) i += 1;
        else if (cps[i] === 0x200D && i + 1 < cps.length) i += 2;
        else break;
      }
    }
    return weight;
  }

  function weightedLength(text, urlWeight) {
    var total = 0, last = 0, match;
    URL_RE.lastIndex = 0;
    while ((match = URL_RE.exec(text)) !== null) {
      var url = match[0], end = url.length;
      while (end > 0 && URL_TRAILING.indexOf(url[end - 1]) !== -1) end -= 1;  // trailing punctuation is text
      total += weightPlain(text.slice(last, match.index)) + urlWeight + weightPlain(url.slice(end));
      last = match.index + url.length;
    }
    return total + weightPlain(text.slice(last));
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  function hashtagCount(text) {
    var seen = {};
    (text.match(/(^|[^\w&#])#(\w+)/gu) || []).forEach(function (m) {
      seen[m.replace(/^[^#]*#/, "").toLowerCase()] = true;
    });
    return Object.keys(seen).length;
  }

  function initCounters() {
    $all("[data-caption-counter]").forEach(function (box) {
      var rule = limits()[box.getAttribute("data-platform")];
      var output = box.querySelector("[data-counter-output]");
      var input = box.querySelector("[data-caption-input]");
      var tagsInput = box.querySelector("[data-hashtags-input]");
      var textNode = box.querySelector("[data-caption-text]");
      if (!rule || !output) return;

      function update() {
        var caption = input ? input.value : (textNode ? textNode.textContent : "");
        var tags = tagsInput ? tagsInput.value.trim() : (box.getAttribute("data-hashtags") || "").trim();
        caption = caption.trim();
        var text = (caption && tags) ? caption + " " + tags : (caption || tags);
        text = text.normalize("NFC");
        var length = rule.weighted ? weightedLength(text, rule.url_weight) : codePoints(text);
        var tagCount = hashtagCount(text);
        var over = length > rule.caption_max;
        var tagsOver = rule.hashtags_max !== null && tagCount > rule.hashtags_max;
        var message = length + " / " + rule.caption_max + (rule.weighted ? " weighted" : "") + " characters";
        if (rule.hashtags_max !== null) message += " · " + tagCount + " / " + rule.hashtags_max + " hashtags";
        if (over) message += " — " + (length - rule.caption_max) + " over the " + rule.label + " limit";
        if (tagsOver) message += " — too many hashtags for " + rule.label;
        output.textContent = message;
        output.classList.toggle("over", over || tagsOver);
      }

      if (input) input.addEventListener("input", update);
      if (tagsInput) tagsInput.addEventListener("input", update);
      update();
    });
  }

  // --- review queue: one at a time or grid, keyboard, bulk approve --------------------------------------
  function initReview() {
    var list = document.querySelector("[data-review-list]");
    if (!list) return;
    var cards = $all("[data-review-card]", list);
    var single = list.getAttribute("data-layout") === "single";
    var position = document.querySelector("[data-review-position]");
    var current = 0;

    function show(index, focus) {
      if (!cards.length) return;
      current = Math.max(0, Math.min(cards.length - 1, index));
      cards.forEach(function (card, i) { card.classList.toggle("current", i === current); });
      if (position) {
        position.textContent = "Post " + (current + 1) + " of " + cards.length + " on this page";
      }
      if (focus) {
        cards[current].focus({ preventScroll: true });
        cards[current].scrollIntoView({ block: single ? "start" : "nearest" });
      }
    }

    var prev = document.querySelector("[data-review-prev]");
    var next = document.querySelector("[data-review-next]");
    if (prev) prev.addEventListener("click", function () { show(current - 1, true); });
    if (next) next.addEventListener("click", function () { show(current + 1, true); });

    var hash = window.location.hash.replace("#", "");
    var start = cards.findIndex(function (card) { return card.id === hash; });
    show(start >= 0 ? start : 0, false);
    cards.forEach(function (card, i) {
      card.addEventListener("focusin", function () { if (!single) show(i, false); });
    });

    function decide(action) {
      var card = cards[current];
      if (!card) return;
      var form = card.querySelector("[data-decision-form]");
      if (!form) return;
      var comment = form.querySelector("[data-comment]");
      var button = form.querySelector("[data-action=" + action + "]");
      if (action === "approve") {
        button.click();
        return;
      }
      // Changes and rejections need a reason: focus the comment; Ctrl+Enter (or the button) sends it.
      form.setAttribute("data-pending", action);
      var note = form.querySelector("[data-pending-note]");
      if (note) {
        note.textContent = "Type the reason, then press Ctrl+Enter to " +
          (action === "reject" ? "reject" : "request changes") + " (Esc cancels).";
      }
      comment.focus();
    }

    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      var target = event.target;
      var typing = target && (target.isContentEditable || /^(TEXTAREA|SELECT)$/.test(target.tagName) ||
        (target.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(target.type)));
      if (typing) return;
      var key = event.key;
      if (key === "j") { event.preventDefault(); show(current + 1, true); }
      else if (key === "k") { event.preventDefault(); show(current - 1, true); }
      else if (key === "a") { event.preventDefault(); decide("approve"); }
      else if (key === "r") { event.preventDefault(); decide("reject"); }
      else if (key === "c") { event.preventDefault(); decide("request_changes"); }
    });

    $all("[data-decision-form]", list).forEach(function (form) {
      var comment = form.querySelector("[data-comment]");
      comment.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          var action = form.getAttribute("data-pending") || "request_changes";
          form.querySelector("[data-action=" + action + "]").click();
        } else if (event.key === "Escape") {
          form.removeAttribute("data-pending");
          var note = form.querySelector("[data-pending-note]");
          if (note) note.textContent = "";
          comment.blur();
          var card = form.closest("[data-review-card]");
          if (card) card.focus({ preventScroll: true });
        }
      });
    });

    // Bulk approve: a live count on the button and a select-all box.
    var items = $all("[data-bulk-item]");
    var countNode = document.querySelector("[data-bulk-count]");
    var button = document.querySelector("[data-bulk-button]");
    var all = document.querySelector("[data-select-all]");
    function refresh() {
      var n = items.filter(function (box) { return box.checked; }).length;
      if (countNode) countNode.textContent = n ? " (" + n + ")" : "";
      if (button) button.disabled = n === 0;
      if (all) all.checked = n > 0 && n === items.length;
    }
    items.forEach(function (box) { box.addEventListener("change", refresh); });
    if (all) {
      all.addEventListener("change", function () {
        items.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    refresh();
  }

  // --- calendar: drag a post onto a day (keeps its time) or onto a slot (takes the slot's time) ----------
  function initCalendar() {
    var form = document.getElementById("drag-form");
    if (!form) return;
    var dragged = null;

    $all(".cal-post[draggable=true]").forEach(function (chip) {
      chip.addEventListener("dragstart", function (event) {
        dragged = chip;
        chip.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", chip.getAttribute("data-post-id"));
      });
      chip.addEventListener("dragend", function () {
        chip.classList.remove("dragging");
        $all(".drop-over").forEach(function (node) { node.classList.remove("drop-over"); });
      });
    });

    function targetOf(node) {
      return node && node.closest ? node.closest("[data-drop-date]") : null;
    }

    document.addEventListener("dragover", function (event) {
      var target = targetOf(event.target);
      if (!dragged || !target) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      $all(".drop-over").forEach(function (node) { if (node !== target) node.classList.remove("drop-over"); });
      target.classList.add("drop-over");
    });

    document.addEventListener("drop", function (event) {
      var target = targetOf(event.target);
      if (!dragged || !target) return;
      event.preventDefault();
      var time = target.getAttribute("data-drop-time") || dragged.getAttribute("data-time");
      var when = target.getAttribute("data-drop-date") + "T" + time;
      form.action = dragged.getAttribute("data-reschedule-url");
      form.querySelector("input[name=scheduled_at]").value = when;
      if (!form.querySelector("input[name=csrfmiddlewaretoken]").value) {
        form.querySelector("input[name=csrfmiddlewaretoken]").value = csrfToken();
      }
      dragged.classList.add("saving");
      dragged = null;
      form.submit();  // the server re-validates and shows the result or the error on the calendar
    });
  }

  // Exposed so the browser tests can compare the client count with the server's.
  window.PersonaStudio = { weightedLength: weightedLength, hashtagCount: hashtagCount };

  document.addEventListener("DOMContentLoaded", function () {
    initAutosubmit();
    initDropzones();
    initCounters();
    initReview();
    initCalendar();
  });
})();
