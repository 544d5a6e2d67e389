"""Datasets: CSV and JSON uploads, limits, listing, download, delete, builtins."""

from __future__ import annotations

CSV = b"x1,x2,label\n1,2,a\n3,4,b\n5,6,a\n"


def upload(api, content: bytes, name: str | None = None, headers=None):  # type: ignore[no-untyped-def]
    data = {"name": name} if name else {}
    return api.client.post(
        "/v1/datasets",
        files={"file": ("points.csv", content, "text/csv")},
        data=data,
        headers={**api.a, **(headers or {})},
    )


def test_csv_upload_describes_columns(api) -> None:  # type: ignore[no-untyped-def]
    r = upload(api, CSV)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == f"/v1/datasets/{body['id']}"
    assert body["name"] == "points"
    assert body["n_rows"] == 3
    assert body["columns"] == [
        {"name": "x1", "dtype": "float", "min": 1.0, "max": 5.0, "n_unique": 3},
        {"name": "x2", "dtype": "float", "min": 2.0, "max": 6.0, "n_unique": 3},
        {"name": "label", "dtype": "string", "min": None, "max": None, "n_unique": 2},
    ]
    assert len(body["sha256"]) == 64
    assert body["created_at"].endswith("Z")


def test_csv_round_trips_through_download(api) -> None:  # type: ignore[no-untyped-def]
    dataset = upload(api, CSV, name="pts").json()
    r = api.client.get(f"/v1/datasets/{dataset['id']}/data.csv", headers=api.a)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text == "x1,x2,label\n1,2,a\n3,4,b\n5,6,a\n"


def test_json_upload(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.post(
        "/v1/datasets",
        json={"name": "j", "columns": {"x": [1, 2.5, 3], "y": ["p", "q", "p"]}},
        headers=api.a,
    )
    assert r.status_code == 201, r.text
    assert r.json()["columns"][0]["max"] == 3.0
    assert r.json()["columns"][1]["dtype"] == "string"


def test_list_pages_with_cursor(api) -> None:  # type: ignore[no-untyped-def]
    ids = [upload(api, CSV + f"{i},0,a\n".encode(), name=f"d{i}").json()["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/datasets", params=params, headers=api.a).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_get_and_delete(api) -> None:  # type: ignore[no-untyped-def]
    dataset_id = upload(api, CSV).json()["id"]
    assert api.client.get(f"/v1/datasets/{dataset_id}", headers=api.a).json()["id"] == dataset_id
    assert api.client.delete(f"/v1/datasets/{dataset_id}", headers=api.a).status_code == 204
    assert api.client.get(f"/v1/datasets/{dataset_id}", headers=api.a).status_code == 404


def test_builtins(api) -> None:  # type: ignore[no-untyped-def]
    r = api.client.get("/v1/builtin-datasets", headers=api.a)
    assert r.status_code == 200
    items = {item["id"]: item for item in r.json()["items"]}
    assert set(items) == {
        "builtin:movies",
        "builtin:three-blobs",
        "builtin:linear-noise",
        "builtin:sine",
        "builtin:iris",
    }
    assert items["builtin:three-blobs"]["n_rows"] == 3000
    assert items["builtin:movies"]["features"] == ["num_want_to_see"]
    csv = api.client.get("/v1/datasets/builtin:movies/data.csv", headers=api.a).text
    assert csv.splitlines()[1].endswith("8759,487")


def test_idempotent_upload(api) -> None:  # type: ignore[no-untyped-def]
    first = upload(api, CSV, headers={"Idempotency-Key": "k1"})
    again = upload(api, CSV, headers={"Idempotency-Key": "k1"})
    other = upload(api, CSV + b"7,8,b\n", headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"]
