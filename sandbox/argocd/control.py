"""The ``/_sandbox`` control API: scenarios and faults for tests and the demo (loopback only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request

from sandbox.argocd.model import CRASH_LOOP, DEFAULT_CRASH_LOG, IMAGE_PULL, BadImage, Scenarios
from sandbox.argocd.state import ArgoState

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


def loopback_state(request: Request) -> ArgoState:
    if request.client is not None and request.client.host not in LOOPBACK:
        raise HTTPException(403, "the sandbox control API answers loopback callers only")
    state: ArgoState = request.app.state.argo
    return state


State = Annotated[ArgoState, Depends(loopback_state)]
Payload = Annotated[dict[str, Any], Body()]
router = APIRouter(prefix="/_sandbox")


def scenarios_json(state: ArgoState) -> dict[str, Any]:
    sc = state.scenarios
    return {
        "badImages": [asdict(b) for b in sc.bad_images],
        "outage": sc.outage,
        "latencySeconds": sc.latency_seconds,
        "slowSyncSeconds": sc.slow_sync_seconds,
        "staleStatus": sc.stale_status,
        "applyFailures": dict(sc.apply_failures),
        "progressingSeconds": state.progressing_seconds,
        "pollIntervalSeconds": state.poll_interval,
    }


@router.get("/scenarios")
def get_scenarios(state: State) -> dict[str, Any]:
    return scenarios_json(state)


@router.post("/bad-images")
def mark_image_bad(state: State, body: Payload) -> dict[str, Any]:
    """``{"image": "ghcr.io/o/web:*", "reason": "CrashLoopBackOff", "logLines": [...]}``."""
    reason = body.get("reason", CRASH_LOOP)
    if reason not in (CRASH_LOOP, IMAGE_PULL) or not body.get("image"):
        raise HTTPException(422, f"need an image glob and a reason of {CRASH_LOOP}/{IMAGE_PULL}")
    lines = tuple(str(line) for line in body.get("logLines") or DEFAULT_CRASH_LOG)
    with state.lock:
        state.scenarios.bad_images.append(BadImage(str(body["image"]), reason, lines))
    state.wake()
    return scenarios_json(state)


@router.delete("/bad-images")
def clear_bad_images(state: State) -> dict[str, Any]:
    with state.lock:
        state.scenarios.bad_images.clear()
    state.wake()
    return scenarios_json(state)


@router.post("/outage")
def set_outage(state: State, body: Payload) -> dict[str, Any]:
    """``{"mode": "503"}`` answers every /api call with 503; ``"drop"`` closes the connection."""
    mode = body.get("mode")
    if mode not in (None, "503", "drop"):
        raise HTTPException(422, 'mode must be "503", "drop" or null')
    state.scenarios.outage = mode
    return scenarios_json(state)


@router.post("/latency")
def set_latency(state: State, body: Payload) -> dict[str, Any]:
    state.scenarios.latency_seconds = max(0.0, float(body.get("seconds", 0)))
    return scenarios_json(state)


@router.post("/slow-sync")
def set_slow_sync(state: State, body: Payload) -> dict[str, Any]:
    state.scenarios.slow_sync_seconds = max(0.0, float(body.get("seconds", 0)))
    return scenarios_json(state)


@router.post("/stale-status")
def set_stale_status(state: State, body: Payload) -> dict[str, Any]:
    """While on, the controller stops reconciling: reconciledAt falls behind operations."""
    state.scenarios.stale_status = bool(body.get("enabled", True))
    state.wake()
    return scenarios_json(state)


@router.post("/apply-failures")
def add_apply_failure(state: State, body: Payload) -> dict[str, Any]:
    """``{"resource": "Deployment/web*", "message": "..."}``: syncs of it fail to apply."""
    message = str(body.get("message") or "admission webhook denied the request")
    state.scenarios.apply_failures[str(body["resource"])] = message
    return scenarios_json(state)


@router.delete("/apply-failures")
def clear_apply_failures(state: State) -> dict[str, Any]:
    state.scenarios.apply_failures.clear()
    return scenarios_json(state)


@router.post("/progressing")
def set_progressing(state: State, body: Payload) -> dict[str, Any]:
    state.progressing_seconds = max(0.0, float(body.get("seconds", 0)))
    state.wake()
    return scenarios_json(state)


@router.post("/poll")
def poll_now(state: State) -> dict[str, Any]:
    state.poll_now()
    return {"applications": sorted(state.records), "repoError": state.repo_error}


@router.get("/requests")
def request_log(state: State) -> list[dict[str, Any]]:
    return [asdict(r) for r in list(state.requests)]


@router.delete("/requests")
def clear_request_log(state: State) -> dict[str, Any]:
    state.requests.clear()
    return {}


@router.post("/reset")
def reset(state: State) -> dict[str, Any]:
    with state.lock:
        state.scenarios = Scenarios()
    state.wake()
    return scenarios_json(state)
