"""The context only the laptop knows: device, process, agent, git, ticket, identity.

``ContextResolver`` (in ``resolver``) ties the small modules together for the
collector. Every lookup here runs off the proxy's event loop, is quick, and never
raises on odd input: what cannot be found is ``None``. No credential is ever
returned, stored or logged; ``device.credential_hint`` gives a salted hash prefix.
"""
