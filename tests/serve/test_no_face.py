"""What ``POST /v1/predict`` says of a photo without a face, and how it
numbers the faces of one with several: the same way as ``skemotion predict``
and the page (from 1, the largest first)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from skemotion.serve import create_app


@pytest.fixture(scope="module")
def client(model_file):
    with TestClient(create_app(model_file)) as client:
        yield client


def test_no_face_is_said_and_faces_are_numbered(client, tiny_model, face_count_dir):
    dogs = face_count_dir / "no_face" / "dlib_dogs.jpg"
    two = face_count_dir / "multi_face" / "facerec_two_people.jpg"
    none_found, two_found = tiny_model.named_steps["crop"].detect([dogs, two])
    assert len(none_found) == 0 and len(two_found) >= 2
    answer = client.post(
        "/v1/predict",
        files=[("image", ("dogs.jpg", dogs.read_bytes())),
               ("image", ("two.jpg", two.read_bytes()))],
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    none, many = answer.json()["images"]
    # no face: said, and nothing labelled (not the whole image)
    assert none["name"] == "dogs.jpg" and none["face_found"] is False
    assert none["faces"] == []
    assert many["face_found"] is True
    assert [f["face"] for f in many["faces"]] == list(range(1, len(two_found) + 1))
    assert [f["box"] for f in many["faces"]] == two_found.tolist()
    # and the API's description says both
    schema = client.get("/openapi.json").json()
    ok = schema["paths"]["/v1/predict"]["post"]["responses"]["200"]
    image = ok["content"]["application/json"]["schema"]["properties"]["images"]
    properties = image["items"]["properties"]
    assert properties["face_found"]["type"] == "boolean"
    assert properties["faces"]["items"]["properties"]["face"]["minimum"] == 1
