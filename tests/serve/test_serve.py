"""skemotion serve: the JSON API through Starlette's test client, and the page
in a real headless Chromium (real sockets: test_server.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from probes import BAD_REQUESTS
from starlette.testclient import TestClient

from skemotion.cli import main
from skemotion.serve import ServeSettings, create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def client(model_file):
    with TestClient(create_app(model_file)) as client:
        yield client


def _post(client, data: bytes, name="photo.jpg", kind="image/jpeg", **kwargs):
    return client.post("/v1/predict", files={"image": (name, data, kind)}, **kwargs)


def test_predict_faces(client, photos, tiny_model):
    answer = _post(client, photos["one"])
    assert answer.status_code == 200, answer.text
    (image,) = answer.json()["images"]
    assert image["name"] == "photo.jpg" and len(image["faces"]) == 1
    face = image["faces"][0]
    assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
    assert set(face["probabilities"]) == {str(c) for c in tiny_model.classes_}
    assert sum(face["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert face["label"] == face["top_k"][0]["label"]
    many = _post(client, photos["many"]).json()["images"][0]["faces"]
    assert len(many) >= 2
    none = _post(client, photos["none"], name="scene.jpg").json()["images"][0]
    assert none["faces"] == []
    raw = client.post(
        "/v1/predict", content=photos["one"], headers={"content-type": "image/jpeg"}
    )
    assert raw.status_code == 200 and len(raw.json()["images"][0]["faces"]) == 1
    two = client.post(
        "/v1/predict",
        files=[
            ("image", ("a.jpg", photos["one"])),
            ("image", ("b.jpg", photos["many"])),
        ],
    )
    assert [i["name"] for i in two.json()["images"]] == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_clear_json_errors(client, photos, case):
    make, status, code = BAD_REQUESTS[case]
    answer = client.post("/v1/predict", **make(photos))
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in answer.text and "/etc/passwd" not in error["message"]


def test_size_limit_is_answered_before_reading(model_file, photos):
    settings = ServeSettings(max_request_bytes=10_000)
    with TestClient(create_app(model_file, settings=settings)) as small:
        answer = _post(small, photos["one"])
        assert answer.status_code == 413
        assert "more than the limit of 10,000" in answer.json()["error"]["message"]


def test_other_routes_and_methods(client):
    assert client.get("/healthz").json()["status"] == "ok"
    model = client.get("/v1/model").json()
    assert model["weights"] == "random (seed 0)" and model["precision"]
    assert model["file"] == model["name"] == "tiny.joblib" and not model["ready"]
    assert model["auth"] is False and model["limits"]["max_files"] == 8
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/v1/predict", "/v1/model", "/healthz", "/metrics"}
    assert client.get("/v1/predict").status_code == 405
    missing = client.get("/v2/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert (
        "access-control-allow-origin"
        not in client.options(
            "/v1/predict",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
            },
        ).headers
    )
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


def test_token_when_required(model_file, photos):
    settings = ServeSettings(token="s3cret-token", cors_origins=["https://app.example"])
    with TestClient(create_app(model_file, settings=settings)) as guarded:
        assert _post(guarded, photos["one"]).status_code == 401
        wrong = {"Authorization": "Bearer s3cret-tokeN"}
        assert _post(guarded, photos["one"], headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret-token"}
        assert _post(guarded, photos["one"], headers=right).status_code == 200
        assert guarded.get("/v1/model").status_code == 401
        assert guarded.get("/healthz").status_code == 200
        cors = guarded.options(
            "/v1/predict",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert cors.headers["access-control-allow-origin"] == "https://app.example"


def test_full_queue_answers_503(model_file, photos):
    settings = ServeSettings(max_queue=2)
    with TestClient(create_app(model_file, settings=settings)) as busy:
        files = [("image", (f"{i}.jpg", photos["one"])) for i in range(3)]
        answer = busy.post("/v1/predict", files=files)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "busy"


def test_cli_refuses_unsafe_addresses(model_file, capsys, monkeypatch):
    monkeypatch.delenv("SKEMOTION_TOKEN", raising=False)
    for model in (["--model", str(model_file)], []):  # a file or the ready model
        assert main(["serve", *model, "--host", "0.0.0.0"]) == 2
        assert "--allow-remote" in capsys.readouterr().err
        assert main(["serve", *model, "--host", "0.0.0.0", "--allow-remote"]) == 2
        assert "needs a token" in capsys.readouterr().err
    # the old spelling: the model file as a positional, with a note
    assert main(["serve", str(model_file), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert f"the new spelling is --model {model_file}" in err
    assert "--allow-remote" in err
    assert main(["serve", "--model", str(model_file.parent / "missing.joblib")]) == 2
    assert "model file does not exist" in capsys.readouterr().err


FER2013 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def test_ready_model_is_served_and_described(photos):
    """Without a model file: the ready model, and /v1/model says which."""
    with TestClient(create_app()) as ready:
        model = ready.get("/v1/model").json()
        assert model["classes"] == FER2013
        assert model["ready"] is True and model["file"] is None
        assert "FER2013" in model["name"]
        assert model["weights"].startswith("packaged fer2013")  # weights_used_
        answer = _post(ready, photos["one"])
        assert answer.status_code == 200, answer.text
        (face,) = answer.json()["images"][0]["faces"]
        assert list(face["probabilities"]) == FER2013
        assert face["label"] in FER2013


def test_the_ready_models_engine_is_chosen_and_said(model_file, photos):
    """ServeSettings(engine=...) (the CLI's --engine) chooses what runs the
    ready model, and /v1/model says which; a model file runs on its own, so
    an engine given with one is refused at once, as an unknown engine is."""
    answers = {}
    for engine in (None, "tensorflow"):
        app = create_app(settings=ServeSettings(engine=engine))
        with TestClient(app) as ready:
            said = ready.get("/v1/model").json()["engine"]
            answer = _post(ready, photos["one"])
            assert answer.status_code == 200, answer.text
            (face,) = answer.json()["images"][0]["faces"]
            answers[said] = face
    assert set(answers) == {"litert", "tensorflow"}  # None: the compiled default
    assert answers["litert"]["label"] == answers["tensorflow"]["label"]
    assert answers["litert"]["probabilities"] != answers["tensorflow"]["probabilities"]
    with pytest.raises(ValueError, match="engine='litert' chooses what runs the ready"):
        create_app(model_file, settings=ServeSettings(engine="litert"))
    with pytest.raises(ValueError, match="engine must be one of litert, tensorflow"):
        ServeSettings(engine="onnx")


def test_served_with_another_detector(model_file, photos):
    """ServeSettings(detector=...) (the CLI's --detector) replaces the model's
    own: /v1/model says so, and YuNet boxes each of the two faces."""
    settings = ServeSettings(detector="yunet")
    with TestClient(create_app(model_file, settings=settings)) as served:
        model = served.get("/v1/model").json()
        assert model["parameters"]["crop__detector"] == "yunet"
        # every parameter as a JSON value, not a Python repr in a string
        params = model["parameters"]
        size = model["crop_size"]  # [height, width]
        assert params["crop__size"] in (size[0], size)
        assert isinstance(params["crop__margin"], float)
        assert params["classify__hidden_layer_sizes"] == [
            int(n) for n in params["classify__hidden_layer_sizes"]
        ]
        assert not any(
            isinstance(v, str) and v[:1] in "'\"(" for v in params.values()
        ), params
        answer = _post(served, photos["many"])
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["images"][0]["faces"]) == 2


def test_another_detector_leaves_a_given_pipeline_as_it_was(tiny_model):
    own = tiny_model.named_steps["crop"].detector
    settings = ServeSettings(detector="yunet" if own != "yunet" else "hog")
    with TestClient(create_app(tiny_model, settings=settings)) as served:
        model = served.get("/v1/model").json()
        assert model["parameters"]["crop__detector"] == settings.detector
    assert tiny_model.named_steps["crop"].detector == own


def test_page_in_a_real_browser(server, browser, face_count_dir, tiny_model):
    """Chromium (Debian's) opens the page, uploads a photo, shows boxed faces."""
    ARTIFACTS.mkdir(exist_ok=True)
    photo = face_count_dir / "multi_face" / "facerec_two_people.jpg"
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(server + "/")
    page.wait_for_selector("#model dd:not(:empty)")
    shown = page.inner_text("#model")
    assert "random (seed 0)" in shown
    assert "Engine\ntensorflow" in shown  # the tiny model's, a joblib file
    page.set_input_files("#file", str(photo))
    page.wait_for_selector(".face-box", timeout=60_000)
    boxes = page.locator(".face-box")
    assert boxes.count() >= 2
    labels = page.locator(".faces h3").all_inner_texts()
    assert len(labels) == boxes.count() and all(": " in t for t in labels)
    assert page.inner_text("#status") == "Done."
    meters = page.locator("[role=meter]")
    # one bar per class for each face
    assert meters.count() == boxes.count() * len(tiny_model.classes_)
    page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=True)
    # keyboard: the file input is reachable with Tab
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file"
    assert (ARTIFACTS / "serve-page.png").stat().st_size > 20_000


def test_in_memory_upload_matches_the_file(client, photos, tiny_model):
    image = Image.open(io.BytesIO(photos["one"]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    as_png = _post(client, buffer.getvalue(), "same.png", "image/png").json()
    as_jpg = _post(client, photos["one"]).json()
    assert (
        as_png["images"][0]["faces"][0]["box"] == as_jpg["images"][0]["faces"][0]["box"]
    )


def test_answers_match_the_engine(client, photos, face_count_dir, tiny_model):
    """The server classifies through classify_crops, as predict_topk does:
    the same boxes and probabilities for every face of a photo."""
    from skemotion.prediction import iter_predict_proba

    path = face_count_dir / "multi_face" / "facerec_two_people.jpg"
    (expected,) = iter_predict_proba(tiny_model, [str(path)], all_faces=True)
    faces = _post(client, photos["many"]).json()["images"][0]["faces"]
    assert [f["box"] for f in faces] == expected.boxes.tolist()
    classes = [str(c) for c in tiny_model.classes_]
    for face, proba in zip(faces, expected.proba, strict=True):
        assert [face["probabilities"][c] for c in classes] == pytest.approx(
            proba, abs=1e-5
        )


def test_predict_explain_adds_each_faces_map(client, photos):
    import base64

    import numpy as np

    plain = _post(client, photos["many"]).json()["images"][0]
    assert "saliency" not in plain["faces"][0]
    answer = _post(client, photos["many"], params={"explain": "1"})
    assert answer.status_code == 200, answer.text
    image = answer.json()["images"][0]
    assert [f["box"] for f in image["faces"]] == [f["box"] for f in plain["faces"]]
    for face in image["faces"]:
        saliency = face["saliency"]
        assert saliency["method"] == "gradient"  # the tiny model is a Keras one
        assert saliency["target"] == face["label"]
        values = np.array(saliency["values"])
        assert values.shape == tuple(saliency["size"]) == (32, 32)  # its crop size
        assert values.min() >= 0 and values.max() <= 1 and values.max() > 0
        left, top, right, bottom = saliency["crop_box"]
        box = face["box"]
        assert left <= box[0] < box[2] <= right and top <= box[1] < box[3] <= bottom
        png = base64.b64decode(saliency["png"].split(",", 1)[1])
        picture = Image.open(io.BytesIO(png))
        assert picture.mode == "RGBA" and picture.size == (32, 32)
    none = _post(client, photos["none"], params={"explain": "1"}).json()
    assert none["images"][0]["faces"] == []
    schema = client.get("/openapi.json").json()
    names = [p["name"] for p in schema["paths"]["/v1/predict"]["post"]["parameters"]]
    assert "explain" in names
