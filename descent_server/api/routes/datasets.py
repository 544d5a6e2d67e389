"""Dataset endpoints: upload (CSV multipart or JSON), list, read, CSV download, delete."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from descent_server.api.deps import IdempotencyKey, OwnerDep, SessionDep, reject_unknown_query
from descent_server.api.errors import validation_detail
from descent_server.api.rate_limits import RateLimit
from descent_server.api.schemas.common import CONTROL_CHAR_MSG, NAME_MAX, NO_CONTROL_CHARS, PathId
from descent_server.api.schemas.datasets import (
    BuiltinDatasetList,
    BuiltinDatasetRead,
    DatasetCreate,
    DatasetPage,
    DatasetRead,
)
from descent_server.ml.datasets import BUILTINS
from descent_server.services import datasets as service
from descent_server.services.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["datasets"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": NAME_MAX,
                            "pattern": NO_CONTROL_CHARS,
                        },
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/DatasetCreate"}},
        },
    }
}

_DEDUPE = (
    "Contents identical (sha256) to one of your datasets return that dataset (200) "
    "instead of storing a copy; false stores a new one."
)


@router.post(
    "/datasets",
    status_code=201,
    response_model=DatasetRead,
    openapi_extra=_UPLOAD_BODY,
    # Both before a byte of the body is read.
    dependencies=[Depends(RateLimit("upload")), Depends(reject_unknown_query)],
    responses={
        200: {
            "model": DatasetRead,
            "description": "Idempotent replay, or your dataset with the same contents (sha256)",
        }
    },
)
async def create_dataset(
    request: Request,
    response: Response,
    session: SessionDep,
    owner: OwnerDep,
    idempotency_key: IdempotencyKey = None,
    dedupe: Annotated[bool, Query(description=_DEDUPE)] = True,
) -> Any:
    """Upload a CSV file (multipart `file`, optional `name`) or JSON `{name, columns}`."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        name, data = await _csv_form(request)
        dataset, created = await run_in_threadpool(
            service.create_from_csv, session=session, owner=owner, name=name, data=data,
            idempotency_key=idempotency_key, dedupe=dedupe,
        )  # fmt: skip
    else:
        body = _json_body(await request.body())
        dataset, created = await run_in_threadpool(
            service.create_from_json, session=session, owner=owner, name=body.name,
            columns=body.columns, idempotency_key=idempotency_key, dedupe=dedupe,
        )  # fmt: skip
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/datasets/{dataset.id}"
    return DatasetRead.model_validate(dataset)


@router.get("/datasets", response_model=DatasetPage, dependencies=[Depends(reject_unknown_query)])
def list_datasets(
    session: SessionDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> DatasetPage:
    """List your datasets, newest first."""
    items, next_cursor = service.list_page(session=session, owner=owner, limit=limit, cursor=cursor)
    return DatasetPage(
        items=[DatasetRead.model_validate(d) for d in items], next_cursor=next_cursor
    )


@router.get("/datasets/{dataset_id}", response_model=DatasetRead)
def get_dataset(dataset_id: PathId, session: SessionDep, owner: OwnerDep) -> DatasetRead:
    """Return one dataset's metadata."""
    return DatasetRead.model_validate(
        service.get(session=session, dataset_id=dataset_id, owner=owner)
    )


@router.get(
    "/datasets/{dataset_id}/data.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The rows as CSV"}},
    dependencies=[Depends(RateLimit("export"))],
)
def get_dataset_csv(dataset_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Return the dataset's rows as CSV with a header row."""
    chunks = service.csv_chunks(session=session, dataset_id=dataset_id, owner=owner)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8")


@router.delete("/datasets/{dataset_id}", status_code=204, response_class=Response)
def delete_dataset(dataset_id: PathId, session: SessionDep, owner: OwnerDep) -> Response:
    """Delete a dataset (409 while a run that is not finished uses it)."""
    service.delete(session=session, dataset_id=dataset_id, owner=owner)
    return Response(status_code=204)


@router.get("/builtin-datasets", response_model=BuiltinDatasetList)
def list_builtin_datasets(owner: OwnerDep) -> BuiltinDatasetList:
    """List the course's ready-made datasets (use them as `dataset_id: "builtin:NAME"`)."""
    items = []
    for dataset in service.builtins():
        spec = BUILTINS[dataset.name]
        items.append(
            BuiltinDatasetRead(
                **DatasetRead.model_validate(dataset).model_dump(),
                description=spec.description,
                features=list(spec.features),
                target=spec.target,
                kind=spec.kind,  # type: ignore[arg-type]
            )
        )
    return BuiltinDatasetList(items=items)


async def _csv_form(request: Request) -> tuple[str, bytes]:
    """Read a multipart upload: (name, CSV bytes); the name defaults to the file's stem."""
    form = await request.form()
    upload, name = form.get("file"), form.get("name")
    if not isinstance(upload, UploadFile):
        raise InvalidInput.at(["body", "file"], "a CSV file part named 'file' is required")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= NAME_MAX):
        raise InvalidInput.at(["body", "name"], f"1 to {NAME_MAX} characters")
    if name is not None and not re.fullmatch(NO_CONTROL_CHARS, name):
        raise InvalidInput.at(["body", "name"], CONTROL_CHAR_MSG)
    data = await upload.read()
    stem = (upload.filename or "dataset").rsplit(".", 1)[0][:NAME_MAX]
    default_name = stem if stem and re.fullmatch(NO_CONTROL_CHARS, stem) else "dataset"
    return name or default_name, data


def _json_body(raw: bytes) -> DatasetCreate:
    """Parse a JSON dataset body, reporting errors like FastAPI does (loc under body)."""
    try:
        return DatasetCreate.model_validate_json(raw or b"null")
    except ValidationError as exc:
        detail = validation_detail(exc.errors(include_url=False))
        for error in detail:
            error["loc"] = ["body", *error["loc"]]
        raise InvalidInput(detail) from None
