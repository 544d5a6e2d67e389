"""Python client for the descent training service: `descent.Client` (and `AsyncClient`).

See README.md for the course walkthrough; `descent --help` for the command line.
"""

from ._across import Comparison, RunList
from ._async_client import AsyncClient
from ._async_run import AsyncRun, AsyncSweep
from ._base import Event, __version__
from ._client import Client
from ._diagnostics import Diagnosis
from ._domain import FINAL_STATUSES, LIVE_STATUSES, Kind, Status
from ._exceptions import (
    APIError,
    BadRequest,
    Conflict,
    DescentError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    ValidationError,
    WaitTimeout,
)
from ._lr_range import AsyncLrRangeTest, LrRangeTest
from ._models import (
    BuiltinDataset,
    Column,
    Dataset,
    LossSurface,
    Plot,
    Prediction,
    Progress,
    RunArgs,
    Snapshots,
)
from ._run import Run, Sweep

__all__ = [
    "FINAL_STATUSES",
    "LIVE_STATUSES",
    "APIError",
    "AsyncClient",
    "AsyncLrRangeTest",
    "AsyncRun",
    "AsyncSweep",
    "BadRequest",
    "BuiltinDataset",
    "Client",
    "Column",
    "Comparison",
    "Conflict",
    "Dataset",
    "DescentError",
    "Diagnosis",
    "Kind",
    "Event",
    "LossSurface",
    "LrRangeTest",
    "NotFound",
    "PayloadTooLarge",
    "Plot",
    "Prediction",
    "Progress",
    "RateLimited",
    "Run",
    "RunList",
    "RunArgs",
    "ServerError",
    "ServiceUnavailable",
    "Status",
    "Snapshots",
    "Sweep",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
