"""Pulse in Slack: the Bolt app behind `pulse serve`.

* :mod:`bot.app` builds the app (``build_app``) and its global middleware;
* :mod:`bot.commands`, :mod:`bot.actions`, :mod:`bot.home` are thin handlers: parse the
  request, call a service from :mod:`pulse.services`, render with a builder from
  :mod:`digests`, respond;
* :mod:`bot.server` serves it (threaded WSGI over HTTP, or Socket Mode);
* :mod:`bot.users` maps Slack users to emails (cached ``users.info``).
"""
