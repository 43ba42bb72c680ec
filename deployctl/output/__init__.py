"""Formatters: compiled plans and runs as text, markdown, JSON, DOT and Mermaid."""
