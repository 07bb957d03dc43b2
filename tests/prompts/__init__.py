"""Tests for prompts/."""
