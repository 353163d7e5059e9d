"""The REST API (/api/v1/), split by sub-domain: one APIView per operation, nested Input/Output serializers, the
same selectors (permission checks) and services as the HTML views. URLs: annotation/api_urls.py. Docs: docs/api.md."""
