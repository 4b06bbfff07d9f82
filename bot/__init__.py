"""Pulse in Slack: the Bolt app behind `pulse serve`.

* :mod:`bot.app` builds the app (``build_app``) and its global middleware;
* :mod:`bot.commands`, :mod:`bot.actions`, :mod:`bot.home`, :mod:`bot.overrides`,
  :mod:`bot.trials` are thin handlers: parse the request, call a service from
  :mod:`pulse.services`, render with a builder from :mod:`digests`, respond;
* :mod:`bot.delivery` is the one way out to Slack's Web API (the WebClient recipe, DMs,
  posts and updates checked against Slack's limits, uploads, views), for the handlers
  and, injected by the entry points, for the jobs;
* :mod:`bot.server` serves it (threaded WSGI over HTTP, or Socket Mode), behind
  :mod:`bot.guard` (size, signature, timestamp and replays checked on the raw bytes);
* :mod:`bot.workload` runs the slow part of requests on a bounded pool and answers
  "busy" at once when it is full;
* :mod:`bot.users` maps Slack users to emails (cached ``users.info``).
"""
