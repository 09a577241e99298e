"""The page of skemotion serve with phone photos, in a real headless Chromium
(a phone's viewport) against a real server: big photos are shrunk upright in
the browser, HEIC photos (which Chromium cannot decode) are shown as the
server's preview, and what is over the server's limit is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
LIMIT = 10_000_000  # ServeSettings' default max_request_bytes, what `server` has
ORIENTATION = 0x0112  # the EXIF tag
TIMEOUT = 60_000  # ms: this machine is slow, and the server detects faces on 3 MP


@pytest.fixture(scope="module")
def face_photo(face_count_dir) -> Path:
    return face_count_dir / "single_face" / "facerec_obama.jpg"


@pytest.fixture(scope="module")
def phone_photo(face_photo, tmp_path_factory) -> Path:
    """A 4000 x 5000 portrait photo of one face, over 12 MB as JPEG (quality
    95, seeded noise), stored sideways with EXIF Orientation 6 ("rotate 90°
    clockwise to show"), as phones save photos taken upright."""
    upright = Image.open(face_photo).convert("RGB").resize((4000, 5000), Image.BICUBIC)
    noise = np.random.default_rng(0).integers(-28, 29, (5000, 4000, 3), dtype=np.int16)
    pixels = np.clip(np.asarray(upright, dtype=np.int16) + noise, 0, 255)
    # turned counter-clockwise by 90°: Orientation 6 turns it back
    sideways = Image.fromarray(pixels.astype(np.uint8))
    stored = sideways.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    path = tmp_path_factory.mktemp("phone") / "IMG_0001.jpg"
    stored.save(path, format="JPEG", quality=95, exif=exif)
    return path


# Notes each file the page posts (Playwright does not see blob bodies).
RECORD_UPLOADS = """
  window.uploads = [];
  const original = window.fetch;
  window.fetch = function (address, init) {
    if (init && init.body instanceof FormData) {
      for (const [field, value] of init.body.entries()) {
        if (value instanceof Blob) {
          window.uploads.push({address: String(address), field, name: value.name,
                               size: value.size, type: value.type});
        }
      }
    }
    return original.apply(this, arguments);
  };
"""


def _open(browser, server):
    page = browser.new_page(viewport=PHONE)
    page.add_init_script(RECORD_UPLOADS)
    page.goto(server + "/")
    page.wait_for_selector("#model dd:not(:empty)")  # the limits are known
    return page


def _choose(page, path):
    """Choose ``path`` in the page; the server's answer to its upload."""
    with page.expect_response(
        lambda r: "/v1/predict" in r.url, timeout=TIMEOUT
    ) as answered:
        page.set_input_files("#file", str(path))
    return answered.value


def _sent_image(page):
    """What the page shows: the photo's own pixels and its place, the boxes."""
    return page.evaluate(
        """() => {
          const photo = document.getElementById("photo");
          const place = (el) => { const r = el.getBoundingClientRect();
                                  return [r.left, r.top, r.right, r.bottom]; };
          return {natural: [photo.naturalWidth, photo.naturalHeight],
                  src: photo.src, photo: place(photo),
                  boxes: [...document.querySelectorAll(".face-box")].map(place)};
        }"""
    )


def _inside(box, frame) -> bool:
    return (
        box[0] >= frame[0] - 1
        and box[1] >= frame[1] - 1
        and box[2] <= frame[2] + 1
        and box[3] <= frame[3] + 1
    )


def test_phone_photo_is_shrunk_upright_before_sending(
    server, browser, phone_photo, face_photo
):
    """A 12 MB sideways-stored JPEG: the page shrinks it to 2048 px, upright
    (a HOG detector finds no face in a sideways photo), says so, and shows
    the very image it sent under the boxes."""
    size = phone_photo.stat().st_size
    assert size >= 12_000_000
    with Image.open(phone_photo) as stored:
        assert stored.size == (5000, 4000)  # the pixels are sideways...
        assert stored.getexif()[ORIENTATION] == 6
        stored.draft("RGB", (625, 500))  # (decoded at 1/8, quickly)
        shown = np.asarray(ImageOps.exif_transpose(stored), dtype=float)
    original = Image.open(face_photo).convert("RGB").resize((500, 625))
    difference = np.abs(shown - np.asarray(original, dtype=float)).mean()
    assert difference < 0.2 * np.abs(shown - np.asarray(original)[::-1, ::-1]).mean()

    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, server)
    response = _choose(page, phone_photo)
    assert response.status == 200
    assert "preview" not in response.url  # the browser shows what it sent
    (sent,) = page.evaluate("window.uploads")
    assert sent["field"] == "image" and sent["name"] == "IMG_0001.jpg"
    assert sent["type"] == "image/jpeg"
    assert 100_000 < sent["size"] < 2_000_000  # far under the limit and the 12 MB
    (image,) = response.json()["images"]
    assert image["name"] == "IMG_0001.jpg"
    assert max(image["width"], image["height"]) <= 2048
    assert (image["width"], image["height"]) == (1638, 2048)  # portrait: upright
    assert len(image["faces"]) == 1

    page.wait_for_selector(".face-box", timeout=TIMEOUT)
    status = page.inner_text("#status")
    megabytes = f"{size / 1e6:.1f} MB"
    assert status.startswith("Done. Shrunk IMG_0001.jpg from 4000 x 5000 (")
    assert f"from 4000 x 5000 ({megabytes}) to 1638 x 2048 (" in status
    assert status.endswith(" MB) before sending.")
    assert "1 face found in 1638 x 2048 pixels." in page.inner_text("#caption")
    assert "from 4000 x 5000" in page.inner_text("#caption")
    shown = _sent_image(page)
    assert shown["natural"] == [1638, 2048]  # the image sent, upright
    assert shown["src"].startswith("blob:")
    (box,) = shown["boxes"]
    assert _inside(box, shown["photo"])
    page.screenshot(path=str(ARTIFACTS / "serve-page-phone-photo.png"), full_page=True)
    assert (ARTIFACTS / "serve-page-phone-photo.png").stat().st_size > 20_000


