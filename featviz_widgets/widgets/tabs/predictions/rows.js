// The Predictions table (anywidget ESM): HTML made by Python, whose rows with a `data-pick` key
// are clicked to explain that class. Python escapes every text it puts in `value`.
//
// DOM contract (browser tests rely on it): `.featviz-prediction-rows`; one `tr[data-pick]` per
// clickable row (the key is the class index); clickable rows show a pointer cursor.

const STYLE = `
.featviz-prediction-rows tr[data-pick]{cursor:pointer}
.featviz-prediction-rows tr[data-pick]:hover{background:#eef3fb}
`;

function render({ model, el }) {
  const style = document.createElement("style");
  style.textContent = STYLE;
  const box = document.createElement("div");
  box.className = "featviz-prediction-rows";
  el.append(style, box);

  function build() {
    box.innerHTML = model.get("value");
    const tip = model.get("tip");
    for (const row of box.querySelectorAll("tr[data-pick]")) if (tip) row.title = tip;
  }

  function onClick(event) {
    const row = event.target.closest("tr[data-pick]");
    if (row && box.contains(row)) model.send({ event: "pick", key: row.dataset.pick });
  }

  box.addEventListener("click", onClick);
  model.on("change:value", build);
  model.on("change:tip", build);
  build();
  return () => {
    box.removeEventListener("click", onClick);
    model.off("change:value", build);
    model.off("change:tip", build);
  };
}

export default { render };
