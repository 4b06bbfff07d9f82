"""`/health` of an account scored by a learned model, through the HTTP harness: the card
lists each input's points, they add up to the score, it says how the model was learned,
and its "Why" gives the inputs' points."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from factories import CHURN_AS_OF, learned_model_document, load_churn_workspace
from fakes.harness import SECRET, TOKEN, BotHarness, prepare_database
from fakes.harness import start_bot as start_harness
from fakes.slack_api import FakeSlack
from slack_signing import SlackSender

from digests.limits import validate_message
from pulse.kernel.config import parse_config
from scoring.engine import run_scoring
from scoring.learn.live import LearnedModel
from storage.db import get_engine, session_scope

CONFIG = parse_config({"access": {"admins": ["admin@pulse-demo.example"]}})
ADMIN = "U0ADMIN001"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def bot(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotHarness]:
    url = prepare_database(request, request.param, tmp_path_factory.mktemp("learned_card"))
    with session_scope(url) as session:
        load_churn_workspace(session, accounts=40)
    model = LearnedModel.from_document(learned_model_document())
    with session_scope(url) as session:
        run_scoring(session, CONFIG, CHURN_AS_OF, model=model)
    fake = FakeSlack(token=TOKEN).start()
    fake.add_user(ADMIN, "admin@pulse-demo.example", "Ada Admin")
    harness = start_harness(url, CONFIG, fake=fake)
    yield harness
    harness.close()
    if request.param == "sqlite":
        get_engine(url).dispose()


def _text(payload: dict[str, Any]) -> str:
    return json.dumps(payload.get("blocks", []), ensure_ascii=False)


def test_the_card_of_a_learned_score_lists_input_points_that_add_up(bot: BotHarness) -> None:
    slack = SlackSender(bot.events_url, SECRET)
    slack.command("Account 7", user_id=ADMIN, response_url=bot.fake.response_url("learned"))
    answer = bot.wait_response("learned").args
    text = _text(answer)
    assert "Account 7" in answer["blocks"][0]["text"]["text"]
    assert ("learned score: learned from 40 churns between 2025-04-06 and 2025-05-25, "
            "held-out AUC 0.81") in text
    assert "`active_users`" in text and "`account_tenure_days`" in text
    lines = re.findall(r"`(\w+)` \*([\d.]+) pts\* of ([\d.]+)", text)
    assert {name for name, _, _ in lines} == {"active_users", "account_tenure_days"}
    total = re.search(r"\*Total ([\d.]+) pts = score ([\d.]+)\*", text)
    assert total is not None and total[1] == total[2]
    assert sum(float(p) for _, p, _ in lines) == pytest.approx(float(total[1]))
    where = next(b["text"]["text"] for b in answer["blocks"]
                 if b.get("text", {}).get("text", "").startswith("*Where the score comes from*"))
    assert "*Usage*" not in where and "*Contract*" not in where  # rules: kept, not counted
    why = next(b["text"]["text"] for b in answer["blocks"]
               if b.get("text", {}).get("text", "").startswith("*Why*"))
    bullets = why.split("\n")[1:]
    assert bullets  # the learned inputs' points, not the rules' flags and components
    for bullet in bullets:
        assert re.fullmatch(r"• (Active users|Tenure days): .+, [\d.]+ of (66\.7|33\.3) points"
                            r"( \(-[\d.]+\))?", bullet), bullet
    assert validate_message(answer) == []
