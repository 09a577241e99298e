"use strict";
// The page of `skemotion serve`: no library, no CDN; it talks to this server only.
(function () {
  const file = document.getElementById("file");
  const drop = document.getElementById("drop");
  const statusLine = document.getElementById("status");
  const tokenRow = document.getElementById("token-row");
  const tokenInput = document.getElementById("token");
  let objectUrl = null;
  let limits = null; // the server's, from GET /v1/model
  let latest = 0; // the number of the photo chosen last: older answers are dropped
  const explainToggle = document.getElementById("explain");
  let lastChosen = null; // the photo shown, sent again when its maps are asked for
  let lastHasMaps = false;

  // Photos bigger than this (longest side, in pixels) or than MAX_FILE_BYTES
  // are shrunk in the browser before they are sent: phone photos are often
  // 4000 x 3000 and 5 to 15 MB, more than the server takes and more than a
  // face needs.
  const MAX_SIDE = 2048;
  const MAX_FILE_BYTES = 4000000;
  const JPEG_QUALITY = 0.9;
  const FORM_OVERHEAD = 4096; // bytes a form adds around the file, at most

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  function headers() {
    const token = tokenInput.value.trim();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  function describe(model) {
    const list = document.getElementById("model");
    list.textContent = "";
    const rows = [
      ["Model", model.name || model.file || "unknown"],
      ["Classes", model.classes.join(", ")],
      ["Engine", model.engine || "unknown"],
      ["Weights", model.weights || "unknown"],
      ["Precision", model.precision || "unknown"],
      ["Crop size", model.crop_size.join(" x ")],
      ["skemotion", model.skemotion],
    ];
    for (const [name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
  }

  async function loadModel() {
    const response = await fetch("/v1/model", { headers: headers() });
    if (response.status === 401) {
      tokenRow.hidden = false;
      say("This server needs an access token: type it, then choose a photo.");
      return;
    }
    if (!response.ok) { say("The model could not be described.", true); return; }
    const model = await response.json();
    limits = model.limits || null;
    describe(model);
  }

  function percent(p) { return (100 * p).toFixed(1) + "%"; }

  function megabytes(bytes) {
    return bytes >= 100000 ? (bytes / 1e6).toFixed(1) + " MB" : Math.ceil(bytes / 1000) + " kB";
  }

  function show(image, url, note) {
    document.getElementById("result").hidden = false;
    const photo = document.getElementById("photo");
    const stage = document.getElementById("stage");
    stage.querySelectorAll(".face-box, .no-face, .saliency-map").forEach((el) => el.remove());
    stage.classList.toggle("show-maps", explainToggle.checked);
    lastHasMaps = image.faces.some((face) => face.saliency);
    photo.src = url;
    const faces = document.getElementById("faces");
    faces.textContent = "";
    if (image.face_found === false || !image.faces.length) {
      // said on the photo itself: nothing was labelled, not even the whole image
      const note = document.createElement("div");
      note.className = "no-face";
      note.setAttribute("role", "note");
      note.textContent = "No face found";
      stage.append(note);
    }
    image.faces.forEach((face, i) => {
      const number = face.face || i + 1; // numbered from 1 by the server
      const [left, top, right, bottom] = face.box;
      if (face.saliency) { // laid over the part of the photo the model saw
        const [cl, ct, cr, cb] = face.saliency.crop_box;
        const map = document.createElement("img");
        map.className = "saliency-map";
        map.src = face.saliency.png;
        map.alt = "";
        map.setAttribute("aria-hidden", "true");
        map.dataset.face = String(number);
        map.style.left = (100 * cl / image.width) + "%";
        map.style.top = (100 * ct / image.height) + "%";
        map.style.width = (100 * (cr - cl) / image.width) + "%";
        map.style.height = (100 * (cb - ct) / image.height) + "%";
        stage.append(map);
      }
      const box = document.createElement("div");
      box.className = "face-box";
      box.style.left = (100 * left / image.width) + "%";
      box.style.top = (100 * top / image.height) + "%";
      box.style.width = (100 * (right - left) / image.width) + "%";
      box.style.height = (100 * (bottom - top) / image.height) + "%";
      const tag = document.createElement("span");
      tag.textContent = number + ": " + face.label + " " + percent(face.top_k[0].probability);
      box.append(tag);
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", "Face " + number + ": " + face.label);
      stage.append(box);

      const item = document.createElement("li");
      const title = document.createElement("h3");
      title.textContent = "Face " + number + ": " + face.label;
      item.append(title);
      const ranked = Object.entries(face.probabilities).sort((a, b) => b[1] - a[1]);
      for (const [label, p] of ranked) {
        const bar = document.createElement("div");
        bar.className = "bar";
        const name = document.createElement("span");
        name.textContent = label;
        const track = document.createElement("span");
        track.className = "track";
        track.setAttribute("role", "meter");
        track.setAttribute("aria-label", label);
        track.setAttribute("aria-valuemin", "0");
        track.setAttribute("aria-valuemax", "100");
        track.setAttribute("aria-valuenow", (100 * p).toFixed(1));
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.width = (100 * p) + "%";
        fill.style.display = "block";
        track.append(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = percent(p);
        bar.append(name, track, value);
        item.append(bar);
      }
      faces.append(item);
    });
    const found = image.faces.length
      ? image.faces.length + (image.faces.length === 1 ? " face" : " faces") +
        " found in " + image.width + " x " + image.height + " pixels."
      : "No face found in this photo (" + image.width + " x " + image.height + " pixels).";
    document.getElementById("caption").textContent = note ? found + " " + note : found;
  }

  function jpegName(name) {
    return (name.replace(/\.[^.]*$/, "") || "photo") + ".jpg";
  }

  // The photo as it is sent: the file itself, or, when it is big, a JPEG of
  // it at most MAX_SIDE pixels on its longest side, drawn upright (its EXIF
  // orientation applied). `decoded` says whether this browser could read it:
  // when it cannot (HEIC in Chromium), the server's preview is shown instead.
  async function prepare(chosen) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(chosen, { imageOrientation: "from-image" });
    } catch (err) {
      return { blob: chosen, name: chosen.name, decoded: false };
    }
    try {
      const { width, height } = bitmap;
      const longest = Math.max(width, height);
      const limit = limits ? limits.max_request_bytes - FORM_OVERHEAD : Infinity;
      if (longest <= MAX_SIDE && chosen.size <= Math.min(MAX_FILE_BYTES, limit)) {
        return { blob: chosen, name: chosen.name, decoded: true };
      }
      const scale = Math.min(1, MAX_SIDE / longest);
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      const context = canvas.getContext("2d");
      context.fillStyle = "#ffffff"; // JPEG has no transparency: white, not black
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.imageSmoothingQuality = "high";
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
      if (!blob) return { blob: chosen, name: chosen.name, decoded: true };
      const before = width + " x " + height + " (" + megabytes(chosen.size) + ")";
      const after = canvas.width + " x " + canvas.height + " (" + megabytes(blob.size) + ")";
      const resized = scale < 1;
      return {
        blob,
        name: jpegName(chosen.name),
        decoded: true,
        note: resized
          ? "Shrunk " + chosen.name + " from " + before + " to " + after + " before sending."
          : "Saved " + chosen.name + " " + before + " as a smaller JPEG " + after + " before sending.",
        caption: resized
          ? "(Shrunk in this browser from " + width + " x " + height + " pixels.)"
          : "(Saved as a smaller JPEG in this browser.)",
      };
    } catch (err) { // the canvas failed (out of memory?): send the file as it is
      return { blob: chosen, name: chosen.name, decoded: true };
    } finally {
      bitmap.close();
    }
  }

  function tooBig(chosen, sent, limit) {
    const over = "more than this server's limit of " + megabytes(limit);
    if (!sent.decoded) {
      return chosen.name + " is " + megabytes(chosen.size) + ", " + over +
        ", and this browser cannot read it to make it smaller. Save it as JPEG " +
        "(on an iPhone: Settings > Camera > Formats > Most Compatible) and choose it again.";
    }
    return chosen.name + " is " + megabytes(sent.blob.size) +
      (sent.blob === chosen ? ", " : " even after shrinking, ") + over + ".";
  }

  async function send(chosen) {
    if (!chosen) return;
    const turn = ++latest;
    say("Reading " + chosen.name + "...");
    const sent = await prepare(chosen);
    if (turn !== latest) return; // another photo was chosen meanwhile
    if (limits && sent.blob.size + FORM_OVERHEAD > limits.max_request_bytes) {
      say(tooBig(chosen, sent, limits.max_request_bytes), true);
      return;
    }
    say((sent.note ? sent.note + " " : "") + "Looking for faces in " + sent.name + "...");
    const form = new FormData();
    form.append("image", sent.blob, sent.name);
    // a photo this browser cannot show comes back as the server saw it
    const query = [];
    if (!sent.decoded) query.push("preview=1");
    if (explainToggle.checked) query.push("explain=1"); // each face's map too
    const address = "/v1/predict" + (query.length ? "?" + query.join("&") : "");
    let response;
    try {
      response = await fetch(address, { method: "POST", body: form, headers: headers() });
    } catch (err) {
      if (turn === latest) say("The server cannot be reached.", true);
      return;
    }
    const answer = await response.json().catch(() => null);
    if (turn !== latest) return;
    if (!response.ok) {
      if (response.status === 401) tokenRow.hidden = false;
      say(answer && answer.error ? answer.error.message : "The server refused the photo.", true);
      return;
    }
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    const image = answer.images[0];
    let caption = sent.caption;
    let url;
    if (!sent.decoded && image.preview) {
      url = image.preview;
      caption = "(This browser cannot show " + chosen.name + " itself: this is the server's copy.)";
    } else {
      objectUrl = URL.createObjectURL(sent.blob);
      url = objectUrl;
    }
    lastChosen = chosen;
    show(image, url, caption);
    say((image.faces.length ? "Done." : "No face found.") + (sent.note ? " " + sent.note : ""));
    if (document.getElementById("model").querySelector("dd").textContent === "...") {
      loadModel();
    }
  }

  file.addEventListener("change", () => send(file.files[0]));
  explainToggle.addEventListener("change", () => {
    document.getElementById("stage").classList.toggle("show-maps", explainToggle.checked);
    // the photo shown came without its maps: ask for them
    if (explainToggle.checked && lastChosen && !lastHasMaps) send(lastChosen);
  });
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
  });
  tokenInput.addEventListener("change", loadModel);
  loadModel();
})();
