"""The API's OpenAPI 3.1 description, served at ``/openapi.json``."""

from __future__ import annotations

from .._version import __version__

__all__ = ["openapi_schema"]

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "example": "not_an_image"},
                "message": {"type": "string"},
            },
        }
    },
}

#: One face of ``/v1/predict``'s answer.
_FACE = {
    "type": "object",
    "properties": {
        "face": {
            "type": "integer",
            "minimum": 1,
            "description": "the face's number in its image, from 1, the "
            "largest first (as the page and the command line number them)",
        },
        "box": {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 4,
            "maxItems": 4,
            "description": "left, top, right, bottom",
        },
        "label": {"type": "string", "example": "happy"},
        "top_k": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "probability": {"type": "number"},
                },
            },
        },
        "probabilities": {
            "type": "object",
            "additionalProperties": {"type": "number"},
        },
        "saliency": {
            "type": "object",
            "description": "with ?explain=1: what the model looked at",
            "properties": {
                "method": {"type": "string", "example": "occlusion"},
                "target": {"type": "string", "description": "the class explained"},
                "size": {"type": "array", "items": {"type": "integer"}},
                "values": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                    "description": "rows of values in [0, 1] (at most 48 a side)",
                },
                "crop_box": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "left, top, right, bottom of the part of the "
                    "image the map covers (the face's crop)",
                },
                "png": {
                    "type": "string",
                    "description": "the map as a see-through PNG data: URL",
                },
            },
        },
    },
}

#: ``/v1/predict``'s answer: each image with its faces, and the classes.
_PREDICTIONS = {
    "type": "object",
    "properties": {
        "images": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "face_found": {
                        "type": "boolean",
                        "description": "false when no face was found: "
                        "``faces`` is then empty (the whole image is never "
                        "classified)",
                    },
                    "faces": {"type": "array", "items": _FACE},
                    "preview": {
                        "type": "string",
                        "description": "with ?preview=1: the image as decoded "
                        "and upright, a JPEG data: URL at most 1024 pixels on "
                        "its longest side",
                    },
                },
            },
        },
        "classes": {"type": "array", "items": {"type": "string"}},
    },
}


def _errors(*codes: int) -> dict:
    words = {
        400: "no image, or an unreadable form",
        401: "a token is needed",
        408: "the body did not arrive in time (the connection is closed)",
        413: "too many bytes, images or pixels (after too many bytes, the "
        "connection is closed)",
        415: "not an image",
        422: "an image that cannot be decoded",
        503: "the queue is full, or the server holds too many connections",
    }
    return {
        str(c): {
            "description": words[c],
            "content": {"application/json": {"schema": _ERROR}},
        }
        for c in codes
    }


def _upload(settings) -> dict:
    """``/v1/predict``'s request body, with the server's limits."""
    return {
        "required": True,
        "description": f"At most {settings.max_files} images, "
        f"{settings.max_request_bytes:,} bytes and "
        f"{settings.max_pixels:,} pixels each.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        }
                    },
                }
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
        },
    }


def _paths(settings, security: list) -> dict:
    """Every route of the API but the page and its files."""
    return {
        "/v1/predict": {
            "post": {
                "summary": "Every face of each image, with its emotions",
                "security": security,
                "parameters": [
                    {
                        "name": "preview",
                        "in": "query",
                        "required": False,
                        "description": "1: each image comes back as a small "
                        "JPEG too (for clients that cannot decode it, as "
                        "Chromium cannot decode HEIC)",
                        "schema": {"type": "string", "enum": ["0", "1"]},
                    },
                    {
                        "name": "explain",
                        "in": "query",
                        "required": False,
                        "description": "1: each face comes with its saliency "
                        "map (what the model looked at): its values, the part "
                        "of the image they cover and a see-through PNG",
                        "schema": {"type": "string", "enum": ["0", "1"]},
                    },
                ],
                "requestBody": _upload(settings),
                "responses": {
                    "200": {
                        "description": "the faces found",
                        "content": {"application/json": {"schema": _PREDICTIONS}},
                    },
                    **_errors(400, 401, 408, 413, 415, 422, 503),
                },
            }
        },
        "/v1/model": {
            "get": {
                "summary": "The model's name (the ready model or a "
                "file's), classes, engine, weights, precision, parameters and versions",
                "security": security,
                "responses": {"200": {"description": "the model"}, **_errors(401)},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Whether the server runs",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Requests, latency, queue, batches, refusals and "
                "connections, in Prometheus' text format",
                "security": security,
                "responses": {
                    "200": {
                        "description": "the metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401),
                },
            }
        },
    }


def openapi_schema(settings) -> dict:
    """The schema, with the server's own limits in its descriptions."""
    security = [{"bearer": []}] if settings.token else []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "skemotion",
            "version": __version__,
            "description": "Emotions of the faces in a photo. The server reads "
            "only the image bytes a request carries: never a path, never a URL.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "paths": _paths(settings, security),
    }
