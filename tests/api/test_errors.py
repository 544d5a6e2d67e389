"""Bad input of every kind: the right 4xx, a detail naming the field or CSV row/column, no 5xx."""

from __future__ import annotations

import pytest

from tests.api.helpers import BLOBS_RUN, MOVIES_RUN, locs, run_body


def upload(api, content: bytes, **kwargs):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/v1/datasets", files={"file": ("d.csv", content, "text/csv")}, headers=api.a, **kwargs
    )


CSV_CASES = [
    (b"x1,x2\n1,2\n3,abc\n", ["file", "row 3", "column x2"], "not a number"),
    (b"x1,x2\n1,2\n3,nan\n", ["file", "row 3", "column x2"], "finite"),
    (b"x1,x2\n1,2\n3,inf\n", ["file", "row 3", "column x2"], "finite"),
    (b"x1,x2\n1,2\n3,\n", ["file", "row 3", "column x2"], "empty"),
    (b"x1,x2\n1,2\n3\n", ["file", "row 3"], "fields"),
    (b"x1,x2\n1,2\n\xff\xfe,1\n", ["file", "row 3"], "UTF-8"),
    (b"", ["file"], "header"),
    (b"1,2\n3,4\n", ["file", "row 1"], "header"),
    (b"x,x\n1,2\n", ["file", "row 1", "column x"], "duplicate"),
    (b"x1,\n1,2\n", ["file", "row 1", "column 2"], "empty column name"),
    (b"x1,x2\n", ["file"], "no data rows"),
    (b'x1,x2\n1,"2\n', ["file", "row 2"], "malformed"),
    (b"label,x\na,1\n,2\n", ["file", "row 3", "column label"], "empty"),
]


@pytest.mark.parametrize(("content", "loc", "words"), CSV_CASES)
def test_csv_errors_name_row_and_column(api, content, loc, words) -> None:  # type: ignore[no-untyped-def]
    r = upload(api, content)
    assert r.status_code == 422, r.text
    error = r.json()["detail"][0]
    assert error["loc"] == loc
    assert words in error["msg"]


def test_csv_limits(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_rows="3", max_columns="2", max_field_length="5")
    assert upload(api, b"a,b\n1,2\n1,2\n1,2\n1,2\n").status_code == 422
    assert upload(api, b"a,b,c\n1,2,3\n").status_code == 422
    r = upload(api, b"a,b\n1,123456\n")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["file", "row 2", "column b"]
    assert upload(api, b"a,b\n1,2\n1,2\n1,2\n").status_code == 201


