"""The API token the tests' apps and stacks are configured with, to read transcripts back."""

API_TOKEN = "test-api-token-0123456789"
AUTHORIZATION = {"Authorization": f"Bearer {API_TOKEN}"}
