"""Wire-format parsers, one module per format, found through the route registry.

A parser is pure: it is handed the request (``RequestInfo``), the response head and
then the decoded response body in whatever pieces the network delivered, and returns a
``ParsedCall``. It never performs I/O and never needs the whole body at once.
"""
