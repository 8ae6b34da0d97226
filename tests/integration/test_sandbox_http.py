"""Real-HTTP tests of the Pinterest sandbox on loopback: Pinterest's answers and faults.

Every test talks to a ``Sandbox(port=0)`` over actual sockets with httpx, the way a
sender and the admin client do; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumer.sandbox import Sandbox, SandboxClient

ACCOUNT, TOKEN = "549755885175", "pina_test_token_one"
OTHER_ACCOUNT, OTHER_TOKEN = "549755885176", "pina_test_token_two"
EMAIL_HASH = hashlib.sha256(b"jane.doe@example.com").hexdigest()
REPO_ROOT = Path(__file__).resolve().parents[2]


def _event(event_id: str, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": int(time.time()),
        "event_id": event_id,
        "user_data": {"em": [EMAIL_HASH]},
        "custom_data": {"currency": "USD", "value": "59.90", "order_id": "1001"},
    }
    event.update(overrides)
    return event


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    accounts = {ACCOUNT: TOKEN, OTHER_ACCOUNT: OTHER_TOKEN}
    with Sandbox(port=0, accounts=accounts, log_requests=False) as running:
        yield running


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[SandboxClient]:
    with SandboxClient(sandbox.url) as client:
        yield client


def _send(
    api: httpx.Client, *events: dict[str, Any], account: str = ACCOUNT, **kw: Any
) -> httpx.Response:
    return api.post(f"/ad_accounts/{account}/events", json={"data": list(events)}, **kw)


def test_url_is_the_v5_base_on_loopback(sandbox: Sandbox) -> None:
    """The sandbox's URL is the loopback /v5 base with the port it bound."""
    assert sandbox.url == f"http://127.0.0.1:{sandbox.port}/v5"
    assert sandbox.port > 0


def test_valid_batch_gets_200_with_one_entry_per_event(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A valid batch gets Pinterest's 200 body and is recorded in arrival order."""
    response = _send(api, _event("a"), _event("b"))
    assert response.status_code == 200
    processed = {"status": "processed", "error_message": "", "warning_message": ""}
    assert response.json() == {
        "num_events_received": 2,
        "num_events_processed": 2,
        "events": [processed, processed],
    }
    assert [e["event_id"] for e in admin.events(ACCOUNT)] == ["a", "b"]


@pytest.mark.parametrize("authorization", [None, "Bearer pina_unknown", "Basic abc"])
def test_missing_or_unknown_token_gets_401(
    sandbox: Sandbox, authorization: str | None
) -> None:
    """No token, an unknown token or a non-bearer scheme gets Pinterest's 401 body."""
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(
        f"{sandbox.url}/ad_accounts/{ACCOUNT}/events",
        json={"data": [_event("a")]},
        headers=headers,
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": 2,
        "message": "Authentication failed.",
        "status": "failure",
    }


def test_token_of_another_account_gets_403(api: httpx.Client) -> None:
    """A known token used on an ad account it is not registered for gets 403."""
    response = _send(api, _event("a"), account=OTHER_ACCOUNT)
    assert response.status_code == 403
    assert response.json() == {
        "code": 29,
        "message": "You are not permitted to access that resource.",
    }


@pytest.mark.parametrize("account", ["act_123", "1234567890123456789"])
def test_malformed_ad_account_id_gets_404(api: httpx.Client, account: str) -> None:
    """An ad account id that is not 1 to 18 digits gets 404 with an Error body."""
    response = _send(api, _event("a"), account=account)
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}


