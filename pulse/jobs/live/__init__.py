"""Live rescoring: signed webhooks in, the affected accounts rescored within seconds.

``pulse serve`` accepts webhooks from Stripe, Zendesk, HubSpot and Salesforce
(``bot/webhooks.py`` routes ``POST /webhooks/<source>``). The path of one event:

1. :mod:`pulse.jobs.live.signatures` checks the request as its sender signs it (Stripe's
   ``Stripe-Signature``, Zendesk's and HubSpot's HMACs, Salesforce's organization id);
   anything unsigned, forged or replayed is refused and logged, nothing stored.
2. :mod:`pulse.jobs.live.events` splits the body into events with the sender's event id.
3. :mod:`pulse.jobs.live.inbox` inserts each event into ``webhook_events`` first; the unique
   ``(source, event_id)`` makes a duplicate delivery a no-op. The request is answered
   right away (senders retry slow deliveries).
4. :mod:`pulse.jobs.live.worker` wakes, waits a short coalescing window and processes every
   pending event in one go: :mod:`pulse.jobs.live.apply` loads the changed records the way a
   sync does and finds the Pulse accounts they belong to, :mod:`pulse.jobs.live.rescore`
   scores the workspace in memory, persists the affected accounts' snapshots only, raises
   or resolves their alerts (cards posted or updated) and writes their CRM fields.

See docs/live.md.
"""
