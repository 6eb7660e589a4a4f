// The page of `udfs web`: build the detector form from /api/detectors, submit, poll, show.
"use strict";
const $ = (id) => document.getElementById(id);
const token = () => $("token").value || sessionStorage.getItem("udfs-token") || "";
const headers = () => (token() ? {Authorization: "Bearer " + token()} : {});

async function api(path, options = {}) {
  const answer = await fetch(path, {...options, headers: {...headers(), ...(options.headers || {})}});
  if (!answer.ok) {
    let detail = answer.statusText;
    try { detail = (await answer.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${answer.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return answer;
}

function optionInput(udf, opt) {
  const id = `opt-${udf}-${opt.name}`;
  const label = document.createElement("label");
  label.title = `${opt.help} (${opt.accepts})`;
  label.append(opt.name + " ");
  let input;
  if (opt.kind === "bool") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = opt.default === true;
  } else if (opt.kind === "choice") {
    input = document.createElement("select");
    for (const c of opt.choices) input.add(new Option(c, c, false, c === opt.default));
  } else {
    input = document.createElement("input");
    if (opt.kind === "int" || opt.kind === "float") {
      input.type = "number";
      input.step = opt.kind === "int" ? "1" : "any";
      if (opt.low !== null) input.min = opt.low;
      if (opt.high !== null) input.max = opt.high;
    } else input.type = "text";
    input.value = opt.default === null || opt.default === undefined ? "" : String(opt.default);
  }
  input.id = id;
  input.dataset.option = opt.name;
  input.dataset.kind = opt.kind;
  input.dataset.default = JSON.stringify(opt.default);
  label.appendChild(input);
  return label;
}

async function loadDetectors() {
  const list = await (await api("/api/detectors")).json();
  const box = $("detectors");
  box.innerHTML = "<legend>Detectors</legend>";
  for (const det of list) {
    if (det.wants !== "stream") continue;  // batch UDFs need a period; use the CLI for those
    const div = document.createElement("div");
    div.className = "detector";
    div.dataset.detector = det.name;
    const check = document.createElement("input");
    check.type = "checkbox";
    check.id = `det-${det.name}`;
    check.name = "detector";
    check.value = det.name;
    check.addEventListener("change", () => div.classList.toggle("on", check.checked));
    const label = document.createElement("label");
    label.htmlFor = check.id;
    label.innerHTML = `<b>${det.name}</b> <span class="help"></span>`;
    label.querySelector(".help").textContent = det.summary;
    const opts = document.createElement("div");
    opts.className = "opts";
    for (const opt of det.options) if (opt.name !== "field") opts.appendChild(optionInput(det.name, opt));
    div.append(check, " ", label, opts);
    box.appendChild(div);
  }
}

async function loadConfig() {
  $("influx_url").innerHTML = "";
  try {
    const config = await (await api("/api/config")).json();
    for (const url of config.influx_urls) $("influx_url").add(new Option(url, url));
    if (!config.influx_urls.length) { $("source-influx").disabled = true; $("influx_url").disabled = true; }
  } catch (e) { /* token missing: the form still works once given */ }
}

function chosenDetectors() {
  const out = [];
  for (const div of document.querySelectorAll(".detector")) {
    if (!div.querySelector("input[name=detector]").checked) continue;
    const options = {};
    for (const input of div.querySelectorAll("[data-option]")) {
      const def = JSON.parse(input.dataset.default);
      if (input.type === "checkbox") {
        if (input.checked !== (def === true)) options[input.dataset.option] = input.checked ? "true" : "false";
      } else if (input.value !== "" && input.value !== String(def)) options[input.dataset.option] = input.value;
    }
    out.push({name: div.dataset.detector, options});
  }
  return out;
}

function showResult(state) {
  const r = state.result;
  const body = $("table").querySelector("tbody");
  body.innerHTML = "";
  const rows = r.detectors.map((d) => [d.label, d.options.join(", "), d.count, d.first, d.window_hits]);
  rows.push([`consensus (${r.consensus.rule})`, "", r.consensus.count, r.consensus.first, r.consensus.window_hits]);
  for (const [label, options, count, first, hits] of rows) {
    const tr = body.insertRow();
    const shown = hits ? `${hits.filter((h) => h !== null).length}/${hits.length}` : "-";
    for (const text of [label, options, count, first || "-", shown]) tr.insertCell().textContent = String(text);
  }
  $("json-link").href = URL.createObjectURL(new Blob([JSON.stringify(r, null, 1)], {type: "application/json"}));
  $("results").hidden = false;
  return Promise.all([
    api(state.plot_png).then((a) => a.blob()).then((b) => { $("plot").src = URL.createObjectURL(b); }),
    api(state.plot_html).then((a) => a.blob()).then((b) => { $("html-link").href = URL.createObjectURL(b); }),
  ]);
}

async function run(event) {
  event.preventDefault();
  const status = $("status");
  status.className = "";
  if (token()) sessionStorage.setItem("udfs-token", token());
  const detectors = chosenDetectors();
  if (!detectors.length) { status.textContent = "choose at least one detector"; return; }
  const form = new FormData();
  form.append("detectors", JSON.stringify(detectors));
  for (const id of ["consensus", "field", "group_by", "span"]) form.append(id, $(id).value);
  if (document.querySelector("input[name=source]:checked").value === "influx") {
    for (const id of ["influx_url", "database", "measurement", "where", "start", "stop", "query"]) {
      form.append(id, $(id).value);
    }
  } else {
    if (!$("file").files.length) { status.textContent = "choose a file to upload"; return; }
    form.append("file", $("file").files[0]);
    form.append("format", $("format").value);
  }
  $("run").disabled = true;
  try {
    let state = await (await api("/api/analyses", {method: "POST", body: form})).json();
    while (state.status === "queued" || state.status === "running") {
      status.textContent = `${state.status}...`;
      await new Promise((done) => setTimeout(done, 500));
      state = await (await api(`/api/analyses/${state.id}`)).json();
    }
    if (state.status === "failed") throw new Error(state.error);
    status.textContent = `done in ${state.seconds}s`;
    await showResult(state);
  } catch (e) {
    status.className = "failed";
    status.textContent = e.message;
  } finally {
    $("run").disabled = false;
  }
}

$("form").addEventListener("submit", run);
$("token").value = sessionStorage.getItem("udfs-token") || "";
function loadForm() {
  loadDetectors().catch((e) => {
    $("detectors").innerHTML = "<legend>Detectors</legend><p class=help></p>";
    $("detectors").querySelector("p").textContent = "cannot load detectors: " + e.message
      + (e.message.startsWith("401") ? " (enter the token)" : "");
  });
  loadConfig();
}
$("token").addEventListener("change", () => { sessionStorage.setItem("udfs-token", $("token").value); loadForm(); });
loadForm();
