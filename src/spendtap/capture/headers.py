"""HTTP header names the capture step reads, defined once."""

#: Request headers the context step needs; no other header leaves the capture step.
CONTEXT_HEADERS = (
    "user-agent",
    "x-app",
    "x-claude-code-session-id",
    "x-stainless-lang",
    "x-stainless-package-version",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "originator",
    "x-cursor-client-version",
    "version",
    "session_id",
    "api-key",
    "cookie",
)

#: Response headers that carry the provider's request id, in order of preference.
REQUEST_ID_HEADERS = (
    "request-id",
    "x-request-id",
    "x-amzn-requestid",
    "apim-request-id",
)
