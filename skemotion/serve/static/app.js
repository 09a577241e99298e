"use strict";
// The page of `skemotion serve`: no library, no CDN; it talks to this server only.
(function () {
  const file = document.getElementById("file");
  const drop = document.getElementById("drop");
  const statusLine = document.getElementById("status");
  const tokenRow = document.getElementById("token-row");
  const tokenInput = document.getElementById("token");
  let objectUrl = null;

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
    describe(await response.json());
  }

  function percent(p) { return (100 * p).toFixed(1) + "%"; }

  function show(image, url) {
    document.getElementById("result").hidden = false;
    const photo = document.getElementById("photo");
    const stage = document.getElementById("stage");
    stage.querySelectorAll(".face-box").forEach((el) => el.remove());
    photo.src = url;
    const faces = document.getElementById("faces");
    faces.textContent = "";
    image.faces.forEach((face, i) => {
      const [left, top, right, bottom] = face.box;
      const box = document.createElement("div");
      box.className = "face-box";
      box.style.left = (100 * left / image.width) + "%";
      box.style.top = (100 * top / image.height) + "%";
      box.style.width = (100 * (right - left) / image.width) + "%";
      box.style.height = (100 * (bottom - top) / image.height) + "%";
      const tag = document.createElement("span");
      tag.textContent = (i + 1) + ": " + face.label + " " + percent(face.top_k[0].probability);
      box.append(tag);
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", "Face " + (i + 1) + ": " + face.label);
      stage.append(box);

      const item = document.createElement("li");
      const title = document.createElement("h3");
      title.textContent = "Face " + (i + 1) + ": " + face.label;
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
    document.getElementById("caption").textContent = image.faces.length
      ? image.faces.length + (image.faces.length === 1 ? " face" : " faces") +
        " found in " + image.width + " x " + image.height + " pixels."
      : "No face found in this photo.";
  }

  async function send(chosen) {
    if (!chosen) return;
    say("Looking for faces in " + chosen.name + "...");
    const form = new FormData();
    form.append("image", chosen, chosen.name);
    let response;
    try {
      response = await fetch("/v1/predict", { method: "POST", body: form, headers: headers() });
    } catch (err) {
      say("The server cannot be reached.", true);
      return;
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      if (response.status === 401) tokenRow.hidden = false;
      say(answer && answer.error ? answer.error.message : "The server refused the photo.", true);
      return;
    }
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(chosen);
    const image = answer.images[0];
    show(image, objectUrl);
    say(image.faces.length ? "Done." : "No face found.");
    if (document.getElementById("model").querySelector("dd").textContent === "...") {
      loadModel();
    }
  }

  file.addEventListener("change", () => send(file.files[0]));
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