def test_unknown_custom_data_key_gets_400_naming_it(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """An unknown custom_data key gets code 4196 and a message naming the key."""
    response = _send(api, _event("a", custom_data={"category_name": "shoes"}))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 4196
    assert body["message"].startswith(
        "Invalid request: Additional properties are not allowed "
        "('category_name' was unexpected)"
    )
    assert admin.events(ACCOUNT) == []


def test_non_json_body_gets_400(api: httpx.Client) -> None:
    """A body that is not JSON gets 400."""
    response = api.post(f"/ad_accounts/{ACCOUNT}/events", content=b"data=1")
    assert response.status_code == 400
    assert response.json()["code"] == 4196


def test_stale_event_gets_422_details_while_good_one_is_recorded(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A stale event fails in a 422 with per-event details; the fresh one is kept."""
    stale_time = int(time.time()) - 8 * 86400
    response = _send(api, _event("fresh"), _event("stale", event_time=stale_time))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == 953
    assert body["message"] == (
        "The action could not be processed properly due to some or all data "
        "provided being invalid."
    )
    details = body["details"]
    assert details["num_events_received"] == 2
    assert details["num_events_processed"] == 1
    assert details["events"][0]["status"] == "processed"
    failed = details["events"][1]
    assert failed["status"] == "failed"
    assert failed["warning_message"] == ""
    assert failed["error_message"].startswith(
        "Invalid event_timestamp parameter. Given timestamp is in the past. "
    )
    assert failed["error_message"].endswith(f"Given event_timestamp: {stale_time}")
    assert [e["event_id"] for e in admin.events(ACCOUNT)] == ["fresh"]
    counts = admin.counts()[ACCOUNT]
    assert (counts["accepted_events"], counts["failed_events"]) == (1, 1)


def test_test_mode_answers_alike_but_records_nothing(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """``?test=true`` validates and answers as live, yet stores no event."""
    ok = _send(api, _event("a"), params={"test": "true"})
    bad = _send(api, _event("b", custom_data={"x": 1}), params={"test": "true"})
    assert ok.status_code == 200
    assert ok.json()["num_events_processed"] == 1
    assert bad.status_code == 400
    assert admin.events(ACCOUNT) == []
    counts = admin.counts()[ACCOUNT]
    assert counts["test_requests"] == 2
    assert counts["requests"] == counts["accepted_events"] == 0


def test_rate_limit_fault_sends_429_with_retry_after_then_recovers(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A counted 429 fault carries Pinterest's body and Retry-After, then expires."""
    admin.add_fault(status=429, retry_after=7, count=1)
    limited = _send(api, _event("a"))
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["code"] == 8
    assert _send(api, _event("a")).status_code == 200
    assert [e["event_id"] for e in admin.events(ACCOUNT)] == ["a"]
    assert admin.counts()[ACCOUNT]["rejected_requests"] == {"429": 1}


def test_ramped_down_fault_sends_503_with_pinterests_body(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A 503 fault answers with code 4197 until the faults are cleared."""
    admin.add_fault(status=503)
    for _ in range(2):
        response = _send(api, _event("a"))
        assert response.status_code == 503
        assert response.json()["code"] == 4197
    admin.clear_faults()
    assert _send(api, _event("a")).status_code == 200


def test_other_status_fault_sends_generic_error(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A 500 fault answers with a generic code-and-message body."""
    admin.add_fault(status=500, count=1)
    response = _send(api, _event("a"))
    assert response.status_code == 500
    assert set(response.json()) == {"code", "message"}


def test_fault_for_one_account_leaves_others_alone(
    sandbox: Sandbox, api: httpx.Client, admin: SandboxClient
) -> None:
    """A fault scoped to an ad account does not touch another account's requests."""
    admin.add_fault(ad_account_id=OTHER_ACCOUNT, status=503)
    assert _send(api, _event("a")).status_code == 200
    other = httpx.post(
        f"{sandbox.url}/ad_accounts/{OTHER_ACCOUNT}/events",
        json={"data": [_event("b")]},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert other.status_code == 503


def _ratio_run(seed: int) -> list[int]:
    with Sandbox(accounts={ACCOUNT: TOKEN}, log_requests=False) as sandbox:
        SandboxClient(sandbox.url).add_fault(status=429, ratio=0.5, seed=seed)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=sandbox.url, headers=headers) as api:
            return [_send(api, _event(f"e{i}")).status_code for i in range(40)]


def test_ratio_fault_hits_a_seeded_repeatable_share() -> None:
    """A ratio fault hits about that share of requests, the same ones every run."""
    first, second = _ratio_run(seed=3), _ratio_run(seed=3)
    assert first == second
    assert 10 <= first.count(429) <= 30
    assert set(first) == {200, 429}


def test_reset_connection_fault_raises_transport_error(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A reset_connection fault closes the socket unanswered; httpx raises."""
    admin.add_fault(reset_connection=True, count=1)
    with pytest.raises(httpx.TransportError):
        _send(api, _event("a"))
    assert _send(api, _event("a")).status_code == 200
    assert admin.counts()[ACCOUNT]["rejected_requests"] == {"reset": 1}


def test_delay_fault_answers_slowly_then_normally(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A delay-only fault answers normally after the delay and records the events."""
    admin.add_fault(delay_seconds=0.6, count=1)
    started = time.monotonic()
    response = _send(api, _event("a"))
    assert time.monotonic() - started >= 0.6
    assert response.status_code == 200
    assert len(admin.events(ACCOUNT)) == 1


def test_delay_fault_exceeding_client_timeout_times_out(
    sandbox: Sandbox, admin: SandboxClient
) -> None:
    """A delay longer than the client's read timeout surfaces as httpx.ReadTimeout."""
    admin.add_fault(delay_seconds=2, status=503, count=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{sandbox.url}/ad_accounts/{ACCOUNT}/events",
            json={"data": [_event("a")]},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=0.3,
        )


def test_fail_event_ids_fault_fails_those_events_in_a_422(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """Named events fail with the sandbox's message; the others are recorded."""
    admin.add_fault(fail_event_ids=["b"], count=1)
    response = _send(api, _event("a"), _event("b"), _event("c"))
    assert response.status_code == 422
    statuses = response.json()["details"]["events"]
    assert [s["status"] for s in statuses] == ["processed", "failed", "processed"]
    assert statuses[1]["error_message"] == "sandbox: event failed on request"
    assert _send(api, _event("b")).status_code == 200
    assert [e["event_id"] for e in admin.events(ACCOUNT)] == ["a", "c", "b"]


def test_refuse_token_fault_gets_401_only_while_it_holds(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """A refused token gets 401 until faults are cleared; other tokens are served."""
    admin.add_fault(refuse_token=TOKEN)
    assert admin.faults()[0]["refuse_token"] == "***"
    refused = _send(api, _event("a"))
    assert refused.status_code == 401
    assert refused.json()["code"] == 2
    other = _send(
        api,
        _event("b"),
        account=OTHER_ACCOUNT,
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert other.status_code == 200
    admin.clear_faults()
    assert _send(api, _event("a")).status_code == 200


def test_faulted_requests_are_not_recorded(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """Events of a request answered by a fault are not stored."""
    admin.add_fault(status=429, count=2)
    _send(api, _event("a"))
    _send(api, _event("b"))
    assert admin.events(ACCOUNT) == []
    assert admin.counts()[ACCOUNT]["requests"] == 2


def test_reset_clears_events_counts_and_faults_but_keeps_accounts(
    api: httpx.Client, admin: SandboxClient
) -> None:
    """After reset nothing is recorded or faulted, and the same token still works."""
    _send(api, _event("a"))
    admin.add_fault(status=503)
    admin.reset()
    assert admin.events(ACCOUNT) == []
    assert admin.counts() == {}
    assert admin.faults() == []
    assert _send(api, _event("b")).status_code == 200


def test_account_registered_through_admin_api_is_usable(
    sandbox: Sandbox, admin: SandboxClient
) -> None:
    """An ad account added over the admin API accepts events with its token."""
    admin.add_account("42", "pina_new")
    response = httpx.post(
        f"{sandbox.url}/ad_accounts/42/events",
        json={"data": [_event("a")]},
        headers={"Authorization": "Bearer pina_new"},
    )
    assert response.status_code == 200
    assert len(admin.events("42")) == 1


def test_admin_client_accepts_base_url_without_v5(
    sandbox: Sandbox, api: httpx.Client
) -> None:
    """SandboxClient works whether given the /v5 URL or the bare host URL."""
    _send(api, _event("a"))
    with SandboxClient(f"http://127.0.0.1:{sandbox.port}/") as bare:
        assert len(bare.events(ACCOUNT)) == 1


def test_invalid_fault_rule_is_refused(sandbox: Sandbox) -> None:
    """A fault rule with an unknown field or no effect gets a 400 from the admin API."""
    for rule in ({"status": 429, "colour": "red"}, {"count": 3}):
        response = httpx.post(f"{sandbox.url[:-3]}/_sandbox/faults", json=rule)
        assert response.status_code == 400


def test_stop_cuts_kept_alive_connections(api: httpx.Client, sandbox: Sandbox) -> None:
    """After stop() a pooled keep-alive connection is no longer answered."""
    assert _send(api, _event("a")).status_code == 200
    sandbox.stop()
    with pytest.raises(httpx.TransportError):
        _send(api, _event("b"))


def test_restart_after_stop_serves_on_the_same_url(sandbox: Sandbox) -> None:
    """stop() then start() brings the sandbox back on the port it had, with its data."""
    url = sandbox.url
    sandbox.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url[:-3]}/_sandbox/counts")
    sandbox.start()
    assert sandbox.url == url
    assert httpx.get(f"{url[:-3]}/_sandbox/counts").status_code == 200


def test_request_log_line_names_method_path_status_but_no_token(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Each request is logged as one short stderr line without token or body."""
    with Sandbox(accounts={ACCOUNT: TOKEN}) as sandbox:
        httpx.post(
            f"{sandbox.url}/ad_accounts/{ACCOUNT}/events",
            json={"data": [_event("a")]},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    err = capfd.readouterr().err
    assert err == f"sandbox: POST /v5/ad_accounts/{ACCOUNT}/events -> 200\n"


def test_run_sandbox_prints_url_and_accounts_then_stops_on_sigterm() -> None:
    """run_sandbox prints the URL and ad accounts (no token) and exits 0 on SIGTERM."""
    code = (
        "from consumer.sandbox import run_sandbox; "
        f"raise SystemExit(run_sandbox('127.0.0.1', 0, {{'{ACCOUNT}': '{TOKEN}'}}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://127.0.0.1:" in line
        assert "/v5" in line
        assert ACCOUNT in line
        assert TOKEN not in line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
