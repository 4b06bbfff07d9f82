"""Issue 18: slow Slack work is bounded, and replays are refused across processes.

With ``slack.work_threads: 1`` and ``slack.work_queue: 0`` one ``/health`` held inside
the fake Slack (its ``users.info`` answer withheld) fills the pool; what comes next is
answered "busy" at once: a slash command in its ack, a button click on its
``response_url``, a modal submission as the error of its input. Two app instances on one
database stand for two ``pulse serve`` workers: an identical signed request sent to both
is answered once. Nothing here measures time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.harness import SECRET, BotHarness, load_sample_workspace, prepare_database
from fakes.harness import start_bot as start_harness
from slack_signing import SlackSender, block_actions_body, view_submission_payload

from bot.actions import PICK
from bot.workload import BUSY, pool_size
from digests.note_blocks import NOTE_INPUT, note_modal
from pulse.kernel.config import parse_config
from storage.db import get_engine

KENJI = "U0CSM0009"  # CSM who owns Northwind Analytics in the sample workspace
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def workspace(request: pytest.FixtureRequest,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("workload"))
    load_sample_workspace(url, parse_config({}))
    yield url
    if request.param == "sqlite":
        get_engine(url).dispose()


def _bot(url: str, threads: int, queue: int) -> BotHarness:
    return start_harness(url, parse_config({"slack": {"work_threads": threads,
                                                      "work_queue": queue}}))


def test_a_full_pool_answers_busy_at_once_instead_of_late(workspace: str) -> None:
    bot = _bot(workspace, threads=1, queue=0)
    slack = SlackSender(bot.events_url, SECRET)
    bot.fake.hold("users.info")  # the first /health waits inside Slack, holding the pool
    try:
        first = slack.command("Northwind", user_id=KENJI,
                              response_url=bot.fake.response_url("first"))
        assert (first.status_code, first.text) == (200, "")

        second = slack.command("Northwind", user_id=KENJI,
                               response_url=bot.fake.response_url("second"))
        assert second.status_code == 200
        assert second.json()["response_type"] == "ephemeral"
        assert second.json()["text"] == BUSY

        click = slack.action({"action_id": PICK, "type": "button", "value": "1"},
                             user_id=KENJI, response_url=bot.fake.response_url("click"))
        assert click.status_code == 200
        told = bot.wait_response("click").args
        assert told["text"] == BUSY and told["response_type"] == "ephemeral"
        assert told["replace_original"] is False  # the card clicked on stays as it was

        view = note_modal("Northwind Analytics", 1, "salesforce")
        typed: dict[str, Any] = {NOTE_INPUT[0]: {NOTE_INPUT[1]: {
            "type": "plain_text_input", "value": "Called the champion"}}}
        submitted = slack.post(
            block_actions_body(view_submission_payload(view, typed, user_id=KENJI)), FORM)
        assert submitted.json() == {"response_action": "errors",
                                    "errors": {NOTE_INPUT[0]: BUSY}}  # the modal stays open

        bot.fake.release("users.info")
        card = bot.wait_response("first").args
        assert "Northwind Analytics" in card["text"]  # the admitted request is answered
        assert bot.responses("second") == []  # and the refused one never is, late
    finally:
        bot.fake.release("users.info")
        bot.close()


def test_an_identical_request_sent_to_two_processes_is_answered_once(workspace: str) -> None:
    # One work thread each: a process's answers are posted in the order it admitted them.
    first, second = _bot(workspace, 1, 4), _bot(workspace, 1, 4)
    try:
        replayed: dict[str, Any] = dict(user_id=KENJI, timestamp=int(time.time()),
                                        response_url=first.fake.response_url("replay"))
        assert SlackSender(first.events_url, SECRET).command("help", **replayed).text == ""
        again = SlackSender(second.events_url, SECRET).command("help", **replayed)
        assert (again.status_code, again.text) == (200, "")
        # A later, different request to the second process: once it is answered, any
        # answer of that process to the replay would have been posted before it.
        SlackSender(second.events_url, SECRET).command(
            "help", user_id=KENJI, response_url=first.fake.response_url("later"))
        first.wait_response("later")
        first.wait_response("replay")
        assert len(first.responses("replay")) == 1
    finally:
        first.close()
        second.close()


def test_the_pool_defaults_follow_the_cores_and_the_config_wins() -> None:
    assert pool_size(parse_config({}).slack, cores=8) == (8, 32)
    assert pool_size(parse_config({}).slack, cores=1) == (2, 8)
    configured = parse_config({"slack": {"work_threads": 3, "work_queue": 0}}).slack
    assert pool_size(configured, cores=8) == (3, 0)
