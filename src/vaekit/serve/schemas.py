"""The JSON bodies of the explorer's API, with their bounds (pydantic models).

Examples travel as flat lists of floats in data units, ``prod(shape)`` values in the order of
``x.reshape(N, -1)`` (channels, then rows, then columns for images); latent vectors as lists of
``latent_dim`` floats. Every number is finite and bounded, every batch at most ``MAX_N`` rows;
shapes are checked against the model by the handlers (a 422 that names the expected shape).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_N = 256  # rows per request: z to decode, x to encode, samples to draw
MAX_STEPS = 64  # interpolation steps
MAX_VALUE = 1e6  # |value| of any number sent in: far beyond any real data or latent

Value = Annotated[float, Field(ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)]
Label = Annotated[int, Field(ge=0, le=10_000)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecodeRequest(Strict):
    z: list[list[Value]] = Field(min_length=1, max_length=MAX_N, description="(N, latent_dim)")
    label: Label | None = Field(None, description="the class to decode for a conditional model")


class EncodeRequest(Strict):
    x: list[list[Value]] = Field(
        min_length=1, max_length=MAX_N, description="(N, prod(shape)), flat examples, data units"
    )
    label: Label | None = Field(None, description="the class of x for a conditional model")


class SampleRequest(Strict):
    n: int = Field(16, ge=1, le=MAX_N)
    seed: Seed = 0
    label: Label | None = Field(None, description="the class to sample for a conditional model")


class InterpolateRequest(Strict):
    a: int = Field(ge=0, le=10**9, description="index of the first test example of the map")
    b: int = Field(ge=0, le=10**9, description="index of the last example")
    steps: int = Field(10, ge=2, le=MAX_STEPS)


class Examples(BaseModel):
    x: list[list[float]] = Field(description="(N, prod(shape)) flat examples, data units")
    shape: list[int]


class Latents(BaseModel):
    z: list[list[float]] = Field(description="(N, latent_dim) posterior means")
    score: list[float] | None = Field(
        None, description="(N,) anomaly scores, higher = more anomalous (uploaded images)"
    )
    score_method: str | None = None


class Example(BaseModel):
    index: int
    x: list[float]
    z: list[float]
    label: int | None
    score: float | None = Field(None, description="anomaly score, higher = more anomalous")
    score_method: str | None = None


class LatentMap(BaseModel):
    points: list[list[float]] = Field(description="(N, 2) projected latent means")
    labels: list[int] | None
    title: str
    axes: list[str]
    mean: list[float] = Field(description="(L,): a point p maps back to z = mean + p @ basis")
    basis: list[list[float]] = Field(description="(2, L)")
    split: str


class Card(BaseModel):
    name: str
    shape: list[int]
    kind: str
    image: bool
    latent_dim: int
    classes: int = Field(description="0 for an unconditional model, else labels 0..classes-1")
    class_names: list[str] | None
    display_range: list[float] = Field(description="(lo, hi) of the data, for drawing")
    sliders: list[int] = Field(description="latent dimensions, most active first (up to 16)")
    activity: list[float] = Field(description="(L,) variance of the posterior means per unit")
    config: dict[str, Any]
    history: list[dict[str, Any]]
    evaluation: dict[str, Any] | None
    max_n: int = MAX_N
