// The DL tools web labeller: plain JavaScript, no build step. The server owns the truth: a stroke is shown as
// drawn at once, and as saved when the server has written it to disk (the stroke overlay is then reloaded from it).
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");

// everything the page knows; window.labeller lets the browser tests look at it
const S = {
  config: null, images: [], name: null, info: null,
  classIndex: 0, eraser: false, pen: 8, opacity: 0.5,
  view: { scale: 1, x: 0, y: 0 },          // screen = view.x + display px * view.scale
  display: null, strokesImage: null, resultImage: null,
  drawing: null, pending: [],               // the stroke being drawn; strokes sent, not yet saved
  queue: Promise.resolve(), unsaved: 0,     // requests that change the strokes go one after the other
  panning: null, space: false, lastJob: null, jobState: "",
};
window.labeller = S;

function url(path, extra = {}) {
  const query = new URLSearchParams(extra);
  if (token) query.set("token", token);
  const text = query.toString();
  return path + (text ? "?" + text : "");
}

async function api(method, path, body) {
  const post = method === "POST";  // the server takes JSON only: no other site's page can send it
  const response = await fetch(url(path), {
    method, headers: post ? { "Content-Type": "application/json" } : {},
    body: post ? JSON.stringify(body || {}) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  if (!response.ok) {
    const error = new Error(data.error || `${response.status} ${response.statusText}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

function loadImage(path, extra) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`could not load ${path}`));
    image.src = url(path, extra);
  });
}

const imagePath = (name, tail = "") => `api/images/${encodeURIComponent(name)}${tail}`;
const setStatus = (text) => { $("status").textContent = text; };
function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

// ---------- the image list
async function refreshList() {
  S.images = await api("GET", "api/images");
  const list = $("images");
  list.replaceChildren(...S.images.map((item) => {
    const li = document.createElement("li");
    li.dataset.name = item.name;
    li.dataset.state = item.state;
    li.className = item.name === S.name ? "current" : "";
    li.title = item.name;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = item.state;
    li.append(state, item.name);
    li.onclick = () => openImage(item.name);
    return li;
  }));
}

// ---------- one image
async function openImage(name) {
  await S.queue;
  showError("");
  setStatus(`opening ${name}...`);
  try {
    let display;
    try {
      display = await loadImage(imagePath(name, "/display.jpg"));  // first: it reads the image (and the prior)
    } catch (error) {
      await api("GET", imagePath(name));  // says why, when the server knows (an unreadable image, ...)
      throw error;
    }
    const info = await api("GET", imagePath(name));
    S.name = name;
    S.info = info;
    S.display = display;
    S.pending = [];
    S.resultImage = null;
    S.lastJob = null;
    await reloadStrokes();
    if (info.result) await reloadResult();
    fit();
    await refreshList();
    setStatus(`${name}: ${info.width} x ${info.height} px, ${info.strokes} strokes`);
  } catch (error) {
    showError(error);
  }
}

async function reloadStrokes() {
  S.strokesImage = await loadImage(imagePath(S.name, "/strokes.png"), { rev: `${S.info.revision}-${Date.now()}` });
  draw();
}

async function reloadResult() {
  try {
    S.resultImage = await loadImage(imagePath(S.name, "/result.png"), { t: Date.now() });
  } catch (error) {
    S.resultImage = null;
  }
  draw();
}

// ---------- view: fit, zoom, pan
function fit() {
  resizeCanvas();
  if (!S.display) return;
  const scale = Math.min(canvas.width / S.display.width, canvas.height / S.display.height);
  S.view = { scale, x: (canvas.width - S.display.width * scale) / 2, y: (canvas.height - S.display.height * scale) / 2 };
  draw();
}

function resizeCanvas() {
  const box = canvas.getBoundingClientRect();
  if (canvas.width !== Math.round(box.width) || canvas.height !== Math.round(box.height)) {
    canvas.width = Math.round(box.width);
    canvas.height = Math.round(box.height);
  }
}

function zoomAt(screenX, screenY, factor) {
  const v = S.view;
  const scale = Math.min(64, Math.max(0.02, v.scale * factor));
  v.x = screenX - (screenX - v.x) * (scale / v.scale);
  v.y = screenY - (screenY - v.y) * (scale / v.scale);
  v.scale = scale;
  draw();
}

// full-size pixel <-> position in the canvas (CSS px)
function toFull(offsetX, offsetY) {
  const f = S.info.factor;
  const x = Math.floor((offsetX - S.view.x) / S.view.scale / f);
  const y = Math.floor((offsetY - S.view.y) / S.view.scale / f);
  return [x, y];
}

S.toScreen = (x, y) => {  // full-size pixel -> page coordinates (for the tests)
  const box = canvas.getBoundingClientRect();
  const f = S.info.factor;
  return [box.left + S.view.x + (x + 0.5) * f * S.view.scale, box.top + S.view.y + (y + 0.5) * f * S.view.scale];
};

// ---------- drawing
function colorOf(classIndex) {
  if (classIndex < 0) return "rgba(255,255,255,0.9)";
  const [r, g, b] = S.config.colors[classIndex];
  return `rgb(${r},${g},${b})`;
}

function paintStroke(stroke) {
  const f = S.info.factor;
  ctx.strokeStyle = colorOf(stroke.class);
  ctx.fillStyle = colorOf(stroke.class);
  ctx.lineWidth = Math.max(stroke.width * f, 1 / S.view.scale);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  const [first, ...rest] = stroke.points;
  ctx.moveTo((first[0] + 0.5) * f, (first[1] + 0.5) * f);
  if (!rest.length) ctx.lineTo((first[0] + 0.5) * f + 0.01, (first[1] + 0.5) * f);
  for (const [x, y] of rest) ctx.lineTo((x + 0.5) * f, (y + 0.5) * f);
  ctx.stroke();
}

function draw() {
  resizeCanvas();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!S.display) return;
  ctx.setTransform(S.view.scale, 0, 0, S.view.scale, S.view.x, S.view.y);
  ctx.imageSmoothingEnabled = S.view.scale < 1;
  ctx.drawImage(S.display, 0, 0);
  ctx.imageSmoothingEnabled = false;
  if (S.resultImage && S.opacity > 0) {
    ctx.globalAlpha = S.opacity;
    ctx.drawImage(S.resultImage, 0, 0);
    ctx.globalAlpha = 1;
  }
  if (S.strokesImage) ctx.drawImage(S.strokesImage, 0, 0);
  for (const stroke of S.pending) paintStroke(stroke);
  if (S.drawing) paintStroke(S.drawing);
}

function penWidth() {  // the pen's size on screen, in full-size pixels
  return Math.max(1, Math.round(S.pen / (S.view.scale * S.info.factor)));
}

function clampPoint([x, y]) {
  return [Math.min(Math.max(x, 0), S.info.width - 1), Math.min(Math.max(y, 0), S.info.height - 1)];
}

canvas.addEventListener("contextmenu", (event) => event.preventDefault());
canvas.addEventListener("pointerdown", (event) => {
  if (!S.info) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  if (event.button === 1 || event.button === 2 || S.space) {
    S.panning = { x: event.offsetX, y: event.offsetY };
    return;
  }
  if (event.button !== 0) return;
  S.drawing = { class: S.eraser ? S.config.eraser : S.classIndex, width: penWidth(),
                points: [clampPoint(toFull(event.offsetX, event.offsetY))] };
  draw();
});
canvas.addEventListener("pointermove", (event) => {
  if (S.panning) {
    S.view.x += event.offsetX - S.panning.x;
    S.view.y += event.offsetY - S.panning.y;
    S.panning = { x: event.offsetX, y: event.offsetY };
    draw();
  } else if (S.drawing) {
    const point = clampPoint(toFull(event.offsetX, event.offsetY));
    const last = S.drawing.points[S.drawing.points.length - 1];
    if (point[0] !== last[0] || point[1] !== last[1]) {
      S.drawing.points.push(point);
      draw();
    }
  }
});
function endPointer() {
  S.panning = null;
  if (!S.drawing) return;
  const stroke = S.drawing;
  S.drawing = null;
  sendStroke(stroke);
}
canvas.addEventListener("pointerup", endPointer);
canvas.addEventListener("pointercancel", endPointer);
canvas.addEventListener("wheel", (event) => {
  event.preventDefault();
  zoomAt(event.offsetX, event.offsetY, event.deltaY < 0 ? 1.2 : 1 / 1.2);
}, { passive: false });
window.addEventListener("resize", () => draw());

// ---------- requests that change the strokes: one after the other, in order
function enqueue(label, work) {
  S.unsaved += 1;
  setStatus(`saving (${S.unsaved} waiting)...`);
  S.queue = S.queue.then(async () => {
    try {
      await work();
      showError("");
    } catch (error) {
      showError(error);
    } finally {
      S.unsaved -= 1;
      if (!S.unsaved) setStatus(`${S.name}: every stroke saved (${S.info.strokes} strokes)`);
    }
  });
  return S.queue;
}

function applyState(state) {
  Object.assign(S.info, state);
  $("undo").disabled = !state.can_undo;
  $("redo").disabled = !state.can_redo;
}

function sendStroke(stroke) {
  const name = S.name;
  S.pending.push(stroke);
  draw();
  enqueue("stroke", async () => {
    try {
      const state = await api("POST", imagePath(name, "/strokes"), stroke);
      if (name === S.name) {
        applyState(state);
        await reloadStrokes();
      }
      const listed = S.images.find((item) => item.name === name);
      if (listed && listed.state === "to do") await refreshList();  // now "started"
    } finally {
      S.pending = S.pending.filter((s) => s !== stroke);
      draw();
    }
  });
}

function undoRedo(which) {
  const name = S.name;
  if (!name) return;
  enqueue(which, async () => {
    const state = await api("POST", imagePath(name, `/${which}`));
    if (name === S.name) {
      applyState(state);
      await reloadStrokes();
    }
  });
}

// ---------- compute and save
async function follow(job) {
  S.lastJob = job;
  while (job.state === "queued" || job.state === "running") {
    S.jobState = job.state;
    setStatus(`${job.kind} of ${job.image}: ${job.state}...`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    job = await api("GET", `api/jobs/${job.job}`);
    if (S.lastJob && S.lastJob.job !== job.job) return job;  // a newer request took over
    S.lastJob = job;
  }
  S.jobState = job.state;
  return job;
}

async function compute() {
  if (!S.name) return;
  await S.queue;
  const name = S.name;
  try {
    const job = await follow(await api("POST", imagePath(name, "/compute")));
    if (job.state === "failed") throw new Error(job.error);
    if (job.state === "done" && name === S.name && S.lastJob.job === job.job) {
      await reloadResult();
      const warnings = job.warnings && job.warnings.length ? ` (${job.warnings.join("; ")})` : "";
      setStatus(`labels computed in ${job.seconds.toFixed(1)} s${warnings}`);
      showError("");
    }
  } catch (error) {
    showError(error);
  }
}

async function save() {
  if (!S.name) return;
  await S.queue;
  const name = S.name;
  setStatus(`saving the labels of ${name}...`);
  S.jobState = "running";
  let result;
  try {
    try {
      result = await api("POST", imagePath(name, "/save"), { overwrite: false });
    } catch (error) {
      if (error.status !== 409) throw error;
      if (!window.confirm(`${error.message}.\n\nReplace the existing labels of ${name}?`)) {
        S.jobState = "";
        setStatus("not saved: the existing labels are kept");
        return;
      }
      result = await api("POST", imagePath(name, "/save"), { overwrite: true });
    }
  } catch (error) {
    S.jobState = "failed";
    showError(error);
    setStatus("not saved");
    return;
  }
  S.lastSave = result;
  showError("");
  await refreshList();
  const index = S.images.findIndex((item) => item.name === name);
  const next = S.images.slice(index + 1).concat(S.images.slice(0, index)).find((item) => item.state !== "labelled");
  if (next) await openImage(next.name);
  else await reloadResult();
  setStatus(`saved ${result.outputs.join(", ")}` + (next ? `; now ${next.name}` : "; every image is labelled"));
  S.jobState = "saved";
}

// ---------- tools
function selectClass(index) {
  S.classIndex = index;
  S.eraser = false;
  document.querySelectorAll("#classes button").forEach((b, i) => b.classList.toggle("active", i === index));
  $("eraser").classList.remove("active");
}

function selectEraser() {
  S.eraser = true;
  document.querySelectorAll("#classes button").forEach((b) => b.classList.remove("active"));
  $("eraser").classList.add("active");
}

function setPen(size) {
  S.pen = Math.min(60, Math.max(1, size));
  $("pen").value = S.pen;
  $("pen-size").textContent = S.pen;
}

function buildTools() {
  $("classes").replaceChildren(...S.config.labels.map((label, index) => {
    const button = document.createElement("button");
    button.id = `class-${index}`;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorOf(index);
    const key = document.createElement("kbd");
    key.textContent = S.config.keys[index] || "";
    button.append(swatch, label, key);
    button.onclick = () => selectClass(index);
    return button;
  }));
  selectClass(0);
  $("eraser").onclick = selectEraser;
  $("pen").oninput = () => setPen(Number($("pen").value));
  $("undo").onclick = () => undoRedo("undo");
  $("redo").onclick = () => undoRedo("redo");
  $("fit").onclick = fit;
  $("compute").onclick = compute;
  $("save").onclick = save;
  $("opacity").oninput = () => { S.opacity = Number($("opacity").value) / 100; draw(); };
}

document.addEventListener("keydown", (event) => {
  if (event.target.tagName === "INPUT" && event.target.type !== "range") return;
  const key = event.key;
  if (key === " ") { S.space = true; event.preventDefault(); return; }
  if ((event.ctrlKey || event.metaKey) && (key === "y" || key === "Z")) { undoRedo("redo"); event.preventDefault(); return; }
  if ((event.ctrlKey || event.metaKey) && key === "z") { undoRedo("undo"); event.preventDefault(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const index = S.config.keys.indexOf(key);
  if (index >= 0) selectClass(index);
  else if (key === "0") selectEraser();
  else if (key === "z") undoRedo("undo");
  else if (key === "Z") undoRedo("redo");
  else if (key === "[") setPen(S.pen - 1);
  else if (key === "]") setPen(S.pen + 1);
  else if (key === "c") compute();
  else if (key === "s") save();
  else if (key === "f") fit();
});
document.addEventListener("keyup", (event) => { if (event.key === " ") S.space = false; });
window.addEventListener("beforeunload", (event) => {
  if (S.unsaved || S.drawing) { event.preventDefault(); event.returnValue = ""; }
});

async function start() {
  try {
    S.config = await api("GET", "api/config");
    buildTools();
    await refreshList();
    const first = S.images.find((item) => item.state !== "labelled") || S.images[0];
    if (first) await openImage(first.name);
    S.ready = true;
  } catch (error) {
    showError(error);
    setStatus("could not start: see the message above");
  }
}

start();
