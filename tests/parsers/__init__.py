"""Tests for parsers/."""