def test_upload_too_large_is_413_before_buffering(api_factory) -> None:  # type: ignore[no-untyped-def]
    api = api_factory(max_upload_bytes="1000", max_request_bytes="2000")
    big = b"x,y\n" + b"1,2\n" * 200_000  # 800 kB: far over the limit
    r = upload(api, big)
    assert r.status_code == 413 and "detail" in r.json()

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "x", "columns": {"x": ['
        for _ in range(100_000):
            yield b"1,"
        yield b"1]}}"

    streamed = api.client.post(
        "/v1/datasets",
        content=chunks(),
        headers={**api.a, "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413
    huge_run = api.client.post("/v1/runs", json={**MOVIES_RUN, "name": "x" * 5000}, headers=api.a)
    assert huge_run.status_code == 413
    assert api.client.get("/healthz").status_code == 200


JSON_DATASET_CASES = [
    ({"name": "d", "columns": {"x": [1, 2], "y": [1]}}, ["body", "columns"]),
    ({"name": "d", "columns": {"x": [1, "a"]}}, ["body", "columns", "x", 1]),
    ({"name": "d", "columns": {"x": ["a", 1]}}, ["body", "columns", "x", 1]),
    ({"name": "d", "columns": {"x": [1, True]}}, ["body", "columns", "x", 1]),
    ({"name": "d", "columns": {}}, ["body", "columns"]),
    ({"name": "d", "columns": {"x": []}}, ["body", "columns"]),
    ({"name": "", "columns": {"x": [1]}}, ["body", "name"]),
    ({"columns": {"x": [1]}}, ["body", "name"]),
    ({"name": "d", "columns": {"x": [1]}, "owner": "bob"}, ["body", "owner"]),
]


@pytest.mark.parametrize(("body", "loc"), JSON_DATASET_CASES)
def test_json_dataset_errors(api, body, loc) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/datasets", json=body, headers=api.a)
    assert r.status_code == 422, r.text
    assert loc in locs(r)


def test_json_nan_and_garbage(api) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.a, "Content-Type": "application/json"}
    nan = b'{"name": "d", "columns": {"x": [1, NaN]}}'
    r = api.client.post("/v1/datasets", content=nan, headers=headers)
    assert r.status_code == 422
    for raw in (b"{", b"[]", b"null", b'"x"', b"\xff\xfe"):
        r = api.client.post("/v1/datasets", content=raw, headers=headers)
        assert r.status_code == 422, raw
        r = api.client.post("/v1/runs", content=raw, headers=headers)
        assert r.status_code == 422, raw


def test_one_class_labels(api) -> None:  # type: ignore[no-untyped-def]
    one_class = api.client.post(
        "/v1/datasets", json={"name": "d", "columns": {"x1": [1, 2, 3], "x2": [1, 5, 2],
                                                      "label": ["a", "a", "a"]}},
        headers=api.a,
    ).json()  # fmt: skip
    body = {**BLOBS_RUN, "dataset_id": one_class["id"]}
    r = api.client.post("/v1/runs", json=body, headers=api.a)
    assert r.status_code == 422 and ["body", "target"] in locs(r)


BAD_HYPERPARAMETERS = [
    run_body(MOVIES_RUN, learning_rate=0),
    run_body(MOVIES_RUN, learning_rate="fast"),
    run_body(MOVIES_RUN, epochs=0),
    run_body(MOVIES_RUN, epochs=-5),
    run_body(MOVIES_RUN, epochs=1.5),
    run_body(MOVIES_RUN, batch_size=0),
    run_body(MOVIES_RUN, gradient="magic"),
    run_body(MOVIES_RUN, init={"a": 1, "c": 2}),
    run_body(MOVIES_RUN, init={"weights": [1, 2], "bias": 0}),
    run_body(MOVIES_RUN, loss_surface={"a": [1, 0, 10], "b": [0, 1, 10]}),
    run_body(MOVIES_RUN, loss_surface={"a": [0, 1, 10**6], "b": [0, 1, 10]}),
    run_body(BLOBS_RUN, hidden_layers=[0]),
    run_body(BLOBS_RUN, hidden_layers=[4] * 50),
    run_body(BLOBS_RUN, optimizer={"name": "adagrad"}),
    run_body(BLOBS_RUN, optimizer={"learning_rate": -1}),
    run_body(BLOBS_RUN, validation_split=1.5),
    run_body(BLOBS_RUN, epochs=10**7),
    run_body(BLOBS_RUN, loss="binary_crossentropy"),
    run_body(BLOBS_RUN, activation="nope"),
    run_body(BLOBS_RUN, learning_rate=0.1),
    {**MOVIES_RUN, "features": []},
    {**MOVIES_RUN, "features": "num_want_to_see"},
    {**MOVIES_RUN, "features": ["num_want_to_see", "num_want_to_see"]},
    {**MOVIES_RUN, "features": ["title"]},
    {**MOVIES_RUN, "target": "num_want_to_see"},
    {**MOVIES_RUN, "device": "tpu"},
    {**MOVIES_RUN, "hyperparameters": [1, 2]},
    {**MOVIES_RUN, "dataset_id": "00000000-0000-0000-0000-000000000000"},
    {**MOVIES_RUN, "attempt": 3},
    {k: v for k, v in MOVIES_RUN.items() if k != "target"},
]


def test_bad_run_requests_are_4xx_never_5xx(api) -> None:  # type: ignore[no-untyped-def]
    for body in BAD_HYPERPARAMETERS:
        r = api.client.post("/v1/runs", json=body, headers=api.a)
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, list) and detail and all({"loc", "msg"} <= set(e) for e in detail)
    assert api.client.get("/v1/runs", headers=api.a).json()["items"] == []
    assert api.client.get("/healthz").status_code == 200


def test_bad_queries_and_paths(api) -> None:  # type: ignore[no-untyped-def]
    run_id = api.client.post("/v1/runs", json=MOVIES_RUN, headers=api.a).json()["id"]
    cases = [
        ("GET", "/v1/runs?cursor=garbage", 422),
        ("GET", "/v1/runs?limit=0", 422),
        ("GET", "/v1/runs?limit=abc", 422),
        ("GET", "/v1/runs?status=exploded", 422),
        ("GET", "/v1/datasets?cursor=%00%01", 422),
        ("GET", "/v1/runs/nope", 404),
        ("GET", "/v1/datasets/nope", 404),
        ("GET", "/v1/datasets/builtin:nope", 404),
        ("DELETE", "/v1/datasets/builtin:movies", 409),
        ("GET", f"/v1/runs/{run_id}/history?since_epoch=-7", 422),
        ("GET", f"/v1/runs/{run_id}/history?max_points=1", 422),
        ("GET", f"/v1/runs/{run_id}/history?format=xml", 422),
        ("GET", f"/v1/runs/{run_id}/plots/loss.png?width=-1", 422),
        ("GET", f"/v1/runs/{run_id}/plots/loss.png?dpi=0", 422),
        ("GET", f"/v1/runs/{run_id}/plots/fit.png?x=nan", 422),
        ("GET", f"/v1/runs/{run_id}/snapshots/abc", 422),
        ("GET", "/v1/nothing", 404),
    ]
    for method, url, status in cases:
        r = api.client.request(method, url, headers=api.a)
        assert r.status_code == status, (url, r.status_code, r.text)
        assert "detail" in r.json()
    predicts = [b'{"inputs": []}', b'{"inputs": [[1, "a"]]}', b'{"x": 1}', b'{"inputs": [NaN]}']
    headers = {**api.a, "Content-Type": "application/json"}
    for body in predicts:
        r = api.client.post(f"/v1/runs/{run_id}/predict", content=body, headers=headers)
        assert r.status_code == 422, (body, r.text)


def test_wrong_method_and_media_type(api) -> None:  # type: ignore[no-untyped-def]
    assert api.client.put("/v1/runs", headers=api.a).status_code == 405
    r = api.client.post(
        "/v1/datasets", content=b"x,y\n1,2\n", headers={**api.a, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    r = api.client.post("/v1/datasets", files={"name": (None, "no file")}, headers=api.a)
    assert r.status_code == 422 and ["body", "file"] in locs(r)
