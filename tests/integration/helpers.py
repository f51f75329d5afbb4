"""Small helpers for driving the API in integration tests."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

FINAL = {"succeeded", "failed", "cancelled"}


def upload(client: TestClient, headers: dict[str, str], content: bytes, filename: str = "data.csv") -> dict[str, Any]:
    response = client.post("/api/datasets", headers=headers, files={"file": (filename, content, "text/csv")})
    assert response.status_code == 201, response.text
    return response.json()


def create_config(client: TestClient, headers: dict[str, str], steps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    response = client.post("/api/configs", headers=headers, json={"name": name, "steps": steps})
    assert response.status_code == 201, response.text
    return response.json()


def submit(client: TestClient, headers: dict[str, str], dataset_id: int, config_id: int) -> dict[str, Any]:
    response = client.post("/api/jobs", headers=headers, json={"dataset_id": dataset_id, "config_id": config_id})
    assert response.status_code == 202, response.text
    return response.json()


def download_made(client: TestClient, url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """GET a job's download, asking again while it answers 202 (a file made on request being made)."""
    deadline = time.monotonic() + timeout
    while (response := client.get(url, headers=headers)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.3)
    return response


def wait_for_job(client: TestClient, headers: dict[str, str], job_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


def wait_for_profile(client: TestClient, headers: dict[str, str], dataset_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dataset = client.get(f"/api/datasets/{dataset_id}", headers=headers).json()
        if dataset["profile_status"] != "pending":
            return dataset
        time.sleep(0.2)
    raise AssertionError(f"dataset {dataset_id} still not profiled after {timeout} s")
