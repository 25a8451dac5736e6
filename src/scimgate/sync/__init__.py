"""Synchronize: staging into members, Property values and teams; the daily schedule."""
