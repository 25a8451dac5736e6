"""How long a test waits for a process it started (`scimgate serve`, nginx) to answer.

`make test` runs two pytest-xdist workers on a 2-core machine, each starting servers
(some with two workers of their own) and CLI processes: a server importing the app and
migrating can take far longer than when the suite ran alone. These are deadlines, not
sleeps: the wait ends as soon as the server answers, so a long one costs nothing when
things work, and only a server that never comes up takes the whole of it.
"""

STARTUP_SECONDS = 120.0
