"""Running the playbooks: the services decide, this posts their Slack messages.

:func:`pulse.services.playbooks.due_now` yields each firing due now (cooldowns, the
per-CSM cap and deferrals applied); each action runs through
:func:`pulse.services.playbooks.act`, and the messages it returns for Slack actions are
posted here through the injected :class:`pulse.services.outbox.Delivery`, in the order
of the playbook's actions. Every firing is then recorded with its actions' outcomes.
"""

from __future__ import annotations

import time
from datetime import date, datetime

from sqlalchemy.orm import Session

from pulse.kernel.config import PlaybookAction, PulseConfig
from pulse.services import playbooks
from pulse.services.outbox import Delivery, DeliveryError, Message
from pulse.services.playbooks import Firing, Outcome, PlaybookReport, Sleep


def run_playbooks(session: Session, config: PulseConfig, delivery: Delivery | None,
                  now: datetime, today: date, *, sleep: Sleep = time.sleep) -> PlaybookReport:
    """Fire what is due, within cooldowns and caps; the caller commits."""
    report = PlaybookReport()
    for firing in playbooks.due_now(session, config, report, now, today):
        outcomes = [_act(session, config, delivery, firing, action, now, sleep)
                    for action in firing.actions]  # those not done within the cooldown
        playbooks.record_fired(session, report, firing, outcomes, now)
    session.flush()
    return report


def _act(session: Session, config: PulseConfig, delivery: Delivery | None, firing: Firing,
         action: PlaybookAction, now: datetime, sleep: Sleep) -> Outcome:
    done = playbooks.act(session, config, firing, action, now, sleep,
                         can_post=delivery is not None)
    if not isinstance(done, Message):
        return done
    assert delivery is not None
    try:
        posted = delivery.post(done)
    except DeliveryError as exc:
        return playbooks.failed(action, firing, RuntimeError(f"Slack: {exc.error}"))
    except Exception as exc:  # noqa: BLE001 - one action failing must not stop the others
        return playbooks.failed(action, firing, exc)
    if posted is None:
        return playbooks.failed(action, firing, RuntimeError("Slack: invalid_blocks"))
    return playbooks.outcome(action, "ok", f"posted to {done.destination}")
