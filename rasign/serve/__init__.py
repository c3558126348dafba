"""The local credential endpoints behind ``rasign serve``.

* :mod:`rasign.serve.tokens` -- IMDSv2 session tokens (issue, expire, evict), stored hashed.
* :mod:`rasign.serve.view` -- the credentials currently on offer, pre-rendered per refresh
  so a GET costs no JSON encoding and never waits on the network.
* :mod:`rasign.serve.handler` -- HTTP routing: IMDSv2, ECS container credentials, health.
* :mod:`rasign.serve.listeners` -- TCP (IPv4/IPv6) and unix-socket listeners, hop limit,
  loopback policy.
* :mod:`rasign.serve.logs` -- stderr logging, plain or JSON, with secret redaction.
* :mod:`rasign.serve.notify` -- systemd readiness notification.

Refreshing is not done here: :class:`rasign.refresh.Refresher` owns it.
"""
