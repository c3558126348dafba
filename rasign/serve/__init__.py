"""The local credential endpoints behind ``rasign serve``.

* :mod:`rasign.serve.tokens` -- stateless IMDSv2 session tokens (HMAC with a per-process
  key, expiry inside the token: nothing a client can fill or evict).
* :mod:`rasign.serve.view` -- the credentials currently on offer, pre-rendered per refresh
  so a GET costs no JSON encoding and never waits on the network.
* :mod:`rasign.serve.http11` -- strict HTTP/1.1 request parsing (no smuggling forms).
* :mod:`rasign.serve.handler` -- routing: Host check, IMDSv2, ECS container credentials, health.
* :mod:`rasign.serve.loop` -- one selectors event loop for every connection, with a
  connection cap and idle/header timeouts.
* :mod:`rasign.serve.listeners` -- TCP (IPv4/IPv6) and unix-socket listeners, hop limit,
  SO_PEERCRED, the Host names each listener answers to.
* :mod:`rasign.serve.notify` -- systemd readiness notification.

Refreshing is not done here: :class:`rasign.refresh.Refresher` owns it.
"""
