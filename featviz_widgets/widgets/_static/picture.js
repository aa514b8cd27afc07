// The explorer's picture: a PNG with hover readouts and click / key selection (anywidget ESM).
//
// Python sends the PNG (`value`), where its tiles are (`geometry`, PNG pixels) and the few words
// the tooltip needs (`words`, already in the explorer's language). Hover is answered here with no
// kernel round trip: the tile's channel, mean and max come with the geometry, and the value under
// the pointer from a float16 copy of the picture's values, asked for once on the first
// pointer-enter (readout "local"), or asked of the kernel at each move (readout "kernel").
// Clicks, double-clicks and keys go to Python as custom messages; Python moves the selection.
//
// DOM contract (browser tests rely on it): root `.featviz-picture` (tabindex 0) holding
// `img.featviz-picture-img` (a blob: URL) and `.featviz-tooltip` (hidden when not hovering).

function half(bits) {
  // IEEE 754 binary16 -> number (Float16Array is not in every browser yet)
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function short(x) {
  // three significant digits, like Python's "{:.3g}" (0.31, 2.1, 1.23e+05)
  if (x === null || x === undefined) return "?";
  if (!Number.isFinite(x)) return String(x);
  const text = x.toPrecision(3);
  return text.includes("e") ? text : String(parseFloat(text));
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "featviz-picture";
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // arrows stay ours in JupyterLab
  const img = document.createElement("img");
  img.className = "featviz-picture-img";
  img.draggable = false;
  img.alt = "";
  const tip = document.createElement("div");
  tip.className = "featviz-tooltip";
  tip.hidden = true;
  root.append(img, tip);
  el.appendChild(root);

  let url = null;
  let values = null; // Uint16Array of float16 bits, tile after tile
  let valuesVersion = -1;
  let askedVersion = -1;
  let seq = 0; // kernel readout: the last request sent
  let inFlight = false;
  let pending = null;
  let hovered = null; // {tile, row, col} under the pointer

  const geometry = () => model.get("geometry") || {};

  function showPng() {
    const png = model.get("value");
    const old = url;
    url = png && png.byteLength ? URL.createObjectURL(new Blob([png], { type: "image/png" })) : null;
    if (url) img.src = url;
    else img.removeAttribute("src");
    if (old) URL.revokeObjectURL(old);
  }

  function onGeometry() {
    values = null;
    hovered = null;
    tip.hidden = true;
    const g = geometry();
    img.style.cursor = g.click === "select" ? "pointer" : g.tiles && g.tiles.length ? "crosshair" : "";
  }

  function locate(event) {
    // the pointer in PNG pixels, and the tile it is over (null on a separator or outside)
    const g = geometry();
    const box = img.getBoundingClientRect();
    if (!g.tiles || !box.width || !img.naturalWidth) return null;
    const x = ((event.clientX - box.left) * img.naturalWidth) / box.width;
    const y = ((event.clientY - box.top) * img.naturalHeight) / box.height;
    for (let i = 0; i < g.tiles.length; i++) {
      const [tx, ty, tw, th] = g.tiles[i];
      if (x >= tx && x < tx + tw && y >= ty && y < ty + th) {
        const cells = g.cells;
        const row = cells ? Math.floor(((y - ty) * cells[0]) / th) : 0;
        const col = cells ? Math.floor(((x - tx) * cells[1]) / tw) : 0;
        return { tile: i, row, col, x: event.clientX - box.left, y: event.clientY - box.top };
      }
    }
    return null;
  }

  function localValue(at) {
    const g = geometry();
    if (!values || valuesVersion !== g.version || !g.cells) return undefined;
    const per = g.cells[0] * g.cells[1];
    return half(values[at.tile * per + at.row * g.cells[1] + at.col]);
  }

  function describe(at, value) {
    const g = geometry();
    const w = model.get("words") || {};
    const channel = g.channels ? g.channels[at.tile] : null;
    const unnamed = channel === null || channel === undefined;
    // A titled picture (a class's attribution) names its title; a map without a channel is a sum.
    const parts = [g.title ? g.title : unnamed ? w.sum : `${w.channel} ${channel}`];
    if (g.means) parts.push(`${w.mean} ${short(g.means[at.tile])}`);
    if (g.maxes) parts.push(`${w.max} ${short(g.maxes[at.tile])}`);
    if (g.cells) parts.push(`${w.value} ${value === undefined ? "…" : short(value)}`);
    return parts.join(" · ");
  }

  function place(at, value) {
    tip.textContent = describe(at, value);
    tip.dataset.state = value === undefined && geometry().cells ? "pending" : "ready";
    tip.hidden = false;
    const room = root.clientWidth - tip.offsetWidth - 4;
    tip.style.left = `${Math.max(0, Math.min(at.x + 12, room))}px`;
    tip.style.top = `${Math.max(0, at.y + 14)}px`;
  }

  function askValues() {
    const g = geometry();
    if (model.get("readout") !== "local" || !g.cells) return;
    if (valuesVersion === g.version || askedVersion === g.version) return;
    askedVersion = g.version;
    model.send({ event: "values", version: g.version });
  }

  function askKernel(at) {
    const g = geometry();
    const request = { event: "read", version: g.version, tile: at.tile, row: at.row, col: at.col };
    if (inFlight) {
      pending = request;
      return;
    }
    inFlight = true;
    request.seq = ++seq;
    model.send(request);
  }

  function onMove(event) {
    const at = locate(event);
    if (!at) {
      hovered = null;
      tip.hidden = true;
      return;
    }
    const g = geometry();
    const last = hovered;
    const moved = !last || last.tile !== at.tile || last.row !== at.row || last.col !== at.col;
    hovered = at;
    if (model.get("readout") === "kernel" && g.cells) {
      if (moved) askKernel(at);
      else at.value = last.value;
      place(at, at.value);
      return;
    }
    askValues();
    place(at, localValue(at));
  }

  function onMessage(msg, buffers) {
    const g = geometry();
    if (msg.event === "values" && msg.version === g.version && buffers && buffers.length) {
      const view = buffers[0];
      const bytes = view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength);
      values = new Uint16Array(bytes);
      valuesVersion = msg.version;
      if (hovered) place(hovered, localValue(hovered));
    } else if (msg.event === "value") {
      inFlight = false;
      if (pending) {
        const next = pending;
        pending = null;
        inFlight = true;
        next.seq = ++seq;
        model.send(next);
      } else if (hovered && msg.seq === seq && msg.version === g.version) {
        hovered.value = msg.value === null ? NaN : msg.value;
        place(hovered, hovered.value);
      }
    }
  }

  function onClick(event) {
    root.focus({ preventScroll: true }); // arrows work at once after a click
    const at = locate(event);
    const g = geometry();
    if (at && g.click === "select" && g.channels && g.channels[at.tile] !== null) {
      model.send({ event: "pick", channel: g.channels[at.tile], tile: at.tile });
    }
  }

  function onKey(event) {
    const g = geometry();
    const rows = g.cols || 1;
    const steps = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -rows, ArrowDown: rows };
    if (event.key === "Escape") model.send({ event: "back" });
    else if (event.key in steps) model.send({ event: "step", by: steps[event.key] });
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  const hide = () => {
    hovered = null;
    tip.hidden = true;
  };
  const back = (event) => {
    event.preventDefault();
    model.send({ event: "back" });
  };
  root.addEventListener("pointermove", onMove);
  root.addEventListener("pointerenter", askValues);
  root.addEventListener("pointerleave", hide);
  root.addEventListener("click", onClick);
  root.addEventListener("dblclick", back);
  root.addEventListener("keydown", onKey);
  model.on("change:value", showPng);
  model.on("change:geometry", onGeometry);
  model.on("msg:custom", onMessage);
  showPng();
  onGeometry();
  return () => {
    model.off("change:value", showPng);
    model.off("change:geometry", onGeometry);
    model.off("msg:custom", onMessage);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
