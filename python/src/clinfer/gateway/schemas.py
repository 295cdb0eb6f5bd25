"""Request and response bodies of the gateway's API (pydantic models), and the error answers
each route documents in the OpenAPI schema."""

from typing import Any, Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ClassifyRequest(BaseModel):
    """Exactly one of ``text`` or ``texts``. Strict: no coercion (``"deadline_ms": "100"`` and
    ``"priority": true`` are rejected, as ``examples/axum_server.rs`` rejects them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: Optional[str] = Field(None, min_length=1, description="One clinical note.")
    texts: Optional[List[str]] = Field(
        None, min_length=1, description="Several notes, classified together (input order)."
    )
    deadline_ms: Optional[float] = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Give up (504) if the model has not served the request within this time.",
    )
    priority: int = Field(1, ge=0, le=2, description="0 high, 1 normal, 2 low.")

    @model_validator(mode="after")
    def _one_of(self) -> "ClassifyRequest":
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        if self.texts is not None and any(not t for t in self.texts):
            raise ValueError("'texts' must not contain empty strings")
        return self


class ClassifyResult(BaseModel):
    label: str = Field(description="The predicted label.")
    score: float = Field(description="Probability of the predicted label.")
    logits: List[float]
    redacted: Optional[str] = Field(description="The de-identified text the model saw.")
    phi_counts: Dict[str, int] = Field(description="PHI entities replaced, per kind.")
    tokens: int = Field(description="Tokens the model saw.")
    total_ms: float = Field(description="Time inside clinfer (scrub, queue, model).")


class ClassifyBatchResult(BaseModel):
    results: List[ClassifyResult]


class DeidentifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="One clinical note.")


class SpanOut(BaseModel):
    start: int = Field(description="Offset of the first character (Python str offsets).")
    end: int = Field(description="Offset one past the last character.")
    kind: str = Field(description="The kind of PHI, e.g. NAME, DATE, MRN.")


class DeidentifyResult(BaseModel):
    text: str = Field(description="The note with each PHI span replaced by a tag like [NAME].")
    spans: List[SpanOut] = Field(description="The PHI found, offsets into the input.")


class ErrorDetail(BaseModel):
    kind: str = Field(description="A stable error kind, e.g. overloaded, invalid_input.")
    message: str = Field(description="A human-readable message; it never quotes the input.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Status(BaseModel):
    status: str


def error_responses(*codes: int) -> Dict[Union[int, str], Dict[str, Any]]:
    text = {
        401: "Missing, invalid or expired bearer token",
        403: "The token lacks the required scope",
        413: "Request body too large",
        422: "Invalid request or input",
        429: "Queue full; retry after Retry-After seconds",
        500: "Internal error",
        503: "Shutting down",
        504: "Deadline exceeded",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}
