"""Typed functions agents can call. The tool layer arrives with the specialist agents."""