def test_heic_photo_is_shown_as_the_servers_preview(
    server, browser, face_photo, tmp_path
):
    """Chromium cannot decode HEIC: the page sends the bytes as they are and
    shows the server's upright JPEG preview under the boxes."""
    import pillow_heif

    path = tmp_path / "IMG_0002.heic"
    # pillow_heif.from_pillow, not register_heif_opener: the server runs in
    # this process, and must decode HEIC by its own means
    pillow_heif.from_pillow(Image.open(face_photo).convert("RGB")).save(
        path, quality=90
    )
    page = _open(browser, server)
    response = _choose(page, path)
    assert "preview=1" in response.url
    (sent,) = page.evaluate("window.uploads")  # the file's own bytes, as they are
    assert (sent["name"], sent["size"]) == ("IMG_0002.heic", path.stat().st_size)
    assert response.status == 200, response.text()
    (image,) = response.json()["images"]
    assert (image["width"], image["height"]) == (910, 1137)
    page.wait_for_selector(".face-box", timeout=TIMEOUT)
    assert page.inner_text("#status") == "Done."
    shown = _sent_image(page)
    assert shown["src"].startswith("data:image/jpeg;base64,")
    # the preview: at most 1024 px, the shape of what the server decoded
    width, height = shown["natural"]
    assert height == 1024 and width / height == pytest.approx(910 / 1137, abs=2e-3)
    (box,) = shown["boxes"]
    assert _inside(box, shown["photo"])
    assert "server's copy" in page.inner_text("#caption")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page-heic.png"), full_page=True)


def test_over_the_limit_the_browser_reads_the_refusal(server, browser):
    """A 12 MB form posted from the page's origin: Chromium gets the 413 and
    its JSON message, not a reset connection."""
    page = _open(browser, server)
    answer = page.evaluate(
        """async () => {
          const form = new FormData();
          const blob = new Blob([new Uint8Array(12000000)], {type: "image/jpeg"});
          form.append("image", blob, "big.jpg");
          const response = await fetch("/v1/predict", {method: "POST", body: form});
          return {status: response.status, body: await response.text()};
        }"""
    )
    assert answer["status"] == 413
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "too_large"
    assert f"more than the limit of {LIMIT:,}" in error["message"]


