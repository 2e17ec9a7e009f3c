/* panelgate console: the small script layer over the station's JSON API (/api/...).
 *
 * htmx renders the worklist, the manual-entry check and the live fragments (state,
 * images) pushed over server-sent events from /console/events. This script keeps the
 * exam being prepared, drives the two-stage exposure control (Prepare, then Expose;
 * Abort always), paints the preview on a canvas with window/level and zoom, and sends
 * accept / reject / retry. Patient data goes only in request bodies, never in URLs.
 * No build step, no network beyond the station.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const ui = {
    patient: null,          // {source, accession, id, name, birth_date, sex}
    prepared: false,        // the station holds this exam (POST /api/exam answered 200)
    inFlight: false,        // a request of the exposure control is under way
    madeForStep: {},        // step key -> images made (a second one asks for a reason)
    repeatReason: "",
    image: null,            // {uid, delivered}
    source: null,           // the preview's 8-bit luminance, for window/level
  };
  window.pgConsole = ui;    // read by the tests and the benchmark

  // -- live state (fragments swapped by htmx from /console/events) ---------------------
  function live() {
    const el = $("live");
    const d = el ? el.dataset : {};
    return {
      state: d.state || "",
      ready: d.ready === "true",
      calibrationValid: d.calibrationValid === "true",
      prepareOk: d.prepareOk === "true",
      busy: d.busy === "true",
      reason: d.reason || "",
    };
  }

  function stepKey() {
    const p = ui.patient;
    if (!p) return "";
    return (p.accession ? "acc:" + p.accession : "pid:" + p.id) + "|" + $("protocol").value;
  }

  function why(text) { const el = $("why"); if (el) el.textContent = text; }

  function refuse(text) {
    const el = $("refusal");
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  function update() {
    if (!$("prepare")) return;
    const s = live();
    const prepareOk = !!ui.patient && s.prepareOk && !ui.prepared && !ui.inFlight;
    const exposeOk = ui.prepared && s.state === "ready" && s.calibrationValid && !!ui.patient &&
                     !ui.inFlight;
    $("prepare").disabled = !prepareOk;
    $("expose").disabled = !exposeOk;
    if (!ui.patient) why("Select a patient from the worklist or enter one.");
    else if (!s.calibrationValid) why("Expose blocked: the calibration is not valid.");
    else if (!s.prepareOk && !s.busy) why("Not ready: " + (s.reason || "the room is not ready"));
    else if (ui.prepared && s.state === "ready") why("READY: Expose when the patient is positioned.");
    else if (s.busy || ui.inFlight) why("Exposure in progress: Abort (Esc) stops it.");
    else if (!ui.prepared) why("Check the patient, choose the protocol, then Prepare.");
    else if (s.state !== "ready") why("Waiting for the generator to be READY…");
    else why("READY: Expose when the patient is positioned.");
  }

  // -- the patient --------------------------------------------------------------------
  // Changing the patient or the technique while an exposure is held at READY releases it
  // (POST /api/abort): the exposure prepared is never fired for another patient.
  function releaseHeld() {
    if (!ui.prepared) return;
    ui.prepared = false;
    post("/api/abort").then(update);
  }

  function showPatient(p) {
    releaseHeld();
    ui.patient = p;
    $("pt-name").textContent = p ? p.name : "—";
    $("pt-id").textContent = p ? p.id : "—";
    $("pt-birth").textContent = p && p.birth_date ? p.birth_date : "—";
    $("pt-sex").textContent = p && p.sex ? p.sex : "—";
    $("pt-accession").textContent = p && p.accession ? p.accession : "unscheduled";
    refuse("");
    update();
  }

  document.addEventListener("click", (ev) => {
    const pick = ev.target.closest(".wl-pick");
    if (pick) {
      const d = pick.dataset;
      showPatient({ source: "worklist", accession: d.accession, id: d.id, name: d.name,
                    birth_date: d.birth, sex: d.sex });
      for (const row of document.querySelectorAll(".wl-row")) row.classList.remove("picked");
      pick.closest("tr").classList.add("picked");
      return;
    }
    const show = ev.target.closest(".img-show");
    if (show) { loadPreview(show.dataset.uid, null); return; }
    const retry = ev.target.closest(".retry");
    if (retry) { post(`/api/images/${retry.dataset.uid}/retry`, {}).then(reviewed); }
  });

  const search = $("wl-search");
  function filterWorklist() {
    if (!search) return;
    const q = search.value.trim().toLowerCase();
    for (const row of document.querySelectorAll(".wl-row")) {
      row.hidden = q !== "" && !row.dataset.search.includes(q);
    }
  }
  if (search) search.addEventListener("input", filterWorklist);

  function manualValid() {
    const check = $("manual-check");
    return !!check && check.dataset.valid === "true";
  }

  document.body.addEventListener("htmx:afterSwap", (ev) => {
    if (ev.target.id === "wl-body") filterWorklist();
    if (ev.target.id === "manual-problems" && $("manual-use")) {
      $("manual-use").disabled = !manualValid();
    }
  });

  if ($("manual-use")) {
    $("manual-form").addEventListener("input", () => { $("manual-use").disabled = true; });
    $("manual-use").addEventListener("click", () => {
      if (!manualValid()) return;
      const v = (id) => $(id).value;
      showPatient({ source: "manual", accession: "", id: v("m-id"), name: v("m-name"),
                    birth_date: v("m-birth_date"), sex: v("m-sex") });
    });
  }

  // -- protocol ------------------------------------------------------------------------
  if ($("protocol")) {
    $("protocol").addEventListener("change", () => {
      const opt = $("protocol").selectedOptions[0];
      $("kv").value = opt.dataset.kv;
      $("mas").value = opt.dataset.mas;
      releaseHeld();
      update();
    });
    for (const id of ["kv", "mas"]) {
      $(id).addEventListener("input", () => { releaseHeld(); update(); });
    }
  }

  // -- the station's API ----------------------------------------------------------------
  // With a login (station [[users]]) every state-changing request carries the session's
  // CSRF token (synchronizer token, readable cookie panelgate_csrf) in X-CSRF-Token.
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)panelgate_csrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  document.body.addEventListener("htmx:configRequest", (ev) => {
    const token = csrfToken();
    if (token) ev.detail.headers["X-CSRF-Token"] = token;
  });

  async function post(path, body) {
    const headers = { "Content-Type": "application/json" };
    const token = csrfToken();
    if (token) headers["X-CSRF-Token"] = token;
    const response = await fetch(path, {
      method: "POST",
      headers,
      body: body === undefined ? "" : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    return { ok: response.ok, status: response.status, data };
  }

  function refusalLine(r) {
    const line = r.data.error || ("HTTP " + r.status);
    if (r.data.exposed) return "EXPOSED, image kept locally: " + line;
    if (r.status === 409 || r.status === 422) return "Refused, nothing moved: " + line;
    return line;
  }

  function examBody() {
    const p = ui.patient;
    const body = { protocol: $("protocol").value, kv: Number($("kv").value),
                   mas: Number($("mas").value) };
    if (p.source === "worklist") body.accession = p.accession;
    else {
      body.patient = { id: p.id, name: p.name };
      if (p.birth_date) body.patient.birth_date = p.birth_date;
      if (p.sex) body.patient.sex = p.sex;
    }
    return body;
  }

  // Prepare = the hand switch's first stage: select the exam (POST /api/exam), then
  // POST /api/prepare, which returns once the generator is READY (the station holds the
  // exposure there). A second image for the same step needs a repeat reason (TG-305).
  function prepare() {
    if ($("prepare").disabled) return;
    const made = ui.madeForStep[stepKey()] || 0;
    if (made > 0) { askRepeatReason(); return; }
    ui.repeatReason = "";
    runPrepare();
  }

  function askRepeatReason() {
    const dialog = $("repeat-dialog");
    dialog.returnValue = "";
    dialog.showModal();
  }

  if ($("repeat-dialog")) {
    $("repeat-dialog").addEventListener("close", () => {
      if ($("repeat-dialog").returnValue !== "ok") return;
      ui.repeatReason = $("repeat-reason").value;
      runPrepare();
    });
  }

  async function runPrepare() {
    refuse("");
    ui.inFlight = true; update();
    try {
      const exam = await post("/api/exam", examBody());
      if (!exam.ok) { refuse(refusalLine(exam)); return; }
      const r = await post("/api/prepare", { repeat_reason: ui.repeatReason });
      if (r.ok) { ui.prepared = true; return; }
      if (r.status === 422 && r.data.field === "repeat_reason") {
        ui.madeForStep[stepKey()] = Math.max(1, ui.madeForStep[stepKey()] || 0);
        refuse(refusalLine(r));
        askRepeatReason();
        return;
      }
      refuse(refusalLine(r));
    } finally { ui.inFlight = false; update(); }
  }

  // Expose = the second stage: fire the exposure held at READY; the answer is the image.
  async function expose() {
    if ($("expose").disabled) return;
    refuse("");
    ui.inFlight = true; update();
    const key = stepKey();
    try {
      const r = await post("/api/expose");
      ui.prepared = false;  // the next exposure is prepared again, as with the hand switch
      if (!r.ok) { refuse(refusalLine(r)); return; }
      ui.madeForStep[key] = (ui.madeForStep[key] || 0) + 1;
      loadPreview(r.data.sop_instance_uid, r.data.delivered);
    } finally { ui.inFlight = false; update(); }
  }

  async function abort() {
    const r = await post("/api/abort");
    ui.prepared = false;
    if (!r.ok) refuse(refusalLine(r));
    else if (r.data.aborted) refuse("Aborted.");
    update();
  }

  if ($("prepare")) {
    $("prepare").addEventListener("click", prepare);
    $("expose").addEventListener("click", expose);
    $("abort").addEventListener("click", abort);
  }

  // Keys: Alt+P Prepare, Alt+X Expose, Alt+A or Escape Abort (the buttons' own rules
  // apply: a disabled control does nothing). ev.code: the key, whatever the layout.
  const SHORTCUTS = { KeyP: "prepare", KeyX: "expose", KeyA: "abort" };
  document.addEventListener("keydown", (ev) => {
    if (!$("abort")) return;
    if (ev.key === "Escape" && !$("repeat-dialog").open) { ev.preventDefault(); abort(); return; }
    const id = ev.altKey && !ev.ctrlKey && !ev.metaKey ? SHORTCUTS[ev.code] : undefined;
    if (!id || $("repeat-dialog").open) return;
    ev.preventDefault();
    if (!$(id).disabled) $(id).click();
  });

  // -- preview -------------------------------------------------------------------------
  function paint() {
    const canvas = $("pv-canvas");
    if (!canvas || !ui.source) return;
    const { width, height, lum } = ui.source;
    const win = Number($("pv-window").value), level = Number($("pv-level").value);
    const lut = new Uint8ClampedArray(256);
    for (let v = 0; v < 256; v++) lut[v] = ((v - (level - win / 2)) / win) * 255;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(width, height);
    const px = out.data;
    for (let i = 0, j = 0; i < lum.length; i++, j += 4) {
      const g = lut[lum[i]];
      px[j] = g; px[j + 1] = g; px[j + 2] = g; px[j + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
  }

  function zoom() {
    const canvas = $("pv-canvas");
    if (canvas) canvas.style.transform = `scale(${$("pv-zoom").value})`;
  }

  function figure(id, text, cls) {
    const el = $(id);
    el.textContent = text;
    el.className = cls || "";
  }

  async function showFigures(uid, delivered) {
    figure("pv-uid", "…" + uid.slice(-8));
    if (delivered) figure("pv-technique", `${delivered.kv} kV / ${delivered.mas} mAs`);
    const response = await fetch("/api/images", { credentials: "same-origin" });
    if (!response.ok) return;
    const image = (await response.json()).find((i) => i.sop_instance_uid === uid);
    if (!image) return;
    const num = (v) => (typeof v === "number" ? v : null);
    const ei = num(image.ei ?? image.exposure_index);
    const di = num(image.di ?? image.deviation_index);
    const dap = num(image.dap_dgycm2);
    const band = di === null ? "" : Math.abs(di) <= 1 ? "green" : Math.abs(di) <= 3 ? "amber" : "red";
    figure("pv-ei", ei === null ? "—" : ei.toFixed(0));
    figure("pv-di", di === null ? "—" : (di >= 0 ? "+" : "") + di.toFixed(1), band ? "di di-" + band : "");
    figure("pv-dap", dap === null ? "—" : dap.toFixed(3) + " dGy·cm²");
    if (!delivered && image.delivered) {
      figure("pv-technique", `${image.delivered.kv} kV / ${image.delivered.mas} mAs`);
    }
    const pending = image.review === "pending";
    $("accept").disabled = !pending;
    $("reject").disabled = !pending;
  }

  function loadPreview(uid, delivered) {
    ui.image = { uid, delivered };
    const img = new Image();
    img.onload = () => {
      const canvas = $("pv-canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const scratch = document.createElement("canvas");
      scratch.width = img.naturalWidth; scratch.height = img.naturalHeight;
      const sctx = scratch.getContext("2d", { willReadFrequently: true });
      sctx.drawImage(img, 0, 0);
      const rgba = sctx.getImageData(0, 0, scratch.width, scratch.height).data;
      const lum = new Uint8Array(rgba.length / 4);
      for (let i = 0, j = 0; i < lum.length; i++, j += 4) lum[i] = rgba[j];
      ui.source = { width: scratch.width, height: scratch.height, lum };
      paint();
      requestAnimationFrame(() => {
        window.pgPreviewPainted = { uid, t_unix_ms: performance.timeOrigin + performance.now() };
        canvas.dataset.uid = uid;
      });
    };
    img.src = `/api/images/${uid}/preview.png`;
    $("accept").disabled = true;
    $("reject").disabled = true;
    showFigures(uid, delivered);
  }

  if ($("pv-canvas")) {
    for (const id of ["pv-window", "pv-level"]) $(id).addEventListener("input", paint);
    $("pv-zoom").addEventListener("input", zoom);
    $("pv-reset").addEventListener("click", () => {
      $("pv-window").value = 255; $("pv-level").value = 128; $("pv-zoom").value = 1;
      paint(); zoom();
    });
  }

  // -- accept / reject -----------------------------------------------------------------
  function reviewed(r) {
    if (!r.ok) refuse(refusalLine(r));
    else if (ui.image) showFigures(ui.image.uid, ui.image.delivered);
  }

  if ($("accept")) {
    $("accept").addEventListener("click", async () => {
      if (!ui.image) return;
      reviewed(await post(`/api/images/${ui.image.uid}/accept`));
    });
    $("reject").addEventListener("click", async () => {
      if (!ui.image) return;
      const reason = $("reject-reason").value;
      reviewed(await post(`/api/images/${ui.image.uid}/reject`, { reason }));
    });
  }

  // -- calibration page ----------------------------------------------------------------
  // The guided recalibration (the station's `calibrate all --generator` flow): the
  // operator confirms the room is ready, starts it, and answers each question it asks
  // (GET /api/calibration, POST /api/calibration/start|confirm|cancel); its progress
  // comes as `recalibration` events on the live stream.
  const confirms = document.querySelectorAll(".cal-confirm");
  let recalPrompt = null;

  function renderRecal(run) {
    const state = run ? run.state : "none";
    $("recal").dataset.state = state;
    $("recal-state").textContent = state + (run && run.set_id ? ": new set " + run.set_id : "") +
      (run && run.error ? ": " + run.error : "");
    const said = $("recal-said");
    said.replaceChildren(...(run ? run.said : []).map((line) => {
      const li = document.createElement("li"); li.textContent = line; return li;
    }));
    const waiting = !!run && state === "waiting" && !!run.prompt;
    recalPrompt = waiting ? run.prompt_id : null;
    $("recal-question").hidden = !waiting;
    $("recal-prompt").textContent = waiting ? run.prompt : "";
    $("recal-cancel").hidden = !(run && (state === "running" || state === "waiting"));
    if (waiting) $("recal-yes").focus();
  }

  async function refreshRecal() {
    try {
      const response = await fetch("/api/calibration", { credentials: "same-origin" });
      if (response.ok) renderRecal((await response.json()).run);
    } catch (e) { /* shown on the next event */ }
  }

  if (confirms.length) {
    const check = () => {
      $("cal-start").disabled = ![...confirms].every((c) => c.checked);
    };
    confirms.forEach((c) => c.addEventListener("change", check));
    $("cal-start").addEventListener("click", async () => {
      const r = await post("/api/calibration/start", {});
      $("cal-result").textContent = r.ok ? "Recalibration started." : refusalLine(r);
      refreshRecal();
    });
    const answer = async (yes) => {
      const r = await post("/api/calibration/confirm", { answer: yes, prompt_id: recalPrompt });
      if (!r.ok) $("cal-result").textContent = refusalLine(r);
      refreshRecal();
    };
    $("recal-yes").addEventListener("click", () => answer(true));
    $("recal-no").addEventListener("click", () => answer(false));
    $("recal-cancel").addEventListener("click", async () => {
      const r = await post("/api/calibration/cancel", {});
      if (!r.ok) $("cal-result").textContent = refusalLine(r);
      refreshRecal();
    });
    refreshRecal();
  }

  // -- the live stream -------------------------------------------------------------------
  function onExposure(ev) {
    const data = JSON.parse(ev.data);
    window.pgLastExposureEvent = data;
    (window.pgExposureEvents = window.pgExposureEvents || []).push(data);
    if ((data.state === "idle" || data.state === "failed") && ui.prepared && !ui.inFlight) {
      ui.prepared = false;  // released at READY (abort, or the hold ran out) or refused
      update();
    }
  }
  document.body.addEventListener("htmx:sseOpen", (ev) => {
    $("stream").textContent = "live";
    if (ev.detail && ev.detail.source) {
      ev.detail.source.addEventListener("exposure", onExposure);
      if (confirms.length) ev.detail.source.addEventListener("recalibration", refreshRecal);
    }
  });
  document.body.addEventListener("htmx:sseError", () => { $("stream").textContent = "reconnecting…"; });
  document.body.addEventListener("htmx:sseMessage", (ev) => {
    if (ev.detail.type === "state" || ev.detail.type === "images") update();
  });
  // -- who is logged in ---------------------------------------------------------------
  async function showUser() {
    const el = $("user");
    if (!el) return;
    try {
      const response = await fetch("/api/session", { credentials: "same-origin" });
      if (!response.ok) return;
      const who = await response.json();
      if (!who.user) return;
      $("user-name").textContent = who.user;
      el.hidden = false;
    } catch (e) { /* a station without logins */ }
  }
  if ($("logout")) {
    $("logout").addEventListener("click", async () => {
      await post("/logout");
      window.location.assign("/login");
    });
  }
  showUser();

  update();
})();
