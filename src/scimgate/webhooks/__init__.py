"""Webhooks: signed, ordered deliveries of the event outbox to the host product."""
