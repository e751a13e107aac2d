"""The publishing sandbox: a local server that speaks the Instagram (Instagram Login) and Threads OAuth and
publishing protocols, errors included, and shows what it received. `make run` starts it when no real platform app
is configured (wiring.py); the tests use the same server as their platform double (server.py)."""
