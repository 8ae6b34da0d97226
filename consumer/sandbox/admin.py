"""The sandbox's admin API under ``/_sandbox/``: the server's side and an httpx client.

Tests and the demo use it to register ad accounts, read what the sandbox accepted and
switch faults on and off, over the same HTTP a sender uses.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

import httpx

from consumer.sandbox.state import FaultRule, SandboxState

_AD_ACCOUNT_ID = re.compile(r"^\d{1,18}$")
_EFFECTS = ("status", "delay_seconds", "reset_connection", "fail_event_ids")
_RULE_FIELDS = {
    "ad_account_id", "count", "ratio", "status", "retry_after", "delay_seconds",
    "reset_connection", "fail_event_ids", "refuse_token", "seed",
}  # fmt: skip


def _number(value: Any, name: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high or 'infinity'}")
    return float(value)


def parse_fault_rule(obj: Any) -> FaultRule:
    """Build a fault rule from the admin API's JSON, or raise ValueError saying why."""
    if not isinstance(obj, dict):
        raise ValueError("a fault rule must be a JSON object")
    unknown = sorted(set(obj) - _RULE_FIELDS)
    if unknown:
        raise ValueError(f"unknown fault rule fields: {', '.join(unknown)}")
    if not any(obj.get(k) for k in (*_EFFECTS, "refuse_token")):
        effects = ", ".join((*_EFFECTS, "refuse_token"))
        raise ValueError(f"a fault rule needs at least one effect: {effects}")
    rule = FaultRule(seed=int(_number(obj.get("seed", 0), "seed", 0)))
    if obj.get("ad_account_id") is not None:
        rule.ad_account_id = str(obj["ad_account_id"])
    if obj.get("count") is not None:
        rule.count = int(_number(obj["count"], "count", 1))
    if obj.get("ratio") is not None:
        rule.ratio = _number(obj["ratio"], "ratio", 0, 1)
    if obj.get("status") is not None:
        rule.status = int(_number(obj["status"], "status", 400, 599))
    if obj.get("retry_after") is not None:
        if rule.status is None and obj.get("refuse_token") is None:
            raise ValueError("retry_after needs a status or refuse_token to go with")
        rule.retry_after = _number(obj["retry_after"], "retry_after", 0)
    if obj.get("delay_seconds") is not None:
        rule.delay_seconds = _number(obj["delay_seconds"], "delay_seconds", 0)
    rule.reset_connection = bool(obj.get("reset_connection"))
    ids = obj.get("fail_event_ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("fail_event_ids must be a list of strings")
        rule.fail_event_ids = frozenset(ids)
    if obj.get("refuse_token") is not None:
        rule.refuse_token = str(obj["refuse_token"])
    return rule


def handle_admin(
    state: SandboxState, method: str, path: str, query: str, raw: bytes
) -> tuple[int, dict[str, Any]]:
    """Answer one admin request: ``(HTTP status, JSON body)``."""
    route = (method, path.rstrip("/"))
    try:
        body: Any = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return 400, {"code": 400, "message": "body is not valid JSON"}
    if route == ("GET", "/_sandbox/events"):
        wanted = parse_qs(query).get("ad_account_id", [""])[-1]
        if not wanted:
            return 400, {"code": 400, "message": "ad_account_id query parameter needed"}
        return 200, {"events": state.events(wanted)}
    if route == ("GET", "/_sandbox/counts"):
        return 200, {"counts": state.counts()}
    if route == ("POST", "/_sandbox/reset"):
        state.reset()
        return 200, {"ok": True}
    if route == ("POST", "/_sandbox/accounts"):
        ad_account_id = body.get("ad_account_id") if isinstance(body, dict) else None
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(ad_account_id, str) or not _AD_ACCOUNT_ID.match(
            ad_account_id
        ):
            return 400, {"code": 400, "message": "ad_account_id must be 1 to 18 digits"}
        if not isinstance(token, str) or not token:
            return 400, {"code": 400, "message": "token must be a non-empty string"}
        state.add_account(ad_account_id, token)
        return 200, {"ok": True}
    if route == ("GET", "/_sandbox/faults"):
        return 200, {"faults": state.faults()}
    if route == ("POST", "/_sandbox/faults"):
        try:
            rule = parse_fault_rule(body)
        except ValueError as exc:
            return 400, {"code": 400, "message": str(exc)}
        state.add_fault(rule)
        return 200, {"ok": True, "fault": rule.to_json()}
    if route == ("DELETE", "/_sandbox/faults"):
        state.clear_faults()
        return 200, {"ok": True}
    return 404, {"code": 404, "message": f"no admin route {method} {path}"}


class SandboxClient:
    """Synchronous client for the sandbox's admin API (tests and the demo use it)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        root = base_url.rstrip("/")
        root = root.removesuffix("/v5")
        self._http = httpx.Client(base_url=f"{root}/_sandbox", timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def events(self, ad_account_id: str) -> list[dict[str, Any]]:
        """Events the sandbox accepted for ``ad_account_id``, in arrival order."""
        events: list[dict[str, Any]] = self._call(
            "GET", "/events", params={"ad_account_id": ad_account_id}
        )["events"]
        return events

    def counts(self) -> dict[str, Any]:
        """Counters per ad account id (requests, accepted/failed events, rejections)."""
        counts: dict[str, Any] = self._call("GET", "/counts")["counts"]
        return counts

    def reset(self) -> None:
        """Clear events, counters and faults; registered accounts stay."""
        self._call("POST", "/reset")

    def add_account(self, ad_account_id: str, token: str) -> None:
        self._call(
            "POST", "/accounts", json={"ad_account_id": ad_account_id, "token": token}
        )

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """Add a fault rule (see the admin API's rule fields); returns it as stored."""
        fault: dict[str, Any] = self._call("POST", "/faults", json=rule)["fault"]
        return fault

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return faults

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
