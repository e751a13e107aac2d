// The mask editor: paint (brush) or erase over the image; undo; keyboard shortcuts. On submit the canvas becomes a
// black-and-white PNG of the image's own size (white = repaint) in the form's mask_data field.
(function () {
  "use strict";
  var form = document.getElementById("mask-form");
  var canvas = document.getElementById("mask-canvas");
  if (!form || !canvas) return;
  var ctx = canvas.getContext("2d");
  var size = document.getElementById("mask-size");
  var tool = "brush";
  var history = [];
  var drawing = false;
  var last = null;
  var HISTORY_MAX = 50;

  function setTool(name) {
    tool = name;
    form.querySelectorAll("[data-tool]").forEach(function (button) {
      button.setAttribute("aria-pressed", button.dataset.tool === name ? "true" : "false");
    });
  }

  function snapshot() {
    history.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (history.length > HISTORY_MAX) history.shift();
  }

  function undo() {
    var previous = history.pop();
    if (previous) ctx.putImageData(previous, 0, 0);
  }

  function clear() {
    snapshot();
    ctx.clearRect(0, 0, canvas.width, canvas.height);
  }

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height),
    };
  }

  function stroke(from, to) {
    var box = canvas.getBoundingClientRect();
    ctx.globalCompositeOperation = tool === "eraser" ? "destination-out" : "source-over";
    ctx.strokeStyle = "rgba(255, 64, 64, 1)";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = Number(size.value) * (canvas.width / box.width);
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x + 0.01, to.y);
    ctx.stroke();
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    snapshot();
    drawing = true;
    last = point(event);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    var next = point(event);
    stroke(last, next);
    last = next;
  });
  ["pointerup", "pointercancel", "pointerleave"].forEach(function (name) {
    canvas.addEventListener(name, function () { drawing = false; });
  });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-tool], button[data-action]");
    if (!button) return;
    if (button.dataset.tool) setTool(button.dataset.tool);
    if (button.dataset.action === "undo") undo();
    if (button.dataset.action === "clear") clear();
  });

  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, textarea, select")) return;
    var key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") { event.preventDefault(); undo(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "b") setTool("brush");
    else if (key === "e") setTool("eraser");
    else if (key === "c") clear();
    else if (key === "[") size.value = Math.max(Number(size.min), Number(size.value) - 4);
    else if (key === "]") size.value = Math.min(Number(size.max), Number(size.value) + 4);
  });

  form.addEventListener("submit", function () {
    // The painted strokes (any alpha) become white on black, at the image's own size.
    var out = document.createElement("canvas");
    out.width = canvas.width;
    out.height = canvas.height;
    var octx = out.getContext("2d");
    var painted = ctx.getImageData(0, 0, canvas.width, canvas.height);
    var mask = octx.createImageData(canvas.width, canvas.height);
    for (var i = 0; i < painted.data.length; i += 4) {
      var value = painted.data[i + 3] >= 128 ? 255 : 0;
      mask.data[i] = mask.data[i + 1] = mask.data[i + 2] = value;
      mask.data[i + 3] = 255;
    }
    octx.putImageData(mask, 0, 0);
    document.getElementById("mask-data").value = out.toDataURL("image/png");
  });
})();
