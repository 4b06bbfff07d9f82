"""Stand-ins for external services, run as real local HTTP servers.

They are servers rather than mocks so the code under test uses its real HTTP clients
(slack_sdk's WebClient, Bolt's response_url client) end to end: retries, headers and
serialisation are exercised exactly as in production.
"""

from .slack_api import FakeSlack, RecordedCall

__all__ = ["FakeSlack", "RecordedCall"]
