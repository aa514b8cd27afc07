// The Layers tab's table (anywidget ESM): one row per layer; a click on a row asks Python to show
// that layer. Python sends the rows as data (`rows`: [key or "", ...cells] each) and the current
// layer (`selected`). The table is built once per `rows` change; a layer change only moves the
// `fvz-on` class, so a model with hundreds of layers stays quick.
//
// DOM contract (browser tests rely on it): `table.featviz-layers-table`; one `tr[data-key]` per
// row with a capture key (a module that did not run has none and takes no click); the current
// layer's row has class `fvz-on`; clickable rows show a pointer cursor.

const STYLE = `
.featviz-layers-box{max-height:520px;overflow:auto;position:relative}
.featviz-layers-table{border-collapse:collapse;font-family:monospace;font-size:12px}
.featviz-layers-table th,.featviz-layers-table td{padding:2px 10px;text-align:left;
  border-bottom:1px solid #ddd}
.featviz-layers-table th{position:sticky;top:0;background:var(--jp-layout-color1,#fff)}
.featviz-layers-table tr[data-key]{cursor:pointer}
.featviz-layers-table tr[data-key]:hover{background:#eef3fb}
.featviz-layers-table tr.fvz-on,.featviz-layers-table tr.fvz-on:hover{background:#fff3c4}
.featviz-layers-table tr:not([data-key]){color:#888}
`;

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = STYLE;
  const box = document.createElement("div");
  box.className = "featviz-layers-box";
  el.append(style, box);
  let rowOf = new Map();
  let lit = null;

  function reveal(row) {
    // Scroll the table's own box, never the page, so that the row is in view.
    const top = row.offsetTop;
    const bottom = top + row.offsetHeight;
    if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
      box.scrollTop = Math.max(0, top - box.clientHeight / 2);
    }
  }

  function highlight() {
    const row = rowOf.get(model.get("selected")) || null;
    if (row === lit) return;
    if (lit) lit.classList.remove("fvz-on");
    if (row) {
      row.classList.add("fvz-on");
      reveal(row);
    }
    lit = row;
  }

  function build() {
    const table = document.createElement("table");
    table.className = "featviz-layers-table";
    const head = table.createTHead().insertRow();
    for (const title of model.get("header")) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    const body = table.createTBody();
    const tip = model.get("tip");
    rowOf = new Map();
    for (const [key, ...cells] of model.get("rows")) {
      const tr = body.insertRow();
      for (const cell of cells) tr.insertCell().textContent = cell;
      if (key) {
        tr.dataset.key = key;
        if (tip) tr.title = tip;
        rowOf.set(key, tr);
      }
    }
    box.replaceChildren(table);
    lit = null;
    highlight();
  }

  function onClick(event) {
    const row = event.target.closest("tr[data-key]");
    if (row && box.contains(row)) model.send({ event: "pick", key: row.dataset.key });
  }

  box.addEventListener("click", onClick);
  model.on("change:rows", build);
  model.on("change:header", build);
  model.on("change:tip", build);
  model.on("change:selected", highlight);
  build();
  return () => {
    box.removeEventListener("click", onClick);
    model.off("change:rows", build);
    model.off("change:header", build);
    model.off("change:tip", build);
    model.off("change:selected", highlight);
  };
}

export default { render };
