"""/api/v1: the host product's REST API (JSON, API keys, RFC 9457 problem+json errors).

A thin shell over the same services as the console and the CLI: one router per resource
(members, teams, properties, mappings, events, audit, sync_runs), each handler opening
its own transaction scoped by the key's account (deps.py); the OpenAPI document is
served at /api/v1/openapi.json (problems.py tells it the truth about errors).
"""
