"""The Bolt app: construction, global middleware, and handler registration.

:func:`build_app` takes its WebClient from the caller instead of a token so that

* no network call happens at construction (``App(token=...)`` would call ``auth.test``
  on slack.com in its constructor; here ``auth.test`` happens lazily on the first
  request, against whatever base URL the client has),
* tests and the benchmark inject a client pointed at the fake Slack API, and
* every call, including Bolt's per-request client copies, shares the retry handlers of
  :func:`bot.delivery.web_client` (429 ``Retry-After`` handling).

:func:`app_from_env` is what ``pulse serve`` uses: tokens and the signing secret from the
environment, failing at start with the missing variable's name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot import actions, commands, home, notes, overrides, preferences, trials
from bot.context import BotContext
from bot.delivery import web_client
from bot.guard import RefusalLog
from bot.users import UserDirectory
from bot.workload import BoundedLazyRunner, WorkPool, busy_answer, pool_size, watching
from connectors.stripe_billing import StripeTrials
from pulse.kernel.clock import utcnow
from pulse.kernel.config import PulseConfig
from pulse.services.trials import TrialBilling

log = logging.getLogger("pulse.bot")

ACK_WORKERS = 32
"""Acks and slow work get separate thread pools: with one shared pool (Bolt's default) a
burst of slow lookups would queue the acks behind them and miss Slack's 3 seconds. Slow
work runs on :class:`bot.workload.WorkPool` (``slack.work_threads``, ``slack.work_queue``):
bounded, and a request that does not fit is answered "busy" in its ack."""

REGISTERED_COMMANDS = (commands.COMMAND,)
REGISTERED_EVENTS = (home.EVENT,)
REGISTERED_ACTIONS = (
    actions.ACTION_IDS + trials.ACTION_IDS + overrides.ACTION_IDS + notes.ACTION_IDS
    + preferences.ACTION_IDS
)


class MissingSetting(RuntimeError):
    """A required environment variable is not set."""


class SlackApp(App):
    """Bolt's app, plus what :class:`bot.guard.SlackGuard` checks before Bolt sees a
    request (the signing secret, ``slack.max_request_bytes``, the database where seen
    requests are remembered), and the bounded pool its lazy listeners run on."""

    def __init__(self, *, signing_secret: str, max_request_bytes: int, database_url: str,
                 work: WorkPool, **kwargs: Any) -> None:
        super().__init__(signing_secret=signing_secret, **kwargs)
        self.signing_secret = signing_secret
        self.max_request_bytes = max_request_bytes
        self.database_url = database_url
        self.work = work
        self.listener_runner.lazy_listener_runner = BoundedLazyRunner(self.logger, work)
        self.busy_log = RefusalLog(log)

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Bolt's dispatch; when the request's slow work did not fit in the pool, the
        busy answer instead of its ack (:func:`bot.workload.busy_answer`)."""
        with watching() as watch:
            response = super().dispatch(req)
        return busy_answer(req, response, self.busy_log) if watch.refused else response


def require_env(name: str) -> str:
    """The variable's value; MissingSetting naming it when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingSetting(f"{name} is not set (see docs/configuration.md)")
    return value


def skip_slack_retries(
    req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Ack and drop Slack's retries (``X-Slack-Retry-Num``).

    (``next`` shadows the builtin because Bolt injects middleware arguments by name.)

    Slack retries an event when it did not see our ack in time. Every handler here acks
    at once and does the work in the background, so a retry means the first delivery is
    already being processed: handling it again would post or change things twice.
    Runs after Bolt's signature check, so a forged "retry" is still a 401.
    """
    retry = req.headers.get("x-slack-retry-num")
    if retry:
        reason = (req.headers.get("x-slack-retry-reason") or ["?"])[0]
        log.info("ignoring Slack retry #%s (%s)", retry[0], reason)
        return BoltResponse(status=200, body="")
    return next()


def build_app(
    config: PulseConfig,
    database_url: str,
    client: WebClient,
    signing_secret: str,
    *,
    clock: Callable[[], datetime] = utcnow,
    users: UserDirectory | None = None,
    billing: TrialBilling | None = None,
) -> SlackApp:
    """The Pulse Slack app, ready to serve over HTTP or Socket Mode.

    ``clock`` gives handlers their ``now`` (naive UTC); tests freeze it on the sample
    workspace's last day. ``billing`` moves trial ends (Stripe from the environment by
    default).
    """
    app = SlackApp(
        # Bolt sets the level of the logger named like the app from the root logger's on
        # every request; not "pulse", whose level would then silence pulse.* INFO lines
        name="pulse-bolt",
        client=client,
        signing_secret=signing_secret,
        max_request_bytes=config.slack.max_request_bytes,
        database_url=database_url,
        work=WorkPool(*pool_size(config.slack)),
        process_before_response=False,
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=ACK_WORKERS, thread_name_prefix="ack"),
    )
    app.use(skip_slack_retries)
    ctx = BotContext(
        config=config,
        database_url=database_url,
        users=users or UserDirectory(client),
        clock=clock,
        billing=billing or StripeTrials(),
    )
    commands.register(app, ctx)
    actions.register(app, ctx)
    trials.register(app, ctx)
    overrides.register(app, ctx)
    notes.register(app, ctx)
    preferences.register(app, ctx)
    home.register(app, ctx)
    return app


def app_from_env(config: PulseConfig, *, socket_mode: bool = False) -> SlackApp:
    """``pulse serve``'s app: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (HTTP mode) and
    SLACK_API_URL from the environment. Socket Mode authenticates with the app-level
    token instead of request signatures, so the signing secret is optional there."""
    token = require_env("SLACK_BOT_TOKEN")
    secret = (
        os.environ.get("SLACK_SIGNING_SECRET", "")
        if socket_mode
        else require_env("SLACK_SIGNING_SECRET")
    )
    return build_app(config, config.database_url, web_client(token), secret)
