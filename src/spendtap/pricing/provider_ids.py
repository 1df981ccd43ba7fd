"""Our provider names (OpenTelemetry ``gen_ai.provider.name``) to genai-prices ids.

This is the one table that joins the two vocabularies. genai-prices can guess a
provider from a model name, but a guess prices a Claude call on Bedrock at Anthropic's
rates, so the pricer always passes the id from here and treats a name missing from the
table as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

GENAI_PROVIDER_IDS: Mapping[str, str] = MappingProxyType(
    {
        "anthropic": "anthropic",
        "openai": "openai",
        "azure.ai.openai": "azure",
        "azure.ai.inference": "azure",
        "gcp.vertex_ai": "google",
        "gcp.gemini": "google",
        "gcp.gen_ai": "google",
        "aws.bedrock": "aws",
        "openrouter": "openrouter",
        "mistral_ai": "mistral",
        "groq": "groq",
        "deepseek": "deepseek",
        "x_ai": "x-ai",
        "perplexity": "perplexity",
        "cohere": "cohere",
        "fireworks": "fireworks",
        "fireworks_ai": "fireworks",
        "together": "together",
        "together_ai": "together",
        "cerebras": "cerebras",
    }
)


def genai_provider_id(provider: str) -> str | None:
    """The genai-prices provider id for one of our provider names, or None."""
    return GENAI_PROVIDER_IDS.get(provider.strip().lower())
