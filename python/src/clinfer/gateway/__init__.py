"""clinfer's HTTP gateway: ``pip install "clinfer[gateway]"``, then ``clinfer-gateway --help``.

OAuth2 bearer JWT, PHI de-identification, dynamic batching and DistilBERT in one process,
with clinfer's ``/v1`` API and the Open Inference Protocol (KServe v2 / Triton's HTTP API,
binary tensors included) over a versioned model repository with hot reload. See README.md
beside this file.
"""

from .app import create_app
from .models import ModelSpec, PipelineLike, default_pipeline
from .serve import main
from .settings import OPTIONS, ConfigError, Settings

__all__ = [
    "OPTIONS",
    "ConfigError",
    "ModelSpec",
    "PipelineLike",
    "Settings",
    "create_app",
    "default_pipeline",
    "main",
]
