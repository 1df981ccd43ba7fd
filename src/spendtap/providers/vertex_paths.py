"""Vertex AI publisher-model URLs: which location, publisher, model and method.

Every model on Vertex is called as
``/{v1|v1beta1}/projects/P/locations/L/publishers/PUB/models/MODEL:METHOD`` on
``aiplatform.googleapis.com`` or a regional ``<region>-aiplatform.googleapis.com``
(express mode leaves out the project and location). The location is the region that
can change the price (``global``, ``us-east5``, ``europe-west1``); the model may carry
an ``@version`` (``claude-haiku-4-5@20251001``) or ``@default``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import unquote

HOSTS = frozenset({"aiplatform.googleapis.com"})
HOST_SUFFIXES = ("-aiplatform.googleapis.com",)

_PATH = re.compile(
    r"^/(?:v1|v1beta1)"
    r"(?:/projects/[^/]+/locations/(?P<location>[^/]+))?"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_REGIONAL_HOST = re.compile(r"^(?P<region>[a-z0-9-]+)-aiplatform\.googleapis\.com$")
_DATED_VERSION = re.compile(r"@(\d{8})$")
_ANY_VERSION = re.compile(r"@[^@]*$")


@dataclass(frozen=True, slots=True)
class VertexModelPath:
    location: str | None
    publisher: str
    #: The model segment as sent (percent-decoded), ``@version`` included.
    model: str
    method: str


def parse_vertex_path(path: str) -> VertexModelPath | None:
    """The parts of a publisher-model path, or None for any other path."""
    match = _PATH.match(path)
    if match is None:
        return None
    location = match["location"]
    return VertexModelPath(
        location=unquote(location) if location else None,
        publisher=unquote(match["publisher"]),
        model=unquote(match["model"]),
        method=match["method"],
    )


def vertex_path_is(
    publisher: str,
    methods: Collection[str],
    models: Callable[[str], bool] = lambda model: True,
) -> Callable[[str], bool]:
    """A route's path test: this publisher, one of these methods, a model that fits."""

    def matches(path: str) -> bool:
        target = parse_vertex_path(path)
        return (
            target is not None
            and target.publisher == publisher
            and target.method in methods
            and models(target.model)
        )

    return matches


def vertex_region(host: str, target: VertexModelPath | None) -> str | None:
    """The location in the path, else the region of a regional host, else None."""
    if target is not None and target.location:
        return target.location
    match = _REGIONAL_HOST.match(host.lower())
    return match["region"] if match else None


def normalise_vertex_model(model: str) -> str:
    """The vendor's id: ``x@20251001`` becomes ``x-20251001``; ``@default`` is dropped."""
    model = model.strip().removeprefix("models/")
    dated = _DATED_VERSION.sub(r"-\1", model)
    return dated if dated != model else _ANY_VERSION.sub("", model)
