"""The live web dashboard: ``state`` (what the page shows, from events), ``feed`` (Kafka:
follow topics, lag, send orders and commands), ``server`` (Starlette + server-sent
events on 127.0.0.1), ``static/`` (the page; no asset comes from the internet)."""
