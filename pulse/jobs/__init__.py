"""Jobs: the daily pipeline, its scheduler and live rescoring.

They orchestrate services; what Slack should receive is handed to a delivery passed in
from above (``bot.delivery``), so no job talks to Slack itself.
"""
