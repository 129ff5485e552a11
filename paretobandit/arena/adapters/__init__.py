"""Policy plug-ins wrapping bandit libraries (imported lazily: each library is optional)."""