def test_undecodable_file_over_the_limit_is_not_sent(server, browser, tmp_path):
    """12 MB that Chromium cannot decode (it cannot shrink them): the page
    says so, with the file's name, its size and the limit, and sends
    nothing."""
    path = tmp_path / "photo.heic"
    path.write_bytes(np.random.default_rng(1).bytes(12_000_000))
    page = _open(browser, server)
    posted = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#status.error", timeout=TIMEOUT)
    status = page.inner_text("#status")
    assert status.startswith("photo.heic is 12.0 MB, more than this server's limit")
    assert "limit of 10.0 MB" in status and "Save it as JPEG" in status
    assert posted == [] and page.evaluate("window.uploads") == []
    assert page.locator("#result").is_hidden()


def test_photo_without_a_face_says_so_on_the_photo(
    server, browser, face_count_dir, face_photo
):
    """No face found: the page says so on the photo itself, draws no box and
    labels nothing; the next photo's faces are numbered from 1, as the API
    numbers them, and the note is gone."""
    from skemotion import FaceCropper

    dogs = face_count_dir / "no_face" / "dlib_dogs.jpg"
    assert [len(b) for b in FaceCropper().detect([dogs, face_photo])] == [0, 1]
    page = _open(browser, server)
    response = _choose(page, dogs)
    assert response.status == 200
    (image,) = response.json()["images"]
    assert image["face_found"] is False and image["faces"] == []
    note = page.wait_for_selector("#stage .no-face", timeout=TIMEOUT)
    assert note.inner_text() == "No face found"
    shown = _sent_image(page)
    assert shown["boxes"] == []
    place = note.bounding_box()
    assert _inside(
        [place["x"], place["y"], place["x"] + place["width"],
         place["y"] + place["height"]],
        shown["photo"],
    )  # fmt: skip
    assert page.locator("#faces li").count() == 0
    assert page.inner_text("#status") == "No face found."
    assert "No face found in this photo" in page.inner_text("#caption")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page-no-face.png"), full_page=True)

    response = _choose(page, face_photo)
    (image,) = response.json()["images"]
    assert image["face_found"] is True
    assert [f["face"] for f in image["faces"]] == [1]
    page.wait_for_selector(".face-box", timeout=TIMEOUT)
    assert page.locator(".no-face").count() == 0
    label = image["faces"][0]["label"]
    assert page.inner_text("#faces h3") == f"Face 1: {label}"
    assert page.get_attribute(".face-box", "aria-label") == f"Face 1: {label}"


def test_the_map_over_each_face_switches_on_and_off(server, browser, face_count_dir):
    """The toggle asks the server for the maps of the photo shown (once), lays
    each over its face, and hides them again."""
    page = _open(browser, server)
    _choose(page, face_count_dir / "multi_face" / "facerec_two_people.jpg")
    page.wait_for_selector(".face-box", timeout=TIMEOUT)
    n_faces = page.locator(".face-box").count()
    assert n_faces >= 2 and page.locator(".saliency-map").count() == 0
    with page.expect_response(lambda r: "explain=1" in r.url, timeout=TIMEOUT) as got:
        page.check("#explain")
    faces = got.value.json()["images"][0]["faces"]
    assert all(face["saliency"]["png"].startswith("data:image/png") for face in faces)
    page.wait_for_selector(".saliency-map", state="visible", timeout=TIMEOUT)
    maps = page.locator(".saliency-map")
    assert maps.count() == n_faces
    for i in range(n_faces):  # each map is centred on its face's box
        box = page.locator(".face-box").nth(i).bounding_box()
        over = maps.nth(i).bounding_box()
        for x, size in (("x", "width"), ("y", "height")):
            centre = box[x] + box[size] / 2
            assert abs(centre - (over[x] + over[size] / 2)) < 6
        assert over["width"] >= box["width"] - 6
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-page-saliency.png"), full_page=True)
    page.uncheck("#explain")
    assert maps.first.is_hidden()
    page.check("#explain")  # the maps are there already: no new request
    assert maps.first.is_visible() and maps.count() == n_faces
    page.close()
