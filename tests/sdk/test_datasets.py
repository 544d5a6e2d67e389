"""client.datasets against the real app."""

from __future__ import annotations

from pathlib import Path

import descent
import pandas as pd
import pytest


def test_upload_csv_path_then_get_list_download_delete(
    client: descent.Client, tmp_path: Path
) -> None:
    csv = tmp_path / "points.csv"
    csv.write_text("x,y,label\n1,2,red\n3,4,blue\n5,6,red\n")
    ds = client.datasets.upload(csv)
    assert isinstance(ds, descent.Dataset)
    assert ds.name == "points" and ds.n_rows == 3
    assert ds.column_names == ["x", "y", "label"]
    assert [c.dtype for c in ds.columns] == ["float", "float", "string"]
    assert ds.columns[0].min == 1 and ds.columns[0].max == 5
    assert ds.created_at is not None and ds.created_at.tzinfo is not None

    assert client.datasets.get(ds.id) == ds
    assert [d.id for d in client.datasets.list()] == [ds.id]
    assert client.datasets.download(ds.id).decode().splitlines()[0] == "x,y,label"
    client.datasets.delete(ds.id)
    with pytest.raises(descent.NotFound):
        client.datasets.get(ds.id)


def test_upload_dataframe_and_dict(client: descent.Client) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.5]})
    from_frame = client.datasets.upload(frame, name="frame")
    assert from_frame.name == "frame" and from_frame.n_rows == 3
    from_dict = client.datasets.upload({"x": [1, 2], "y": [3.5, 4.5]}, name="columns")
    assert from_dict.name == "columns" and from_dict.column_names == ["x", "y"]
    assert {d.name for d in client.datasets.list()} == {"frame", "columns"}
    assert [d.name for d in client.datasets.list(limit=1)] in (["frame"], ["columns"])


def test_upload_replays_with_the_same_idempotency_key(client: descent.Client) -> None:
    first = client.datasets.upload({"x": [1, 2]}, name="a", idempotency_key="k1")
    again = client.datasets.upload({"x": [1, 2]}, name="a", idempotency_key="k1")
    assert first.id == again.id


def test_upload_rejects_other_sources(client: descent.Client) -> None:
    with pytest.raises(TypeError):
        client.datasets.upload(42)


def test_builtins(client: descent.Client) -> None:
    names = {d.name for d in client.datasets.builtins()}
    assert names == {"movies", "three-blobs", "linear-noise", "sine", "iris"}
    movies = client.datasets.builtin("movies")
    assert movies.id == "builtin:movies"
    assert movies.kind == "linear_regression"
    assert movies.features == ["num_want_to_see"] and movies.target == "nums_audience"
    assert client.datasets.builtin("builtin:three-blobs").n_rows == 3000
    with pytest.raises(descent.NotFound):
        client.datasets.builtin("nope")


def test_invalid_csv_carries_the_server_detail(client: descent.Client, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(descent.BadRequest) as caught:
        client.datasets.upload(bad)
    assert caught.value.status in (400, 422)
    assert "oops" in str(caught.value) or "row" in str(caught.value).lower()
