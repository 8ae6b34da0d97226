"""The command line as people use it: produce, run, replay, map, bad configuration."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from consumer import config
from consumer.kafka_admin import committed_offsets, end_offsets
from consumer.sandbox import SandboxClient
from consumer.service import Service

from .conftest import MAIN, VARIANTS, cli

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples" / "events.jsonl"


def _event_ids(client: SandboxClient, ad_account_id: str) -> Counter[str]:
    return Counter(e["event_id"] for e in client.events(ad_account_id))


def test_replay_to_earliest_delivers_the_same_events_again_with_the_same_ids(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """produce, run, replay --to-earliest --execute, run: every event arrives twice."""
    path = write_config()
    produced = cli("produce", "--config", str(path), "--generate", "120")
    assert produced.returncode == 0, produced.stderr
    first = cli("run", "--config", str(path), "--exit-when-idle")
    assert first.returncode == 0, first.stderr
    once = _event_ids(sandbox_client, MAIN["ad_account_id"])
    assert len(once) > 0 and set(once.values()) == {1}

    plan = cli("replay", "--config", str(path), "--to-earliest")
    assert plan.returncode == 0, plan.stderr
    assert "plan only" in plan.stdout
    assert _event_ids(sandbox_client, MAIN["ad_account_id"]) == once

    executed = cli("replay", "--config", str(path), "--to-earliest", "--execute")
    assert executed.returncode == 0, executed.stderr
    second = cli("run", "--config", str(path), "--exit-when-idle")
    assert second.returncode == 0, second.stderr

    twice = _event_ids(sandbox_client, MAIN["ad_account_id"])
    assert set(twice) == set(once)
    assert set(twice.values()) == {2}


def test_replay_refuses_to_reset_while_the_group_is_running(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """A reset with --execute is refused, with the reason, while a member runs."""
    path = write_config()
    settings = config.load(path)
    assert cli("produce", "--config", str(path), "--generate", "20").returncode == 0
    service = Service(settings)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not sandbox_client.events(MAIN["ad_account_id"]):
            assert time.monotonic() < deadline, "the service never delivered"
            time.sleep(0.2)
        refused = cli("replay", "--config", str(path), "--to-earliest", "--execute")
    finally:
        service.request_stop()
        runner.join(60)
    assert refused.returncode == 1
    assert "active members" in refused.stderr
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    assert all(committed[p] == end for p, end in ends.items() if end)


def test_replay_plan_shows_each_partition_with_current_and_new_offsets(
    write_config: Callable[..., Path],
) -> None:
    """--shift-by without --execute prints the plan and changes nothing."""
    path = write_config()
    assert cli("produce", "--config", str(path), "--generate", "30").returncode == 0
    assert cli("run", "--config", str(path), "--exit-when-idle").returncode == 0
    settings = config.load(path)
    kafka = settings.kafka
    before = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)

    plan = cli("replay", "--config", str(path), "--shift-by", "-5")
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    rows = [line.split() for line in lines if line[:9].strip().isdigit()]
    assert {int(r[0]) for r in rows} == set(before)
    for partition, current, new in rows:
        if current == "-":  # nothing committed: the partition got no events
            assert before[int(partition)] is None and int(new) == 0
            continue
        assert int(current) == before[int(partition)]
        assert int(new) == max(0, int(current) - 5)
    after = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    assert after == before


def test_produce_reports_invalid_lines_with_their_number_and_produces_the_rest(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Lines that are not events are named by line number; valid ones go out."""
    path = write_config()
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        "\n".join([lines[0], "{not json", lines[1], '{"eventName": "x"}', ""]) + "\n",
        encoding="utf-8",
    )
    result = cli("produce", "--config", str(path), str(mixed))
    assert result.returncode == 1
    assert f"{mixed}:2: not JSON" in result.stderr
    assert f"{mixed}:4: unknown key 'eventName'" in result.stderr
    assert "produced 2 events" in result.stderr
    kafka = config.load(path).kafka
    assert sum(end_offsets(kafka.bootstrap_servers, kafka.topic).values()) == 2


def test_run_logs_carry_no_token_and_no_raw_email(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """The service's log lines never hold an access token, raw email or phone."""
    path = write_config()
    assert cli("produce", "--config", str(path), str(SAMPLES)).returncode in (0, 1)
    sandbox_client.add_fault(status=401, count=2)  # credentials-refused lines too
    result = cli("run", "--config", str(path), "--exit-when-idle")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "batch delivered" in output
    for token in (MAIN["access_token"], VARIANTS["access_token"]):
        assert token not in output
    assert "@example.com" not in output.lower()
    for phone in ("123-4567", "7946 0000"):  # the samples' phone numbers
        assert phone not in output
    assert "credentials_refused" in output


def test_bad_configuration_stops_at_start_naming_key_value_and_choices(
    write_config: Callable[..., Path],
) -> None:
    """A bad value exits 2 naming the key, the value and what is allowed."""
    path = write_config()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"variant_id"', '"variant"'), encoding="utf-8")
    result = cli("run", "--config", str(path))
    assert result.returncode == 2
    assert "destinations.variants.content_id" in result.stderr
    assert "'variant'" in result.stderr
    assert "product_id, variant_id, sku" in result.stderr


def test_unset_environment_variable_in_configuration_is_named(
    write_config: Callable[..., Path],
) -> None:
    """A ${NAME} that is not set stops the command and names the variable."""
    path = write_config()
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('"pina_main"', '"${CONVERGE_TEST_UNSET_TOKEN}"'), encoding="utf-8"
    )
    result = cli("map", "--config", str(path), str(SAMPLES))
    assert result.returncode == 2
    assert "CONVERGE_TEST_UNSET_TOKEN is not set" in result.stderr


def test_map_prints_one_line_per_event_and_destination(
    write_config: Callable[..., Path],
) -> None:
    """map writes a send, rejected or skipped line per event and destination."""
    path = write_config()
    result = cli("map", "--config", str(path), str(SAMPLES))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    samples = len(SAMPLES.read_text(encoding="utf-8").splitlines())
    assert len(rows) == samples * 2
    for row in rows:
        assert row["destination"] in ("main", "variants")
        assert row["outcome"] in ("send", "rejected", "skipped")
        if row["outcome"] == "send":
            assert row["event"]["event_id"] == row["event_id"]
        else:
            assert row["reason"]


def test_produce_takes_an_event_with_nothing_but_its_name_and_properties(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """An event without aliases, event id or profile is produced (keyed by name)."""
    path = write_config()
    bare = tmp_path / "bare.jsonl"
    bare.write_text(
        '{"event_name": "Viewed Product", "properties": {"$ip": "203.0.113.9"}}\n',
        encoding="utf-8",
    )
    result = cli("produce", "--config", str(path), str(bare))
    assert result.returncode == 0, result.stderr
    kafka = config.load(path).kafka
    assert sum(end_offsets(kafka.bootstrap_servers, kafka.topic).values()) == 1
